package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/openat2"
	"github.com/sandlock/sandlock-runtime/spec"
)

// Mounts are made in the host's mount table (there is no mount namespace), so every step here is
// written so that nothing the image contains can make a mount land outside the rootfs:
//
//   - destinations are resolved with openat2(RESOLVE_IN_ROOT) against a descriptor of the rootfs
//     and the mount is made on /proc/self/fd/N, never on a path string a symlink could redirect;
//   - the host path of each mount is checked to be inside the rootfs and recorded before anything
//     else can fail, so a failed setup, a crashed runtime or delete --force can undo it;
//   - every new mount is made private (recursively for recursive binds) right after it is made.
//     Without that, a bind of a host directory that sits in a shared peer group would carry any
//     mount made later on top of it (a masked path, a nested destination) back to the host
//     directory, and a tmpfs mounted below a shared host mount would forward our later submounts
//     to that mount's peers in other namespaces. A propagation named in the options is applied
//     after that, so a config that asks for rslave or shared still gets it.
//
// After a mount, the descriptor that named the destination still names the covered directory,
// so post-mount steps (remount, propagation) reopen the destination to reach the new mount.

// resolveInRoot is how every path inside the rootfs is looked up: ".." and absolute symlinks
// stay inside the root, and /proc/<pid>/fd style magic links (which could jump anywhere) fail.
const resolveInRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// setupRootfs makes the mounts of s.Mounts under rootfs (an absolute host path; "/" means host
// mode), populates /dev when it is a tmpfs of ours, applies maskedPaths and readonlyPaths and,
// if root.readonly is set, makes the rootfs read-only through a bind of it onto itself. rec is
// called with an intent line right before each mount and with the host path of each mount right
// after it is made (nil: nothing to record; mountlog.go says why both). On
// error everything this call mounted is undone.
func setupRootfs(rootfs string, s *specs.Spec, rec func(string) error) error {
	if filepath.Clean(rootfs) == "/" {
		return checkHostMode(s)
	}
	r, err := openRootfs(rootfs, rec)
	if err != nil {
		return err
	}
	defer r.close()
	if err := r.setup(s); err != nil {
		if uerr := undoMounts(r.mounted); uerr != nil {
			return errors.Join(err, fmt.Errorf("undo mounts: %w", uerr))
		}
		return err
	}
	return nil
}

// rootfsMounter carries one setupRootfs call: the rootfs descriptor everything is resolved
// against and what has been mounted so far.
type rootfsMounter struct {
	root    string // real host path of the rootfs, to check where mounts land
	rootfd  int
	rec     func(string) error
	mounted []string          // host paths this call mounted, in order, for undo
	owned   map[string]string // destination -> filesystem type, for the s.Mounts we made
}

func openRootfs(rootfs string, rec func(string) error) (*rootfsMounter, error) {
	if !filepath.IsAbs(rootfs) {
		return nil, fmt.Errorf("rootfs %q: not an absolute path", rootfs)
	}
	r := &rootfsMounter{rec: rec, owned: map[string]string{}}
	if err := r.reopenRoot(rootfs); err != nil {
		return nil, err
	}
	return r, nil
}

// reopenRoot (re)opens the rootfs by its host path, which is trusted (it comes from the bundle,
// not the image); it is reopened after binding the rootfs onto itself to reach the new mount.
func (r *rootfsMounter) reopenRoot(rootfs string) error {
	fd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs %s: %w", rootfs, err)
	}
	real, err := os.Readlink(fdPath(fd))
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("open rootfs %s: %w", rootfs, err)
	}
	r.close()
	r.rootfd, r.root = fd, real
	return nil
}

func (r *rootfsMounter) close() {
	if r.root != "" {
		unix.Close(r.rootfd)
	}
}

// setup runs the steps in the order runc does: mounts, /dev, masks, read-only paths, and the
// read-only root last, since every step before it may create mountpoints in the rootfs.
func (r *rootfsMounter) setup(s *specs.Spec) error {
	readonly := s.Root != nil && s.Root.Readonly
	if readonly {
		if err := r.bindRootSelf(); err != nil {
			return err
		}
	}
	for _, m := range s.Mounts {
		if err := r.mountOne(m); err != nil {
			return err
		}
	}
	if err := r.populateDev(s.Linux); err != nil {
		return err
	}
	if err := r.maskAndProtect(s.Linux); err != nil {
		return err
	}
	if readonly {
		return r.remountRootReadonly()
	}
	return nil
}

