package lifecycle

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/cowfs"
	"github.com/sandlock/sandlock-runtime/internal/openat2"
	"github.com/sandlock/sandlock-runtime/spec"
)

// The copy-on-write workdir (docs/design.md, "The copy-on-write workdir"). create makes the
// layer (cowfs) and records it in <state>/cow.json before anything of it exists; create makes a
// detached copy of the mount tree with the overlay at the workdir's path (cowtree.go) and init
// makes it its root, in the host's mount namespace; destroy, which every way out runs (Handle.Wait,
// run, delete, delete --force after a crash), decides the layer's fate from the exit status
// recorded in <state>/exit (absent: unknown, an error) and the policy's on_exit / on_error.

// cowMount is the overlay of Upper over Lower, at Lower, in the workdir's view (cowtree.go).
type cowMount struct {
	Lower, Upper, Work string
	UserXattr          bool // unprivileged: in a user namespace, user.* xattrs
	// Tmpfs, when set, is where the tree's helper mounts the tmpfs of max_disk (TmpfsSize
	// bytes) before making Upper and Work on it: an unprivileged caller's, in its namespaces.
	Tmpfs     string `json:",omitempty"`
	TmpfsSize int64  `json:",omitempty"`
	// Storage is fs_storage (its real path), read-only in the sandbox's view.
	Storage string `json:",omitempty"`
	// LowerDev and LowerIno identify Lower (the layer's record): the overlay is made of that
	// directory and attached on it, or not at all (cowtree.go, openLower).
	LowerDev uint64 `json:",omitempty"`
	LowerIno uint64 `json:",omitempty"`
}

// cowRecord is <state>/cow.json.
type cowRecord struct {
	Layer string `json:"layer"`
	// Workdir is the policy's workdir, as the container sees it (a checkpoint names it).
	Workdir string `json:"workdir,omitempty"`
	// Pin is a bind mount of the workdir in the state dir (a container's, as root): the
	// directory stays reachable for the commit at delete even when the caller has unmounted
	// the container's rootfs by then (podman does, before it calls delete).
	Pin string `json:"pin,omitempty"`
}

const (
	cowFile  = "cow.json"
	exitFile = "exit"
)

// DefaultCOWStorage is where layers live without fs_storage: beside the runtime state, on
// disk, so that a kept layer survives the container (KEEP).
func DefaultCOWStorage() string {
	if os.Geteuid() == 0 {
		return "/var/lib/sandlock-runtime/cow"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "sandlock-runtime", "cow")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "sandlock-runtime", "cow")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("sandlock-cow-%d", os.Geteuid()))
}

