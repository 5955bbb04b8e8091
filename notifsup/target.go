package notifsup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// target is the process (thread) behind one notification, pinned for acting on its behalf.
// Every handle on it (its memory, root, cwd, a pidfd of its thread group) is opened when first
// needed and the notification ID is checked right after: once the ID is known valid, the
// handle belongs to the blocked thread (its pid cannot have been reused while the
// notification is pending), and stays bound to it even if the pid were reused later.
type target struct {
	tid, tgid int
	creds     creds
	listener  int
	id        uint64
	writeMem  bool
	umask     int // what the thread creates files with
	mem       *os.File
	root, cwd int // O_PATH
	pidfd     int
	held      []int // the process's fds a handler took for this call (pidfd_getfd)
}

// creds are the thread's credentials as the kernel would check them for a file operation.
type creds struct {
	euid, egid   uint32 // what a peer sees (SO_PEERCRED) of a connect made for the thread
	ruid, rgid   uint32 // real ids: what access(2) checks, and a datagram's SCM_CREDENTIALS
	suid, sgid   uint32 // saved ids: what an SCM_CREDENTIALS claim may name too
	fsuid, fsgid uint32
	groups       []uint32
	// capEff is the effective set, 0 when the thread is in another user namespace than the
	// supervisor's: capabilities held there grant nothing on the host's files and are not lent
	// to a worker (threadCreds).
	capEff uint64
}

// pinTarget reads the thread's identity and credentials and checks the notification is still
// valid. writeMem opens its memory for writing too (handlers that return data through a
// buffer).
func pinTarget(listener int, req *seccomp.ScmpNotifReq, writeMem bool) (*target, error) {
	t := &target{tid: int(req.Pid), umask: 0o022, listener: listener, id: req.ID, writeMem: writeMem, root: -1, cwd: -1, pidfd: -1}
	status, err := procRead(t.procPath("status"))
	if err != nil {
		return nil, unix.ESRCH
	}
	if err := t.parseStatus(status); err != nil {
		return nil, err
	}
	if t.creds.capEff != 0 && !sameNamespace(t.procPath("ns/user"), "self/ns/user") {
		// Decided before valid: once the thread is gone, its pid may name another process.
		t.creds.capEff = 0
	}
	if err := t.valid(); err != nil {
		return nil, err
	}
	return t, nil
}

// pinned is a handler that first pins the call's target for fn (pinTarget; a thread gone or a
// notification no longer valid is answered with its errno) and closes it when fn returns.
func pinned(writeMem bool, fn func(c *Call, t *target) seccomp.ScmpNotifResp) Handler {
	return func(c *Call) seccomp.ScmpNotifResp {
		t, err := pinTarget(c.Listener, c.Req, writeMem)
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		defer t.close()
		return fn(c, t)
	}
}

// peekTarget is a target for reading the thread's memory only (no credentials, no thread
// group): what a handler that may answer NotMine needs first, at the cost of no /proc status.
func peekTarget(listener int, req *seccomp.ScmpNotifReq) *target {
	return &target{tid: int(req.Pid), listener: listener, id: req.ID, root: -1, cwd: -1, pidfd: -1}
}

// valid checks the notification is still pending: what was opened or read before is the
// blocked thread's.
func (t *target) valid() error {
	if err := seccomp.NotifIDValid(seccomp.ScmpFd(t.listener), t.id); err != nil {
		return unix.ENOENT
	}
	return nil
}

// procPath names a file of the thread under /proc (relative: see procOpen).
func (t *target) procPath(name string) string {
	return strconv.Itoa(t.tid) + "/" + name
}

// memory is the thread's memory, opened at the first use.
func (t *target) memory() (*os.File, error) {
	if t.mem != nil {
		return t.mem, nil
	}
	flag := os.O_RDONLY
	if t.writeMem {
		flag = os.O_RDWR
	}
	fd, err := procOpen(t.procPath("mem"), flag)
	if err != nil {
		return nil, unix.ESRCH
	}
	t.mem = os.NewFile(uintptr(fd), "mem")
	return t.mem, t.valid()
}

// rootFD and cwdFD are O_PATH handles on the thread's root and working directory.
func (t *target) rootFD() (int, error) { return t.dirFD(&t.root, "root") }
func (t *target) cwdFD() (int, error)  { return t.dirFD(&t.cwd, "cwd") }

func (t *target) dirFD(fd *int, name string) (int, error) {
	if *fd >= 0 {
		return *fd, nil
	}
	var err error
	if *fd, err = procOpen(t.procPath(name), unix.O_PATH|unix.O_DIRECTORY); err != nil {
		*fd = -1
		return -1, unix.ESRCH
	}
	return *fd, t.valid()
}

// pidFD is a pidfd of the thread group, for pidfd_getfd.
func (t *target) pidFD() (int, error) {
	if t.pidfd >= 0 {
		return t.pidfd, nil
	}
	var err error
	if t.pidfd, err = unix.PidfdOpen(t.tgid, 0); err != nil {
		t.pidfd = -1
		return -1, unix.ESRCH
	}
	return t.pidfd, t.valid()
}