// cleanDest makes a destination absolute and clean; runc accepts relative destinations as
// relative to the container's root, and cleaning cannot leave the root (RESOLVE_IN_ROOT).
func cleanDest(dest string) string {
	return filepath.Clean("/" + dest)
}

// mountOne makes one entry of s.Mounts and names it in any error.
func (r *rootfsMounter) mountOne(m specs.Mount) error {
	kind, err := r.doMount(m)
	if errors.Is(err, unix.EBUSY) {
		// What runc users hit by running a second container from the same bundle: without a
		// mount namespace the first one's mounts are in the host's mount table, on this rootfs.
		return fmt.Errorf("mount %s on %s: %w (is another container running from this bundle? "+
			"its mounts are in the host's mount table, so a rootfs serves one container at a time: "+
			"give each container its own bundle, or delete the other first)", mountTypeName(m), m.Destination, err)
	}
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", mountTypeName(m), m.Destination, err)
	}
	r.owned[cleanDest(m.Destination)] = kind
	return nil
}

func mountTypeName(m specs.Mount) string {
	if m.Type == "" {
		return "bind"
	}
	return m.Type
}

// isBind: runc treats any mount whose options say bind or rbind as a bind, whatever its type
// ("none", "", "bind").
func isBind(m specs.Mount, flags uintptr) bool {
	return m.Type == "bind" || flags&unix.MS_BIND != 0
}

// doMount makes the mount and returns the type of filesystem it put there ("bind" for binds).
func (r *rootfsMounter) doMount(m specs.Mount) (string, error) {
	opts, copyUp := withoutCopyUp(m.Options)
	flags, prop, data, err := spec.MountFlags(opts)
	if err != nil {
		return "", err
	}
	if isBind(m, flags) {
		return "bind", r.bindMount(m, flags, prop)
	}
	fstype, source := m.Type, m.Source
	if fstype == "cgroup" || fstype == "cgroup2" {
		// Only the unified hierarchy is offered, always read-only: the container's cgroup is
		// for membership and killing, managed from outside. v1 options mean nothing to it.
		// A bind of the host's cgroup2 mount shows the same tree and costs microseconds; a
		// fresh cgroup2 mount costs tens of milliseconds on hybrid hosts.
		if mnt := Cgroup2Mount(); mnt != "" {
			ro := flags | unix.MS_RDONLY | unix.MS_BIND
			return "bind", r.bindMount(specs.Mount{Source: mnt, Destination: m.Destination}, ro, prop)
		}
		fstype, source, flags, data = "cgroup2", "cgroup2", flags|unix.MS_RDONLY, ""
	}
	if source == "" {
		source = fstype
	}
	fd, err := mkdirIn(r.rootfd, cleanDest(m.Destination))
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	if err := r.mountAt(fd, source, fstype, flags, data); err != nil {
		return "", err
	}
	if copyUp && fstype == "tmpfs" {
		// fd still names the directory the tmpfs now covers: its content is copied up.
		if err := copyUpInto(fd, r.root, cleanDest(m.Destination)); err != nil {
			return "", fmt.Errorf("tmpcopyup %s: %w", m.Destination, err)
		}
	}
	return fstype, r.settle(m.Destination, false, propagate(prop))
}

