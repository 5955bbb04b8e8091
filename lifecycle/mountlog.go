package lifecycle

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mountLog is <statedir>/mounts: one host path per line, appended (O_APPEND) right after each
// successful mount so a crash of the runtime still leaves a record for delete --force. No
// fsync: what it records (mounts) does not survive a reboot either, and a crashed process's
// writes are in the page cache for the next reader.
type mountLog struct{ path string }

// An intent line "?ID PATH" is written right before a mount is made at PATH (mountIntent),
// ID being the unique id of the mount PATH resolves to before it; the plain PATH line follows
// once the mount exists. A crash between the mount and its record leaves the intent as the
// last line: list keeps it only if PATH now resolves to another mount, the one made before the
// crash, so that mount is undone while a mount that was never made takes nobody else's with it.
// Any other intent was followed by its record or its mount failed: list drops it.
const intentMark = "?"

// mountIntent is the intent line for a mount about to be made at hostPath, on fd.
func mountIntent(fd int, hostPath string) string {
	return intentMark + strconv.FormatUint(mountID(fd, "", unix.AT_EMPTY_PATH), 10) + " " + hostPath
}

// mountID returns the unique id of the mount path resolves to (0 if unknown: never matched).
func mountID(dirfd int, path string, flags int) uint64 {
	var st unix.Statx_t
	err := unix.Statx(dirfd, path, flags|unix.AT_NO_AUTOMOUNT, unix.STATX_MNT_ID_UNIQUE, &st)
	if err != nil || st.Mask&unix.STATX_MNT_ID_UNIQUE == 0 {
		return 0
	}
	return st.Mnt_id
}

// parseIntent splits an intent line; ok is false for a plain record.
func parseIntent(line string) (id uint64, path string, ok bool) {
	rest, isIntent := strings.CutPrefix(line, intentMark)
	if !isIntent {
		return 0, "", false
	}
	idStr, path, _ := strings.Cut(rest, " ")
	id, err := strconv.ParseUint(idStr, 10, 64)
	if err != nil || !filepath.IsAbs(path) {
		return 0, "", true // malformed: an intent that is never acted on
	}
	return id, path, true
}

// mountedSince reports whether the last mount at path is not the one an intent saw there.
func mountedSince(id uint64, path string) bool {
	now := mountID(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW)
	return id != 0 && now != 0 && now != id
}

// record appends hostPath, or an intent line, to the log, opening it for this record only.
func (m mountLog) record(hostPath string) error {
	w := m.writer()
	defer w.close()
	return w.record(hostPath)
}

// mountLogWriter appends to an open log: create's mount step records two lines a mount (the
// intent and the mount), 35 for runc's default config, and an open per line cost more than
// the mounts. It is closed before create starts any process, and opened O_CLOEXEC, so no
// runtime process holds a descriptor of the state dir that could leak into the container.
// The file is made on the first record: no mount, no log.
type mountLogWriter struct {
	path string
	fd   int
}

func (m mountLog) writer() *mountLogWriter { return &mountLogWriter{path: m.path, fd: -1} }

func (w *mountLogWriter) close() {
	if w.fd >= 0 {
		unix.Close(w.fd)
		w.fd = -1
	}
}

// record appends one line with one write(2), which O_APPEND makes land whole at the end.
func (w *mountLogWriter) record(hostPath string) error {
	p := hostPath
	if _, ip, isIntent := parseIntent(hostPath); isIntent {
		p = ip // "" when malformed
	}
	if !filepath.IsAbs(p) || strings.ContainsAny(hostPath, "\n\x00") {
		// A newline would split the record into two bogus paths at delete time.
		return fmt.Errorf("record mount %q: not a clean absolute path", hostPath)
	}
	if w.fd < 0 {
		fd, err := unix.Open(w.path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("record mount %s: %w", hostPath, err)
		}
		w.fd = fd
	}
	line := hostPath + "\n"
	n, err := unix.Write(w.fd, []byte(line))
	if err == nil && n != len(line) {
		err = errors.New("short write")
	}
	if err != nil {
		return fmt.Errorf("record mount %s: %w", hostPath, err)
	}
	return nil
}