// setupCOW makes the layer of the policy's workdir, if it has one.
func (cr *creation) setupCOW(o *Options, c CreateOpts) error {
	wd := cr.policy.WorkdirPath()
	if err := checkRestoreWorkdir(wd, c); err != nil || wd == "" {
		return err
	}
	lower, err := cowLower(cr.cont.State.Rootfs, wd)
	if err != nil {
		return &spec.PolicyError{Key: "workdir", Value: wd, Reason: err.Error()}
	}
	ms, err := readMountinfo() // for noMountBeneath and stableWorkdir
	if err != nil {
		return err
	}
	if err := noMountBeneath(lower, ms); err != nil {
		return &spec.PolicyError{Key: "workdir", Value: wd, Reason: err.Error()}
	}
	storage := cr.policy.FSStoragePath()
	if storage == "" {
		storage = DefaultCOWStorage()
	}
	if !filepath.IsAbs(storage) {
		return &spec.PolicyError{Key: "fs_storage", Value: storage, Reason: "must be an absolute path"}
	}
	stable := stableWorkdir(lower, cr.cont.State.Rootfs, ms)
	if real := realPrefix(storage); isBeneath(storage, lower) || isBeneath(lower, storage) || isBeneath(real, lower) || isBeneath(lower, real) ||
		isBeneath(storage, stable) || isBeneath(stable, storage) {
		reason := "must be outside the workdir " + lower + " (and not contain it)"
		if cr.policy.FSStoragePath() == "" { // the default: the caller never named it
			reason += "; this is fs_storage's default: set fs_storage to a directory outside the workdir"
		}
		return &spec.PolicyError{Key: "fs_storage", Value: storage, Reason: reason}
	}
	limit := int64(cr.policy.DiskLimit())
	unpriv := os.Geteuid() != 0
	// In a user namespace (a user's, or privileged's) overlayfs takes user.* xattrs only.
	userns := unpriv || cr.policy.IsPrivileged()
	if limit > 0 && unpriv && !c.Direct {
		return &spec.PolicyError{Key: "max_disk", Value: strconv.FormatInt(limit, 10),
			Reason: "needs root for a container: the layer's limit is a tmpfs, which a user can mount only in the sandbox's own namespaces, where only a runtime that stays in the foreground (sandbox, the Go API) can reach it"}
	}
	if limit > 0 && unpriv && c.restoreLayer != "" { // before anything is made
		return &spec.PolicyError{Key: "max_disk", Value: strconv.FormatInt(limit, 10), Reason: "a restore of a layer onto a user's max_disk tmpfs is not supported: restore as root, or without max_disk"}
	}
	if err := os.MkdirAll(storage, 0o700); err != nil {
		reason := err.Error()
		if cr.policy.FSStoragePath() == "" {
			reason += "; this is fs_storage's default: set fs_storage to a directory you can write"
		}
		return &spec.PolicyError{Key: "fs_storage", Value: storage, Reason: reason}
	}
	if err := cowfs.Recover(lower); err != nil {
		return fmt.Errorf("workdir %s: finishing an interrupted commit: %w", lower, err)
	}
	dir := filepath.Join(storage, c.ID)
	if _, err := os.Lstat(dir); err == nil {
		// A layer kept by an earlier sandbox or container of this id (KEEP, a refused commit):
		// it is the user's until they land or drop it.
		return fmt.Errorf("cow: %s holds the layer an earlier %s kept: land or drop it first (sandlock-runtime cow commit|abort %s), or use another id", dir, c.ID, dir)
	}
	rec := cowRecord{Layer: dir, Workdir: wd}
	if cr.cont.State.Rootfs != "/" && !unpriv {
		rec.Pin = filepath.Join(cr.cont.dir, "cow-workdir")
	}
	// The record first: a crash from here on leaves delete --force the way to the layer.
	if err := writeFileAtomic(filepath.Join(cr.cont.dir, cowFile), mustJSON(rec), 0o600); err != nil {
		return err
	}
	if rec.Pin != "" {
		if err := pinWorkdir(cr.cont.dir, lower, rec.Pin); err != nil {
			return err
		}
	}
	l, err := cowfs.Create(dir, cowfs.Meta{
		ID: c.ID, Workdir: stable, OnExit: cr.policy.ExitAction(), OnError: cr.policy.ErrorAction(),
		DryRun: c.DryRun, Tmpfs: limit > 0, MaxDisk: limit, UserXattr: userns, UserTmpfs: limit > 0 && unpriv,
	})
	if err != nil {
		return err
	}
	cr.onFail(func() { _ = l.Remove(detach) })
	realStorage, err := filepath.EvalSymlinks(storage)
	if err != nil {
		return err
	}
	cr.cow = &cowMount{Lower: lower, Upper: l.Upper(), Work: l.Work(), UserXattr: userns, Storage: realStorage,
		LowerDev: l.WorkdirDev, LowerIno: l.WorkdirIno}
	switch {
	case l.UserTmpfs: // the tree's helper mounts it, in its namespaces, and makes upper and work there
		if err := os.Mkdir(l.FSDir(), 0o700); err != nil {
			return err
		}
		cr.cow.Tmpfs, cr.cow.TmpfsSize = l.FSDir(), limit
	case l.Tmpfs:
		if err := mountLayerTmpfs(cr.cont.dir, l); err != nil {
			return err
		}
		fallthrough
	default:
		if err := l.Populate(); err != nil {
			return err
		}
	}
	if c.restoreLayer != "" {
		if err := cowfs.CopyInto(c.restoreLayer, l.Upper()); err != nil {
			return fmt.Errorf("restore: the image's copy-on-write layer: %w", err)
		}
	}
	if c.DryRun {
		var readOnly []string
		cr.policy.FSWritable, readOnly = dryRunWritable(cr.policy.FSWritable, wd, cr.cont.State.Rootfs, lower)
		cr.policy.FSReadable = append(slices.Clone(cr.policy.FSReadable), readOnly...)
		if cr.policy.OnExit != nil || cr.policy.OnError != nil {
			cr.log.Warnf("dry run: on_exit and on_error decide nothing in a dry run: its layer is always discarded")
		}
		for _, p := range readOnly { // the Go API's Logger hears it as the sandbox command's user does
			cr.log.Warnf("dry run: %s (fs_writable) is read-only in a dry run, which writes nothing for real: only the workdir %s is writable, through the discarded layer", p, wd)
		}
	}
	// The layer is the process's to write: the workdir is writable whatever the lists say
	// (with neither list, the whole root already is).
	if len(cr.policy.FSReadable)+len(cr.policy.FSWritable) > 0 && !slices.Contains(cr.policy.FSWritable, wd) {
		cr.policy.FSWritable = append(slices.Clone(cr.policy.FSWritable), wd)
	}
	return nil
}