// bindMount binds a host path. Flags other than bind/rec (ro, nosuid, ...) can only be set by a
// remount of the bind, so they are applied that way.
func (r *rootfsMounter) bindMount(m specs.Mount, flags, prop uintptr) error {
	if !filepath.IsAbs(m.Source) {
		return fmt.Errorf("bind source %q: not absolute (resolve it against the bundle first)", m.Source)
	}
	st, err := os.Stat(m.Source)
	if err != nil {
		return err
	}
	dest := cleanDest(m.Destination)
	var fd int
	if st.IsDir() {
		fd, err = mkdirIn(r.rootfd, dest)
	} else {
		fd, err = mkfileIn(r.rootfd, dest)
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	recursive := flags&unix.MS_REC != 0
	if err := r.mountAt(fd, m.Source, "", unix.MS_BIND|(flags&unix.MS_REC), ""); err != nil {
		return err
	}
	steps := []func(string) error{remount(flags &^ (unix.MS_BIND | unix.MS_REC))}
	if recursive && flags&unix.MS_RDONLY != 0 {
		steps = append(steps, recursiveReadonly)
	}
	return r.settle(dest, recursive, append(steps, propagate(prop))...)
}

// mountAt mounts on the directory or file fd names, after checking and recording where that is
// on the host: the record is written before the mount can be used, so it cannot be lost.
func (r *rootfsMounter) mountAt(fd int, source, fstype string, flags uintptr, data string) error {
	host, err := r.hostPath(fd)
	if err != nil {
		return err
	}
	// The intent first: killed between the mount and its record, create would otherwise leave
	// a mount that delete --force cannot find (mountlog.go; found by hack/soak).
	if r.rec != nil {
		if err := r.rec(mountIntent(fd, host)); err != nil {
			return err
		}
	}
	if err := unix.Mount(source, fdPath(fd), fstype, flags, data); err != nil {
		return err
	}
	return r.track(host)
}

// hostPath returns where fd lies on the host, refusing anything outside the rootfs: openat2
// already guarantees that, this is the belt to its braces before touching the host's table.
func (r *rootfsMounter) hostPath(fd int) (string, error) {
	p, err := os.Readlink(fdPath(fd))
	if err != nil {
		return "", err
	}
	if !isBeneath(p, r.root) {
		return "", fmt.Errorf("resolves to %s, outside the rootfs %s", p, r.root)
	}
	return p, nil
}

// track remembers a mount for undo on failure and hands it to the caller's log.
func (r *rootfsMounter) track(host string) error {
	r.mounted = append(r.mounted, host)
	if r.rec == nil {
		return nil
	}
	return r.rec(host)
}

// settle reopens dest (now the new mount), makes it private (see the top of this file) and runs
// the further steps on it, each given the /proc/self/fd path of the new mount.
func (r *rootfsMounter) settle(dest string, recursive bool, steps ...func(string) error) error {
	fd, err := openInRoot(r.rootfd, cleanDest(dest), unix.O_PATH)
	if err != nil {
		return fmt.Errorf("reopen after mount: %w", err)
	}
	defer unix.Close(fd)
	target := fdPath(fd)
	private := uintptr(unix.MS_PRIVATE)
	if recursive {
		private |= unix.MS_REC
	}
	if err := unix.Mount("", target, "", private, ""); err != nil {
		return fmt.Errorf("make private: %w", err)
	}
	for _, step := range steps {
		if err := step(target); err != nil {
			return err
		}
	}
	return nil
}

// remount returns the step that sets the per-mount flags of a bind (a no-op when none are asked).
func remount(flags uintptr) func(string) error {
	return func(target string) error {
		if flags == 0 {
			return nil
		}
		if err := unix.Mount("", target, "", flags|unix.MS_REMOUNT|unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("remount: %w", err)
		}
		return nil
	}
}

// recursiveReadonly makes the submounts of an rbind read-only too; a bind remount only
// changes the top mount, which would leave writable host mounts under a "ro" rbind.
func recursiveReadonly(target string) error {
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(unix.AT_FDCWD, target, unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("make submounts read-only: %w", err)
	}
	return nil
}

// propagate returns the step applying the propagation the options asked for, if any.
func propagate(prop uintptr) func(string) error {
	return func(target string) error {
		if prop == 0 {
			return nil
		}
		if err := unix.Mount("", target, "", prop, ""); err != nil {
			return fmt.Errorf("set propagation: %w", err)
		}
		return nil
	}
}

// maskAndProtect applies maskedPaths then readonlyPaths; paths missing from the rootfs are
// skipped, as in runc, since a default config lists paths not every kernel has.
func (r *rootfsMounter) maskAndProtect(l *specs.Linux) error {
	if l == nil {
		return nil
	}
	for _, p := range l.MaskedPaths {
		if err := r.mask(p); err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	for _, p := range l.ReadonlyPaths {
		if err := r.protect(p); err != nil {
			return fmt.Errorf("readonly path %s: %w", p, err)
		}
	}
	return nil
}

// mask hides a file behind the host's /dev/null and a directory behind an empty read-only tmpfs.
// The /dev/null bind is made read-only: it is the host's inode, and a container's root (which
// owns it) could otherwise chmod or touch the host's /dev/null through the masked path; a
// read-only mount refuses metadata changes (EROFS) while the device itself still reads empty
// and swallows writes.
func (r *rootfsMounter) mask(p string) error {
	fd, err := openInRoot(r.rootfd, cleanDest(p), unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := r.mountAt(fd, "tmpfs", "tmpfs", unix.MS_RDONLY, ""); err != nil {
			return err
		}
		return r.settle(p, false)
	}
	if err := r.mountAt(fd, "/dev/null", "", unix.MS_BIND, ""); err != nil {
		return err
	}
	return r.settle(p, false, readonlyBind)
}

// readonlyBind remounts the bind at target read-only, keeping the per-mount flags it has.
func readonlyBind(target string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return err
	}
	return remount(unix.MS_RDONLY | mountFlags(st))(target)
}

// protect binds a path onto itself and remounts the bind read-only, keeping the nosuid, nodev,
// noexec and atime flags it had (a bind remount resets whatever it is not given).
func (r *rootfsMounter) protect(p string) error {
	fd, err := openInRoot(r.rootfd, cleanDest(p), unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	kept, err := keptFlags(fd)
	if err != nil {
		return err
	}
	if err := r.mountAt(fd, fdPath(fd), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return r.settle(p, true, remount(unix.MS_RDONLY|kept))
}

// keptFlags reads the per-mount flags of the mount fd lies on, as mount(2) flags.
func keptFlags(fd int) (uintptr, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return 0, err
	}
	return mountFlags(st), nil
}

// mountFlags turns statfs's per-mount flags into mount(2) flags.
func mountFlags(st unix.Statfs_t) uintptr {
	pairs := []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	}
	var flags uintptr
	for _, p := range pairs {
		if uintptr(st.Flags)&p.st != 0 {
			flags |= p.ms
		}
	}
	return flags
}

// bindRootSelf binds the rootfs onto itself so that root.readonly can be applied to the bind at
// the end without touching the image directory's own mount. Later lookups must start from the
// bind, hence the reopen.
func (r *rootfsMounter) bindRootSelf() error {
	root := r.root
	if err := r.mountAt(r.rootfd, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s onto itself: %w", root, err)
	}
	if err := r.reopenRoot(root); err != nil {
		return err
	}
	if err := unix.Mount("", fdPath(r.rootfd), "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make rootfs bind private: %w", err)
	}
	return nil
}

