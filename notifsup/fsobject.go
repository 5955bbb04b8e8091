package notifsup

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// object is what a metadata syscall names, copied out of the process: a path (resolved later,
// in the process's view) or one of its fds.
type object struct {
	path     string
	nofollow bool
	fd       int // the supervisor's copy of the process's fd when the object is an fd, or -1
	// byName: fd came from a path naming it (/proc/self/fd/N, AT_EMPTY_PATH): the syscall
	// acts on the object as a path lookup would, even through an O_PATH fd.
	byName   bool
	dirfd    int    // the supervisor's copy of the dirfd a relative path starts from, or -1
	selfLink string // the link /proc/self or /proc/thread-self itself: what it reads as
}

func (o *object) close() {
	for _, fd := range []int{o.fd, o.dirfd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

const pathMax = 4096

// object reads the syscall's object from its arguments.
func (t *target) object(spec objArgs, a []uint64) (*object, error) {
	o := &object{fd: -1, dirfd: -1, nofollow: spec.nofollow}
	var flags uint32
	if spec.flags >= 0 && spec.nofollowBit != 0 {
		o.nofollow = o.nofollow || uint32(a[spec.flags])&spec.nofollowBit != 0
	} else if spec.flags >= 0 {
		flags = uint32(a[spec.flags])
		o.nofollow = o.nofollow || flags&unix.AT_SYMLINK_NOFOLLOW != 0
	}
	if spec.path < 0 {
		return o, o.setFD(t, int(int32(a[spec.fd])))
	}
	dirfd := unix.AT_FDCWD
	if spec.dir >= 0 {
		dirfd = int(int32(a[spec.dir]))
	}
	if a[spec.path] == 0 && spec.nullPathIsFD {
		return o, o.setFD(t, dirfd)
	}
	path, err := t.readString(a[spec.path], pathMax)
	if err != nil {
		return o, err
	}
	return o, o.setPath(t, path, dirfd, flags&unix.AT_EMPTY_PATH != 0)
}

func (o *object) setFD(t *target, n int) error {
	fd, err := t.fd(n)
	o.fd = fd
	return err
}

func (o *object) setPath(t *target, path string, dirfd int, emptyPath bool) error {
	switch {
	case path == "" && emptyPath:
		o.byName = true
		return o.setFD(t, dirfd)
	case path == "":
		return unix.ENOENT
	}
	if n, ok := t.ownFDRef(path); ok {
		o.byName = true
		return o.setFD(t, n)
	}
	if o.nofollow && (path == "/proc/self" || path == "/proc/thread-self") {
		o.selfLink = strconv.Itoa(t.tgid)
		if path == "/proc/thread-self" {
			o.selfLink += "/task/" + strconv.Itoa(t.tid)
		}
		return nil
	}
	o.path = t.ownProcPath(path)
	if !strings.HasPrefix(o.path, "/") && dirfd != unix.AT_FDCWD {
		fd, err := t.fd(dirfd)
		o.dirfd = fd
		return err
	}
	return nil
}

// mountTable maps the host's mount IDs to their mount points (/proc/self/mountinfo), read
// again when an ID is not in it.
type mountTable struct {
	mu     sync.Mutex
	points map[uint64]string
}

// lookup returns the mount point of the mount fd is on, and whether that mount is one of the
// host's (not an internal mount: pipes, sockets, memfds).
func (mt *mountTable) lookup(fd int) (string, bool) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		return "", false
	}
	mt.mu.Lock()
	defer mt.mu.Unlock()
	if p, ok := mt.points[stx.Mnt_id]; ok {
		return p, true
	}
	mt.points = readMountPoints()
	p, ok := mt.points[stx.Mnt_id]
	return p, ok
}

func readMountPoints() map[uint64]string {
	points := map[uint64]string{}
	fd, err := procOpen("self/mountinfo", unix.O_RDONLY)
	if err != nil {
		return points
	}
	f := os.NewFile(uintptr(fd), "mountinfo")
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		if id, err := strconv.ParseUint(fields[0], 10, 64); err == nil {
			points[id] = unescapeMountPath(fields[4])
		}
	}
	return points
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