// cowWritable adds the workdir's layer to the rules a container without fs lists gets from its
// root (landlockFor): under root.readonly (runc's and our `spec` default) the rootfs-wide rule
// is read-only, and the workdir, whose writes all go to the layer, would refuse them (EACCES).
// With fs lists, setupCOW has put the workdir in fs_writable already.
func cowWritable(base confine.LandlockConfig, cow *cowMount) confine.LandlockConfig {
	if cow == nil {
		return base
	}
	base.Paths = append(slices.Clone(base.Paths), confine.PathRule{Path: cow.Lower, Write: true, Exec: true})
	return base
}

// checkRestoreWorkdir: an image that holds a layer restores only into a container with the
// same workdir (its processes' files are there).
func checkRestoreWorkdir(wd string, c CreateOpts) error {
	if c.restoreWorkdir == "" || filepath.Clean(wd) == filepath.Clean(c.restoreWorkdir) {
		return nil
	}
	if wd == "" {
		return &spec.PolicyError{Key: "workdir", Value: "", Reason: "the checkpoint image holds the copy-on-write layer of workdir " + c.restoreWorkdir + ": restore it with the same workdir (--workdir, or io.sandlock.workdir)"}
	}
	return &spec.PolicyError{Key: "workdir", Value: wd, Reason: "the checkpoint image holds the copy-on-write layer of workdir " + c.restoreWorkdir + ", not this one"}
}

// lowerMountAttr is the restrictions of the workdir's own mount the overlay over it must keep:
// the overlay is a mount of its own, made without them, so a workdir on a noexec, nodev or
// nosuid mount (a volume, /tmp, a user's removable disk) had programs run, device nodes opened
// and setuid bits honoured in the view (TestEscapeCOWMountFlags). lower is the descriptor of
// the checked workdir (openLower): a path, looked up again, could be swapped meanwhile for one
// on a mount without them.
func lowerMountAttr(lower int) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(lower, &st); err != nil {
		return 0, fmt.Errorf("cow: workdir: statfs: %w", err)
	}
	var attr uint64
	for _, f := range [][2]uint64{{unix.ST_NOSUID, unix.MOUNT_ATTR_NOSUID}, {unix.ST_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.ST_NOEXEC, unix.MOUNT_ATTR_NOEXEC}, {stNoSymfollow, unix.MOUNT_ATTR_NOSYMFOLLOW}} {
		if uint64(st.Flags)&f[0] != 0 {
			attr |= f[1]
		}
	}
	return attr, nil
}

// stNoSymfollow is statfs' ST_NOSYMFOLLOW (Linux 5.10), which x/sys/unix does not name.
const stNoSymfollow = 0x2000

// noMountBeneath refuses a workdir with a mount point beneath it. overlayfs reads its lower
// directory on the lower's own file system, under any mount: in the view such a mount was gone
// and the directory beneath it showed what the mount hides (a tmpfs over a directory, the
// rootfs' own directory under a volume), and a commit of a change there failed midway, leaving
// a journal that every later create over the workdir tripped on (TestEscapeCOWSubmount).
func noMountBeneath(lower string, ms []mountEntry) error {
	for _, m := range ms {
		if strictlyBeneath(m.point, lower) {
			return fmt.Errorf("a file system is mounted beneath it, at %s: the copy-on-write layer covers one directory of one file system", m.point)
		}
	}
	return nil
}

// realPrefix is p with the symlinks of its longest existing prefix resolved (fs_storage may
// not exist yet): a symlink on the way must not put the layers inside the workdir.
func realPrefix(p string) string {
	rest := ""
	for q := filepath.Clean(p); ; q = filepath.Dir(q) {
		if r, err := filepath.EvalSymlinks(q); err == nil {
			return filepath.Join(r, rest)
		}
		if q == "/" || q == "." {
			return p
		}
		rest = filepath.Join(filepath.Base(q), rest)
	}
}