func (r *rootfsMounter) remountRootReadonly() error {
	kept, err := keptFlags(r.rootfd)
	if err != nil {
		return fmt.Errorf("make rootfs read-only: %w", err)
	}
	if err := remount(unix.MS_RDONLY | kept)(fdPath(r.rootfd)); err != nil {
		return fmt.Errorf("make rootfs read-only: %w", err)
	}
	return nil
}

// fdPath names fd through /proc so that mount(2) acts on exactly what fd refers to.
func fdPath(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}

// openInRoot resolves p inside the root rootfd refers to.
func openInRoot(rootfd int, p string, flags uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolveInRoot}
	return openat2.Open(rootfd, p, &how) // retried on a rename's EAGAIN
}

// mkdirIn opens directory p inside the root, creating missing components one at a time, each in
// a parent that was itself resolved inside the root.
func mkdirIn(rootfd int, p string) (int, error) {
	fd, err := openInRoot(rootfd, p, unix.O_PATH)
	if !errors.Is(err, unix.ENOENT) || p == "/" {
		return fd, err
	}
	parent, err := mkdirIn(rootfd, filepath.Dir(p))
	if err != nil {
		return -1, err
	}
	err = unix.Mkdirat(parent, filepath.Base(p), 0o755)
	unix.Close(parent)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("mkdir %s: %w", p, err)
	}
	return openInRoot(rootfd, p, unix.O_PATH)
}

// mkfileIn opens file p inside the root, creating it (and its directories) if missing, as the
// mountpoint of a bind of a file. O_NOFOLLOW: a dangling symlink there must not be created
// through.
func mkfileIn(rootfd int, p string) (int, error) {
	fd, err := openInRoot(rootfd, p, unix.O_PATH)
	if !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, err := mkdirIn(rootfd, filepath.Dir(p))
	if err != nil {
		return -1, err
	}
	f, err := unix.Openat(parent, filepath.Base(p),
		unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	unix.Close(parent)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("create %s: %w", p, err)
	}
	if err == nil {
		unix.Close(f)
	}
	return openInRoot(rootfd, p, unix.O_PATH)
}

// hostFSTypes lists, per mount type a config may ask for, the host filesystems that already
// give the container what it asks when mounted at the destination. cgroup accepts a tmpfs:
// that is the root of a v1/hybrid layout, with the hierarchies (cgroup2 included) below it.
var hostFSTypes = map[string][]string{
	"proc":    {"proc"},
	"sysfs":   {"sysfs"},
	"devpts":  {"devpts"},
	"tmpfs":   {"tmpfs", "devtmpfs"},
	"mqueue":  {"mqueue"},
	"cgroup":  {"cgroup2", "cgroup", "tmpfs"},
	"cgroup2": {"cgroup2", "cgroup", "tmpfs"},
}