func (t *target) close() {
	if t.mem != nil {
		t.mem.Close()
	}
	for _, fd := range append([]int{t.root, t.cwd, t.pidfd}, t.held...) {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// parseStatus reads the thread group id and the credentials from /proc/TID/status.
func (t *target) parseStatus(b []byte) error {
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		var err error
		switch k {
		case "Tgid":
			t.tgid, err = atoiField(f, 0)
		case "Uid":
			t.creds.ruid, _ = u32Field(f, 0)
			t.creds.euid, err = u32Field(f, 1)
			if err == nil {
				t.creds.suid, err = u32Field(f, 2)
			}
			if err == nil {
				t.creds.fsuid, err = u32Field(f, 3)
			}
		case "Gid":
			t.creds.rgid, _ = u32Field(f, 0)
			t.creds.egid, err = u32Field(f, 1)
			if err == nil {
				t.creds.sgid, err = u32Field(f, 2)
			}
			if err == nil {
				t.creds.fsgid, err = u32Field(f, 3)
			}
		case "Groups":
			for i := range f {
				g, gerr := u32Field(f, i)
				err = errors.Join(err, gerr)
				t.creds.groups = append(t.creds.groups, g)
			}
		case "Umask":
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				t.umask = int(m)
			}
			continue
		case "CapEff":
			t.creds.capEff, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("notifsup: /proc/%d/status: %s: %w", t.tid, k, err)
		}
		seen++
	}
	if seen < 5 {
		return unix.ESRCH // a thread that is exiting lacks some lines: treat as gone
	}
	return nil
}

func atoiField(f []string, i int) (int, error) {
	if i >= len(f) {
		return 0, errors.New("missing field")
	}
	return strconv.Atoi(f[i])
}

func u32Field(f []string, i int) (uint32, error) {
	if i >= len(f) {
		return 0, errors.New("missing field")
	}
	v, err := strconv.ParseUint(f[i], 10, 32)
	return uint32(v), err
}

// sameNamespace compares two namespace files under /proc.
func sameNamespace(a, b string) bool {
	var sa, sb unix.Stat_t
	return unix.Fstatat(hostProc, a, &sa, 0) == nil && unix.Fstatat(hostProc, b, &sb, 0) == nil &&
		sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// procRead reads a file under /proc (see procOpen). /proc files are generated on each read, so
// one read into a page-sized buffer takes the whole of a small one (status is ~1.5 KiB).
func procRead(name string) ([]byte, error) {
	fd, err := procOpen(name, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, err
	}
	for n == len(buf) { // larger than a page: read the rest
		buf = append(buf, make([]byte, len(buf))...)
		m, err := unix.Read(fd, buf[n:])
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}

// readAllAt reads the file name (relative to dir) to its end. Unlike procRead it keeps reading
// after a short read: a seq_file with one record per line or socket (/proc/net/tcp) gives
// whole records per read, often less than was asked, so one short read is not its end.
func readAllAt(dir int, name string) ([]byte, error) {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return io.ReadAll(f)
}

// readString copies a NUL-terminated string of at most max bytes from the target's memory:
// the copy is what is decided on and acted on, whatever the target does to its memory after.
// Reads go page by page so that a string ending just before an unmapped page is still read.
func (t *target) readString(addr uint64, max int) (string, error) {
	if addr == 0 {
		return "", unix.EFAULT
	}
	mem, err := t.memory()
	if err != nil {
		return "", err
	}
	var out []byte
	for len(out) < max {
		n := 4096 - int((addr+uint64(len(out)))%4096)
		buf := make([]byte, n)
		got, err := mem.ReadAt(buf, int64(addr)+int64(len(out)))
		if got == 0 && err != nil {
			return "", unix.EFAULT
		}
		if i := bytes.IndexByte(buf[:got], 0); i >= 0 {
			return string(append(out, buf[:i]...)), nil
		}
		out = append(out, buf[:got]...)
	}
	return "", unix.ENAMETOOLONG
}

// readBytes copies n bytes from the target's memory.
func (t *target) readBytes(addr uint64, n int) ([]byte, error) {
	buf := make([]byte, n)
	if n == 0 {
		return buf, nil
	}
	mem, err := t.memory()
	if err != nil {
		return nil, err
	}
	if got, err := mem.ReadAt(buf, int64(addr)); err != nil || got != n {
		return nil, unix.EFAULT
	}
	return buf, nil
}

// writeBytes copies b into the target's memory (its buffer for the syscall's answer).
func (t *target) writeBytes(addr uint64, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	mem, err := t.memory()
	if err != nil {
		return err
	}
	if got, err := mem.WriteAt(b, int64(addr)); err != nil || got != len(b) {
		return unix.EFAULT
	}
	return nil
}

// fd duplicates the target's file descriptor n into the supervisor (pidfd_getfd), so an
// operation on "the fd the process named" acts on the very open file the process holds.
func (t *target) fd(n int) (int, error) {
	if n < 0 {
		return -1, unix.EBADF
	}
	pidfd, err := t.pidFD()
	if err != nil {
		return -1, err
	}
	fd, err := unix.PidfdGetfd(pidfd, n, 0)
	if errors.Is(err, unix.EBADF) {
		return t.pathFD(n)
	}
	if err != nil {
		return -1, unix.EPERM
	}
	return fd, nil // pidfd_getfd sets close-on-exec
}

// pathFD is fd for an O_PATH file, which pidfd_getfd refuses (EBADF): an O_PATH handle on
// the same object, through the thread's /proc fd link, checked against the notification like
// every handle (a reused pid is noticed). It is what a dirfd or an AT_EMPTY_PATH names.
func (t *target) pathFD(n int) (int, error) {
	fd, err := procOpen(t.procPath("fd/"+strconv.Itoa(n)), unix.O_PATH)
	if err != nil {
		return -1, unix.EBADF
	}
	if err := t.valid(); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