// dryRunWritable is fs_writable for a dry run, which writes nothing for real (the seed's
// "discard all writes"): only the workdir goes through the discarded layer, so a writable path
// outside it becomes readable only (it stays readable: fs_writable implies reading), and a
// write there is refused (EACCES) instead of landing on the host. Paths beneath the workdir
// stay writable: they are in the layer. Each is judged by the object it reaches, resolved in
// root as the Landlock plan resolves it, against lower (the workdir's host path): a symlink
// beneath the workdir to a directory outside it would otherwise stay writable, and the dry
// run write there for real. A path missing from root grants nothing either way.
func dryRunWritable(writable []string, wd, root, lower string) (keep, readOnly []string) {
	for _, w := range writable {
		p := w
		if !filepath.IsAbs(p) {
			p = filepath.Join(wd, p) // the direct mode's relative paths are the workdir's
		}
		beneath := isBeneath(p, wd)
		if host, err := hostPathIn(root, p, 0); err == nil {
			beneath = isBeneath(host, lower)
		}
		if beneath {
			keep = append(keep, w)
		} else {
			readOnly = append(readOnly, w)
		}
	}
	return keep, readOnly
}

// stableWorkdir is a host path of the workdir lower that outlives the container, for the layer's
// record: lower reaches it through the container's rootfs, and when that crosses a mount made
// for the container (a volume's bind, podman's rootfs), the path names an empty mount point
// once the container is deleted, and a kept layer could never be diffed or committed again.
// The same directory is then looked up through the mounts of its file system that are not
// beneath the rootfs (the bind's source); lower itself when there is none or it is stable.
func stableWorkdir(lower, rootfs string, ms []mountEntry) string {
	if rootfs == "/" {
		return lower
	}
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, lower, unix.AT_STATX_SYNC_AS_STAT, unix.STATX_MNT_ID, &st); err != nil {
		return lower
	}
	var in *mountEntry
	for i := range ms {
		if uint64(ms[i].id) == st.Mnt_id {
			in = &ms[i]
		}
	}
	if in == nil || !isBeneath(in.point, rootfs) {
		return lower // not through a mount of the container's
	}
	rel, err := filepath.Rel(in.point, lower)
	if err != nil {
		return lower
	}
	inFS := filepath.Join(in.root, rel) // the workdir's path within its file system
	for _, m := range ms {
		if m.dev != in.dev || isBeneath(m.point, rootfs) || !isBeneath(inFS, m.root) {
			continue
		}
		r, err := filepath.Rel(m.root, inFS)
		if err != nil {
			continue
		}
		if cand := filepath.Join(m.point, r); sameFile(cand, lower) {
			return cand
		}
	}
	return lower
}