// checkHostMode is setupRootfs for root.path "/": the container shares the host's tree, so a
// mount is acceptable only if the host already has it; it never mounts anything.
func checkHostMode(s *specs.Spec) error {
	if s.Root != nil && s.Root.Readonly {
		return hostModeErr("cannot make / read-only")
	}
	if s.Linux != nil && len(s.Linux.MaskedPaths) > 0 {
		return hostModeErr("cannot mask " + s.Linux.MaskedPaths[0])
	}
	if s.Linux != nil && len(s.Linux.ReadonlyPaths) > 0 {
		return hostModeErr("cannot make " + s.Linux.ReadonlyPaths[0] + " read-only")
	}
	mounts, err := readMountinfo()
	if err != nil {
		return err
	}
	for _, m := range s.Mounts {
		if err := checkHostMount(m, mounts); err != nil {
			return err
		}
	}
	return nil
}

func hostModeErr(what string) error {
	return fmt.Errorf("host mode (root.path /): %s: it would change the host", what)
}

// checkHostMount accepts a bind of a path onto itself, or a filesystem the host has mounted at
// the destination already, and refuses anything else.
func checkHostMount(m specs.Mount, mounts []mountEntry) error {
	flags, _, _, err := spec.MountFlags(m.Options)
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", mountTypeName(m), m.Destination, err)
	}
	dest := hostResolve(cleanDest(m.Destination))
	if isBind(m, flags) {
		if filepath.IsAbs(m.Source) && hostResolve(filepath.Clean(m.Source)) == dest {
			return nil
		}
		return hostModeErr(fmt.Sprintf("cannot bind %s on %s", m.Source, m.Destination))
	}
	if top, ok := topMountAt(mounts, dest); ok && slices.Contains(hostFSTypes[m.Type], top.fstype) {
		return nil
	}
	return hostModeErr(fmt.Sprintf("cannot mount %s on %s", m.Type, m.Destination))
}

// hostResolve follows symlinks so that /dev/shm -> /run/shm compares with mountinfo's view.
func hostResolve(p string) string {
	if real, err := filepath.EvalSymlinks(p); err == nil {
		return real
	}
	return p
}

// topMountAt returns the mount visible at p: the last one mounted there.
func topMountAt(mounts []mountEntry, p string) (mountEntry, bool) {
	for i := len(mounts) - 1; i >= 0; i-- {
		if mounts[i].point == p {
			return mounts[i], true
		}
	}
	return mountEntry{}, false
}

// mqueueMagic is the f_type statfs reports for an mqueue filesystem.
const mqueueMagic = 0x19800202

// privateMqueue keeps the host's POSIX message queues out of a container that asked for an
// ipc namespace. Without a namespace every mqueue mount shows the host's queues (the runtime's
// IPC namespace), so the OCI default /dev/mqueue would let the container list, open, create
// and unlink them by path whatever seccomp denies. An mqueue entry becomes an empty read-only
// tmpfs instead (what a fresh namespace would show, minus the ability to create queues, which
// mq_open being denied rules out anyway); a bind of an mqueue filesystem is refused. In host
// mode the host's /dev/mqueue is there already: a warning says so.
func privateMqueue(s *specs.Spec, isolated bool, rootfs string) error {
	if !isolated {
		return nil
	}
	if rootfs == "/" {
		if slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool { return m.Type == "mqueue" }) {
			logrus.Warn("isolate_ipc: in host mode (root.path /) /dev/mqueue is the host's: its queues stay reachable by path")
		}
		return nil
	}
	for i, m := range s.Mounts {
		if m.Type == "mqueue" {
			s.Mounts[i] = specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs",
				Options: []string{"ro", "nosuid", "nodev", "noexec", "mode=0755", "size=4k"}}
			continue
		}
		if err := refuseMqueueBind(m); err != nil {
			return err
		}
	}
	return nil
}

// refuseMqueueBind fails for a bind whose source is an mqueue filesystem (the host's queues).
func refuseMqueueBind(m specs.Mount) error {
	opts, _ := withoutCopyUp(m.Options)
	flags, _, _, err := spec.MountFlags(opts)
	if err != nil || !isBind(m, flags) || !filepath.IsAbs(m.Source) {
		return nil // doMount reports a bad mount with its own error
	}
	var st unix.Statfs_t
	if unix.Statfs(m.Source, &st) == nil && st.Type == mqueueMagic {
		return fmt.Errorf("mount bind %s on %s: the host's POSIX message queues cannot be given to a container with an ipc namespace (isolate_ipc)", m.Source, m.Destination)
	}
	return nil
}
