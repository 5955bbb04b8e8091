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
// Everything is opened before the notification ID is checked: once the ID is known valid,
// every handle below belongs to the blocked thread, and stays bound to it (its memory, its
// root and cwd, its thread group by pidfd) even if the pid were reused later.
type target struct {
	tid, tgid int
	creds     creds
	mem       *os.File
	root, cwd int // O_PATH
	pidfd     int
}

// creds are the thread's credentials as the kernel would check them for a file operation.
type creds struct {
	fsuid, fsgid uint32
	groups       []uint32
	capEff       uint64
	// foreignUserns: the thread is in another user namespace than the supervisor, so its
	// capabilities mean nothing here and are not lent to the worker (see fsWorker).
	foreignUserns bool
}

// pinTarget opens the target's view and checks the notification is still valid. writeMem opens
// its memory for writing too (handlers that return data through a buffer).
func pinTarget(listener int, req *seccomp.ScmpNotifReq, writeMem bool) (*target, error) {
	t := &target{tid: int(req.Pid), root: -1, cwd: -1, pidfd: -1}
	status, err := procRead(t.procPath("status"))
	if err != nil {
		return nil, unix.ESRCH
	}
	if err := t.parseStatus(status); err != nil {
		return nil, err
	}
	if err := t.open(writeMem); err != nil {
		t.close()
		return nil, err
	}
	if err := seccomp.NotifIDValid(seccomp.ScmpFd(listener), req.ID); err != nil {
		t.close()
		return nil, unix.ENOENT
	}
	return t, nil
}

// procPath names a file of the thread under /proc (relative: see procOpen).
func (t *target) procPath(name string) string {
	return strconv.Itoa(t.tid) + "/" + name
}

func (t *target) open(writeMem bool) error {
	flag := os.O_RDONLY
	if writeMem {
		flag = os.O_RDWR
	}
	mem, err := procOpen(t.procPath("mem"), flag)
	if err != nil {
		return unix.ESRCH
	}
	t.mem = os.NewFile(uintptr(mem), "mem")
	if t.root, err = procOpen(t.procPath("root"), unix.O_PATH|unix.O_DIRECTORY); err != nil {
		return unix.ESRCH
	}
	if t.cwd, err = procOpen(t.procPath("cwd"), unix.O_PATH|unix.O_DIRECTORY); err != nil {
		return unix.ESRCH
	}
	if t.pidfd, err = unix.PidfdOpen(t.tgid, 0); err != nil {
		return unix.ESRCH
	}
	t.creds.foreignUserns = !sameNamespace(t.procPath("ns/user"), "self/ns/user")
	return nil
}

func (t *target) close() {
	if t.mem != nil {
		t.mem.Close()
	}
	for _, fd := range []int{t.root, t.cwd, t.pidfd} {
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
			t.creds.fsuid, err = u32Field(f, 3)
		case "Gid":
			t.creds.fsgid, err = u32Field(f, 3)
		case "Groups":
			for i := range f {
				g, gerr := u32Field(f, i)
				err = errors.Join(err, gerr)
				t.creds.groups = append(t.creds.groups, g)
			}
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

// procRead reads a file under /proc (see procOpen).
func procRead(name string) ([]byte, error) {
	fd, err := procOpen(name, unix.O_RDONLY)
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
	var out []byte
	for len(out) < max {
		n := 4096 - int((addr+uint64(len(out)))%4096)
		buf := make([]byte, n)
		got, err := t.mem.ReadAt(buf, int64(addr)+int64(len(out)))
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
	if got, err := t.mem.ReadAt(buf, int64(addr)); err != nil || got != n {
		return nil, unix.EFAULT
	}
	return buf, nil
}

// writeBytes copies b into the target's memory (its buffer for the syscall's answer).
func (t *target) writeBytes(addr uint64, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if got, err := t.mem.WriteAt(b, int64(addr)); err != nil || got != len(b) {
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
	fd, err := unix.PidfdGetfd(t.pidfd, n, 0)
	if err != nil {
		if errors.Is(err, unix.EBADF) {
			return -1, unix.EBADF
		}
		return -1, unix.EPERM
	}
	unix.CloseOnExec(fd)
	return fd, nil
}