// sameFile reports whether a and b name the same file (device and inode).
func sameFile(a, b string) bool {
	var sa, sb unix.Stat_t
	return unix.Stat(a, &sa) == nil && unix.Stat(b, &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// cowLower resolves the workdir inside the root as the process will see it, to a host path.
func cowLower(root, wd string) (string, error) {
	if !filepath.IsAbs(wd) {
		return "", errors.New("must be an absolute path")
	}
	if strings.TrimPrefix(filepath.Clean(wd), "/") == "" {
		return "", errors.New("cannot be the root itself")
	}
	host, err := hostPathIn(root, wd, unix.O_DIRECTORY)
	if err != nil {
		return "", err
	}
	return host, nil
}

// hostPathIn is the host path of the object container path p reaches inside root (symlinks
// stay inside root: RESOLVE_IN_ROOT); flags are added to O_PATH (O_DIRECTORY).
func hostPathIn(root, p string, flags int) (string, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(rfd)
	rel := strings.TrimPrefix(filepath.Clean(p), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := openat2.Open(rfd, rel, &unix.OpenHow{Flags: uint64(unix.O_PATH | unix.O_CLOEXEC | flags), Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	return os.Readlink(fdPath(fd))
}

// mountLayerTmpfs puts the layer's upper and work directories on a tmpfs of max_disk bytes.
func mountLayerTmpfs(stateDir string, l *cowfs.Layer) error {
	p := l.FSDir()
	return mountRecorded(stateDir, p, func() error {
		if err := unix.Mount("sandlock-cow", p, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, layerTmpfsData(l.MaxDisk)); err != nil {
			return fmt.Errorf("max_disk: mount tmpfs: %w", err)
		}
		return nil
	})
}

// layerTmpfsData is the mount data of max_disk's tmpfs of size bytes. Its inodes are bounded
// too, one per 4 KiB of the limit (what an empty directory takes on ext4): tmpfs counts no
// block for a directory, an empty file or a short symlink, and its default inode count is half
// the host's RAM in pages, so `--max-disk 64K` made 3000 files of long names (and as easily
// millions), which the commit landed on the host's disk as 676 KiB of directory blocks and
// inodes (TestEscapeCOWInodes). At least 64: the upper and work directories and a few entries.
func layerTmpfsData(size int64) string {
	return fmt.Sprintf("size=%d,nr_inodes=%d,mode=0700", size, max(size/4096, 64))
}

// pinWorkdir bind-mounts the workdir at pin, writable (delete undoes it with the other mounts,
// after the layer's action).
func pinWorkdir(stateDir, lower, pin string) error {
	src, err := unix.Open(lower, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(src)
	return mountRecorded(stateDir, pin, func() error {
		if err := unix.Mount(fdPath(src), pin, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("cow: pin the workdir: %w", err)
		}
		// A bind takes the read-only flag of the mount it is made from: root.readonly's bind
		// of the rootfs, made before. The commit writes the workdir through the pin; the
		// container never sees it (the state dir), so it is made writable again.
		if err := unix.MountSetattr(-1, pin, 0, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return fmt.Errorf("cow: pin the workdir: make it writable: %w", err)
		}
		return nil
	})
}

// mountRecorded makes the directory target and mounts on it with mount, recorded in the state
// dir's mount log, intent first, so that delete --force finds the mount after a crash.
func mountRecorded(stateDir, target string, mount func() error) error {
	if err := os.Mkdir(target, 0o700); err != nil {
		return err
	}
	fd, err := unix.Open(target, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ml := mountLog{path: filepath.Join(stateDir, "mounts")}
	if err := ml.record(mountIntent(fd, target)); err != nil {
		return err
	}
	if err := mount(); err != nil {
		return err
	}
	return ml.record(target)
}

// holdCOWFS opens the tmpfs of an unprivileged max_disk layer (mounted by the tree's helper in
// its namespace, so reachable only through the tree) through init's root: the descriptor keeps
// the tmpfs, and with it the layer, alive after the sandbox's last process is gone, until
// destroy has carried out the layer's action.
func (cr *creation) holdCOWFS(o *Options, c CreateOpts) error {
	if cr.cow == nil || cr.cow.Tmpfs == "" {
		return nil
	}
	p := fmt.Sprintf("/proc/%d/root%s", cr.cont.State.Pid, cr.cow.Tmpfs)
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cow: max_disk: reach the layer's tmpfs: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		unix.Close(fd)
		return fmt.Errorf("cow: max_disk: %s is not the layer's tmpfs", p)
	}
	cr.cont.cowFS = os.NewFile(uintptr(fd), "cow-tmpfs")
	cr.onFail(func() { cr.cont.cowFS.Close() })
	return nil
}

// recordExit writes the exit code for destroy's choice between on_exit and on_error; only a
// copy-on-write workdir has that choice (exitCode's one reader).
func (c *Container) recordExit(code int) {
	if !c.hasCOW() {
		return
	}
	_ = writeFileAtomic(filepath.Join(c.dir, exitFile), []byte(strconv.Itoa(code)), 0o600)
}

// PIDFD_GET_INFO with PIDFD_INFO_EXIT (Linux 6.15): the wait status of an exited process
// to any holder of its pidfd, once its parent has reaped it.
const (
	pidfdGetInfo  = 0xc040ff0b // _IOWR(0xFF, 11, struct pidfd_info), its first 64 bytes
	pidfdInfoExit = 1 << 3
)

// recordInitExit is the supervisor's record of init's exit status (the caller, not the
// runtime, reaps init after create): delete reads it to choose on_exit or on_error. On an
// older kernel, or when the caller has not reaped init within a few seconds, nothing is
// recorded and delete takes the run for failed (on_error).
func recordInitExit(stateDir string, pidfd int) {
	if _, err := os.Stat(filepath.Join(stateDir, cowFile)); err != nil {
		return // only a copy-on-write workdir asks
	}
	var info [64]byte
	for range 500 {
		binary.LittleEndian.PutUint64(info[0:], pidfdInfoExit)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(pidfd), pidfdGetInfo, uintptr(unsafe.Pointer(&info[0])))
		if e == unix.EINVAL || e == unix.ENOTTY || e == unix.EOPNOTSUPP {
			return
		}
		if e == 0 && binary.LittleEndian.Uint64(info[0:])&pidfdInfoExit != 0 {
			ws := unix.WaitStatus(int32(binary.LittleEndian.Uint32(info[60:])))
			if _, err := os.Stat(filepath.Join(stateDir, exitFile)); err != nil {
				c := &Container{dir: stateDir}
				c.recordExit(exitCode(ws))
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *Container) exitCode() (int, bool) {
	b, err := os.ReadFile(filepath.Join(c.dir, exitFile))
	if err != nil {
		return -1, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

func (c *Container) hasCOW() bool {
	_, err := os.Stat(filepath.Join(c.dir, cowFile))
	return err == nil
}

// cowLayer opens the container's layer; nil without one (or when it was never made).
func (c *Container) cowLayer() (*cowfs.Layer, error) {
	r, err := c.cowRecord()
	if r == nil || err != nil {
		return nil, err
	}
	l, err := cowfs.Open(r.Layer)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, os.Remove(filepath.Join(c.dir, cowFile)) // a crash before it was made
	}
	if err == nil && l.UserTmpfs && c.cowFS != nil {
		l.FSPath = "/proc/self/fd/" + strconv.Itoa(int(c.cowFS.Fd()))
	}
	if err == nil && r.Pin != "" {
		// The pinned workdir, while its bind mount is there: the same directory (cowfs
		// checks its identity) whatever became of the path it was made by.
		var st unix.Stat_t
		if unix.Stat(r.Pin, &st) == nil && st.Dev == l.WorkdirDev && st.Ino == l.WorkdirIno {
			l.Workdir = r.Pin
		}
	}
	return l, err
}

// cowRecord reads <state>/cow.json; nil without one.
func (c *Container) cowRecord() (*cowRecord, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, cowFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r cowRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", cowFile, err)
	}
	return &r, nil
}

// cowWorkdir is the policy's workdir of a container with a layer.
func (c *Container) cowWorkdir() (string, error) {
	r, err := c.cowRecord()
	if err == nil && (r == nil || r.Workdir == "") {
		err = errors.New("the container's copy-on-write record names no workdir")
	}
	if err != nil {
		return "", err
	}
	return r.Workdir, nil
}

// COWChanges lists what the container's layer changed (a dry run's answer); nil without one.
func (c *Container) COWChanges() ([]cowfs.Change, error) {
	l, err := c.cowLayer()
	if l == nil || err != nil {
		return nil, err
	}
	return l.Changes()
}

// finishCOW carries out the layer's on_exit or on_error action, once every process of the
// container is gone. A branch conflict keeps the layer (nothing of it landed) and is
// returned; the record goes either way, so the container can still be deleted.
func (c *Container) finishCOW() error {
	l, err := c.cowLayer()
	if l == nil || err != nil {
		return err
	}
	if c.cowFS != nil {
		defer func() { c.cowFS.Close(); c.cowFS = nil }()
	}
	code, known := c.exitCode()
	action := l.Action(known && code == 0)
	if l.Reachable() != nil {
		// Killed with the runtime that held it: nothing left to commit or keep.
		err = l.Remove(nil)
		if err == nil && action != cowfs.Abort {
			err = fmt.Errorf("%s %s: %w", strings.ToLower(action), l.Dir, cowfs.ErrLost)
		}
		if rerr := os.Remove(filepath.Join(c.dir, cowFile)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
		return err
	}
	switch action {
	case cowfs.Commit:
		err = l.Commit(detach)
		if keepsLayer(err) {
			if kerr := l.KeepOnDisk(detach); kerr != nil {
				err = errors.Join(err, kerr)
			}
			err = fmt.Errorf("%w; nothing landed, the layer is kept in %s", err, l.Dir)
			c.keptLayer = l.Dir
		}
	case cowfs.Keep:
		if err = l.KeepOnDisk(detach); err == nil {
			c.keptLayer = l.Dir
		}
	default:
		err = l.Remove(detach)
	}
	if err != nil && !keepsLayer(err) {
		return err // the record stays: delete --force tries again
	}
	if rerr := os.Remove(filepath.Join(c.dir, cowFile)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return errors.Join(err, rerr)
	}
	return err
}

// keepsLayer: a commit that landed nothing (a branch conflict, a name reserved for the
// commit's staging, a workdir that refuses the staging copy: read-only, full, gone) keeps the
// layer on disk and lets the container go: retried by every delete, it would fail the same way
// and leave the container's state behind for ever.
func keepsLayer(err error) bool {
	return errors.Is(err, cowfs.ErrNotLanded) || errors.Is(err, cowfs.ErrBranchConflict) || errors.Is(err, cowfs.ErrReservedName)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