// list returns the recorded paths in the order they were mounted; a missing log means nothing
// was mounted.
func (m mountLog) list() ([]string, error) {
	data, err := os.ReadFile(m.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read mount log: %w", err)
	}
	var paths []string
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if line == "" {
			continue
		}
		id, p, isIntent := parseIntent(line)
		if !isIntent {
			// A crash in the middle of a write can leave a torn last line; it is still a path
			// prefix at worst, and unmounting a non-mountpoint is ignored below.
			paths = append(paths, line)
			continue
		}
		// Only the last line, whole (its newline written), can be an intent a crash cut short.
		if i == len(lines)-2 && lines[i+1] == "" && mountedSince(id, p) {
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// undoMounts unmounts every recorded path in reverse order with MNT_DETACH, ignoring
// EINVAL/ENOENT (already gone), and returns the first other error after trying all. A detach
// takes the whole subtree of the mount with it; what can still be left beneath a record
// afterwards (a mount hidden under a stacked one, a mount a crashed create made but had not
// recorded on a recorded mount's directory) is swept from /proc/self/mountinfo, so nothing of the
// container stays mounted. See sweepRoots for what the sweep leaves alone.
func undoMounts(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	todo := paths
	if len(paths) > 1 && safeToDetach(paths[0]) && allStrictlyBeneath(paths[1:], paths[0]) {
		// The first record is the root bound onto itself (rootfsMounter.bindRootSelf, for
		// root.readonly), and every later one lies beneath it, so it was made inside that bind
		// (its lookup went through the top mount there): the bind's detach takes them all.
		// Each unmount waits for the kernel (an expedited RCU grace period as its namespace
		// lock is released), and runc's default config has 17 mounts: 1-8 ms of delete.
		todo = paths[:1]
	}
	for i := len(todo) - 1; i >= 0; i-- {
		if err := detach(todo[i]); err != nil {
			keep(err)
		}
	}
	if err := detachBeneath(paths); err != nil {
		keep(err)
	}
	return first
}

// detach lazily unmounts the top mount at p. UMOUNT_NOFOLLOW keeps a symlink planted at p after
// the mount went away from redirecting the unmount to a host path.
func detach(p string) error {
	if !safeToDetach(p) {
		return nil
	}
	err := unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("unmount %s: %w", p, err)
}

// safeToDetach refuses "/" and relative paths: a corrupt log must never take the host's root
// (and with it everything beneath) away.
func safeToDetach(p string) bool {
	return filepath.IsAbs(p) && filepath.Clean(p) != "/"
}

// detachBeneath unmounts whatever mountinfo still shows strictly below the sweep roots of
// paths, deepest first. It loops because a mount can hide another one at the same place; it
// stops when a round makes no progress.
func detachBeneath(paths []string) error {
	roots := sweepRoots(paths)
	for round := 0; round < 64; round++ {
		left, err := mountsBeneath(roots)
		if err != nil || len(left) == 0 {
			return err
		}
		var first error
		progress := false
		for _, p := range left {
			err := unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
			switch {
			case err == nil:
				progress = true
			case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) && first == nil:
				first = fmt.Errorf("unmount %s: %w", p, err)
			}
		}
		if !progress {
			if first == nil {
				first = fmt.Errorf("unmount %s: still mounted", left[0])
			}
			return first
		}
	}
	return errors.New("unmount: mounts keep reappearing")
}

// sweepRoots returns the records below which the sweep may unmount: those with no other record
// below them. This spares the tree under the rootfs itself, recorded when root.readonly binds it
// onto itself: containerd and podman mount the image (an overlay) at the rootfs before create,
// and a sweep below the rootfs would take their mounts, not ours, which the detach of our bind
// already removed. Mounts at a record's own path are never swept for the same reason.
func sweepRoots(paths []string) []string {
	var roots []string
	for _, p := range paths {
		if !safeToDetach(p) {
			continue
		}
		p = filepath.Clean(p)
		leaf := true
		for _, q := range paths {
			if strictlyBeneath(filepath.Clean(q), p) {
				leaf = false
				break
			}
		}
		if leaf {
			roots = append(roots, p)
		}
	}
	return roots
}

// mountsBeneath lists the mount points strictly below any of dirs, deepest first.
func mountsBeneath(dirs []string) ([]string, error) {
	mounts, err := readMountinfo()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, mi := range mounts {
		for _, d := range dirs {
			if strictlyBeneath(mi.point, d) {
				out = append(out, mi.point)
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// isBeneath reports whether p is dir or inside it (lexically).
func isBeneath(p, dir string) bool {
	return p == dir || strictlyBeneath(p, dir)
}

func allStrictlyBeneath(paths []string, dir string) bool {
	dir = filepath.Clean(dir)
	for _, p := range paths {
		if !strictlyBeneath(filepath.Clean(p), dir) {
			return false
		}
	}
	return true
}

func strictlyBeneath(p, dir string) bool {
	return strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/") && p != dir
}

// mountEntry is one line of /proc/self/mountinfo, with the fields this package uses.
type mountEntry struct {
	id, parent int
	dev        string // the file system's "major:minor"
	point      string // mount point, unescaped
	root       string // the mounted directory within its file system ("/" unless a bind of a subtree)
	opts       string // per-mount options ("rw,nosuid,...")
	fstype     string
	source     string
	superOpts  string
	unbindable bool // its propagation (an optional field)
}

// readonly reports whether the mount itself is read-only.
func (e mountEntry) readonly() bool {
	return hasOption(e.opts, "ro")
}

func hasOption(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// readMountinfo parses /proc/self/mountinfo in mount order (parents before children, later
// mounts at the same point after earlier ones).
func readMountinfo() ([]mountEntry, error) { return readMountinfoOf("", false) }

// readMountinfoOf is readMountinfo of the mounts of one file system type ("" for all). Only
// those lines are parsed: the host's table grows with every container's mounts (15 each
// under runc's default config), and the cgroup lookups of create and of each supervisor
// would otherwise parse, and keep as garbage, every one of them. first stops at the first.
func readMountinfoOf(fstype string, first bool) ([]mountEntry, error) {
	sep := []byte(" - " + fstype + " ")
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 1024*1024) // grown for a long line; mountinfo's are short
	for sc.Scan() {
		if fstype != "" && !bytes.Contains(sc.Bytes(), sep) {
			continue
		}
		e, err := parseMountinfoLine(sc.Text())
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		if first {
			return out, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// parseMountinfoLine parses "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw".
func parseMountinfoLine(line string) (mountEntry, error) {
	fields := strings.Fields(line)
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || sep+3 > len(fields) {
		return mountEntry{}, fmt.Errorf("mountinfo: malformed line %q", line)
	}
	id, err1 := strconv.Atoi(fields[0])
	parent, err2 := strconv.Atoi(fields[1])
	if err := errors.Join(err1, err2); err != nil {
		return mountEntry{}, fmt.Errorf("mountinfo: malformed line %q: %w", line, err)
	}
	e := mountEntry{
		id: id, parent: parent,
		dev:        fields[2],
		point:      unescapeMount(fields[4]),
		root:       unescapeMount(fields[3]),
		opts:       fields[5],
		fstype:     fields[sep+1],
		source:     unescapeMount(fields[sep+2]),
		unbindable: slices.Contains(fields[6:sep], "unbindable"),
	}
	if sep+3 < len(fields) {
		e.superOpts = fields[sep+3]
	}
	return e, nil
}

// mountUnescaper undoes mountinfo's octal escapes of space, tab, newline and backslash.
var mountUnescaper = strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return mountUnescaper.Replace(s)
}
