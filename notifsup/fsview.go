package notifsup

import (
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// inView runs fn on a thread of its own that sees the file system as the target thread does
// (its root, its working directory or dirfd) and holds the target's file-system credentials
// and effective capabilities: a path is resolved, and an operation checked by the kernel's
// DAC, exactly as for the process itself. The thread is never given back to the Go runtime
// (the goroutine returns while locked), so nothing of the borrowed view outlives fn.
//
// dirfd is the supervisor's copy of the process's dirfd, or -1 for its working directory.
func (t *target) inView(dirfd int, fn func() (uint64, error)) (uint64, error) {
	type result struct {
		v   uint64
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		if err := t.enterView(dirfd); err != nil {
			ch <- result{err: err}
			return
		}
		v, err := fn()
		ch <- result{v, err}
	}()
	r := <-ch
	return r.v, r.err
}

func (t *target) enterView(dirfd int) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return unix.EPERM
	}
	if !sameInode(t.root, "/") {
		// The process is chrooted (a container): resolve as it would. Needs CAP_SYS_CHROOT;
		// without it the operation fails closed.
		if unix.Fchdir(t.root) != nil || unix.Chroot(".") != nil {
			return unix.EPERM
		}
	}
	cwd := t.cwd
	if dirfd >= 0 {
		cwd = dirfd
	}
	if err := unix.Fchdir(cwd); err != nil {
		return err
	}
	return t.creds.assume()
}

func sameInode(fd int, path string) bool {
	var a, b unix.Stat_t
	return unix.Fstat(fd, &a) == nil && unix.Stat(path, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

// assume gives the calling thread these credentials. Every call is the raw, per-thread
// syscall (Go's wrappers change every thread of the process).
func (c creds) assume() error {
	if err := setGroupsThread(c.groups); err != nil {
		return err
	}
	if err := setFSIDThread(unix.SYS_SETFSGID, c.fsgid); err != nil {
		return err
	}
	if err := setFSIDThread(unix.SYS_SETFSUID, c.fsuid); err != nil {
		return err
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return unix.EPERM
	}
	eff := c.capEff
	if c.foreignUserns {
		eff = 0 // capabilities held in another user namespace grant nothing on the host's files
	}
	for i := range data {
		data[i].Effective = uint32(eff>>(32*i)) & data[i].Permitted
		data[i].Inheritable = 0
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return unix.EPERM
	}
	return nil
}

func setGroupsThread(groups []uint32) error {
	n, _, e := unix.RawSyscall(unix.SYS_GETGROUPS, 0, 0, 0)
	if e == 0 && int(n) == len(groups) {
		cur := make([]uint32, n+1)
		n, _, e = unix.RawSyscall(unix.SYS_GETGROUPS, uintptr(len(cur)), uintptr(unsafe.Pointer(&cur[0])), 0)
		if e == 0 && slices.Equal(cur[:n], groups) {
			return nil // nothing to change (and an unprivileged supervisor could not)
		}
	}
	var p uintptr
	if len(groups) > 0 {
		p = uintptr(unsafe.Pointer(&groups[0]))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), p, 0); e != 0 {
		return unix.EPERM
	}
	return nil
}

// setFSIDThread sets the thread's fsuid or fsgid. The syscall reports the previous value
// whatever happens, so success is checked by asking again.
func setFSIDThread(nr uintptr, id uint32) error {
	unix.RawSyscall(nr, uintptr(id), 0, 0)
	cur, _, _ := unix.RawSyscall(nr, ^uintptr(0), 0, 0)
	if uint32(cur) != id {
		return unix.EPERM
	}
	return nil
}

// resolvePath opens path (O_PATH) from inside the view, as the process would name it, but never
// through a /proc magic link: on behalf of the process such a link would be followed with the
// supervisor's reach, not the process's (/proc/PID/root of a host process). The spellings by
// which a process names its own fds (/proc/self/fd/N, ...) are turned into fd numbers by
// ownFDRef before this.
func resolvePath(path string, nofollow bool) (int, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_MAGICLINKS}
	if nofollow {
		how.Flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &how)
	if err == unix.ELOOP && strings.HasPrefix(path, "/proc/") {
		return -1, unix.EACCES // a magic link the supervisor will not follow for the process
	}
	return fd, err
}

// ownFDRef recognises the paths by which a process names one of its own fds, which libc uses
// (lchmod's fallback chmods /proc/self/fd/N): they are acted on as the fd itself.
func (t *target) ownFDRef(path string) (int, bool) {
	for _, pre := range []string{"/proc/self/fd/", "/proc/thread-self/fd/",
		"/proc/" + strconv.Itoa(t.tgid) + "/fd/", "/proc/" + strconv.Itoa(t.tgid) + "/task/" + strconv.Itoa(t.tid) + "/fd/"} {
		if rest, ok := strings.CutPrefix(path, pre); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 0 && strconv.Itoa(n) == rest {
				return n, true
			}
		}
	}
	return 0, false
}

// ownProcPath rewrites /proc/self and /proc/thread-self to the process's own pid: resolved in
// the supervisor's thread, "self" would name the supervisor.
func (t *target) ownProcPath(path string) string {
	for pre, repl := range map[string]string{
		"/proc/self":        "/proc/" + strconv.Itoa(t.tgid),
		"/proc/thread-self": "/proc/" + strconv.Itoa(t.tgid) + "/task/" + strconv.Itoa(t.tid),
	} {
		if rest, ok := strings.CutPrefix(path, pre); ok && (rest == "" || rest[0] == '/') {
			return repl + rest
		}
	}
	return path
}
