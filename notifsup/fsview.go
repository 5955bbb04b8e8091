package notifsup

import (
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// threadCreds are what a view thread borrows: every id (real, effective, saved, file-system),
// groups and the capability sets. The real and saved ids matter beyond files: a datagram the
// thread sends carries its real ids as SCM_CREDENTIALS to a receiver that asks (SO_PASSCRED),
// and an explicit SCM_CREDENTIALS may name any of its real, effective and saved ids; with the
// supervisor's there, a uid-1000 process's datagrams, performed on its behalf, reached their
// receiver as uid 0 (docs/security.md, "Unix sockets by path").
type threadCreds struct {
	ruid, rgid   uint32
	euid, egid   uint32
	suid, sgid   uint32
	fsuid, fsgid uint32
	groups       []uint32
	caps         [2]unix.CapUserData
}

// threadCreds are the target's credentials as a view thread takes them: its effective
// capabilities within what the supervisor holds (none from another user namespace: pinTarget
// cleared them), the supervisor's permitted set kept so they can be given back.
func (c creds) threadCreds() threadCreds {
	tc := threadCreds{ruid: c.ruid, rgid: c.rgid, euid: c.euid, egid: c.egid, suid: c.suid, sgid: c.sgid,
		fsuid: c.fsuid, fsgid: c.fsgid, groups: c.groups}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	_ = unix.Capget(&hdr, &tc.caps[0])
	for i := range tc.caps {
		tc.caps[i].Effective = uint32(c.capEff>>(32*i)) & tc.caps[i].Permitted
		tc.caps[i].Inheritable = 0
	}
	return tc
}

// sameIDs: c has o's ids and groups, so taking c only changes the capabilities.
func (c threadCreds) sameIDs(o threadCreds) bool {
	return c.ruid == o.ruid && c.rgid == o.rgid && c.euid == o.euid && c.egid == o.egid &&
		c.suid == o.suid && c.sgid == o.sgid && c.fsuid == o.fsuid && c.fsgid == o.fsgid &&
		slices.Equal(c.groups, o.groups)
}

// currentCreds reads the calling thread's own credentials.
func currentCreds() (threadCreds, error) {
	var tc threadCreds
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	if err := unix.Capget(&hdr, &tc.caps[0]); err != nil {
		return tc, unix.EPERM
	}
	uid, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, ^uintptr(0), 0, 0)
	gid, _, _ := unix.RawSyscall(unix.SYS_SETFSGID, ^uintptr(0), 0, 0)
	tc.fsuid, tc.fsgid = uint32(uid), uint32(gid)
	var ids [6]uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETRESUID, uintptr(unsafe.Pointer(&ids[0])), uintptr(unsafe.Pointer(&ids[1])), uintptr(unsafe.Pointer(&ids[2]))); e != 0 {
		return tc, unix.EPERM
	}
	if _, _, e := unix.RawSyscall(unix.SYS_GETRESGID, uintptr(unsafe.Pointer(&ids[3])), uintptr(unsafe.Pointer(&ids[4])), uintptr(unsafe.Pointer(&ids[5]))); e != 0 {
		return tc, unix.EPERM
	}
	tc.ruid, tc.euid, tc.suid, tc.rgid, tc.egid, tc.sgid = ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]
	n, _, e := unix.RawSyscall(unix.SYS_GETGROUPS, 0, 0, 0)
	if e != 0 {
		return tc, unix.EPERM
	}
	tc.groups = make([]uint32, n)
	if n > 0 {
		if _, _, e := unix.RawSyscall(unix.SYS_GETGROUPS, n, uintptr(unsafe.Pointer(&tc.groups[0])), 0); e != 0 {
			return tc, unix.EPERM
		}
	}
	return tc, nil
}

// assume gives the calling thread these credentials. Every call is the raw, per-thread
// syscall (Go's wrappers change every thread of the process). The capabilities go first so
// that the id changes may use the supervisor's (when taking its own back) and last again so
// that the effective set is exactly the one asked for (a fsuid change drops the fs ones).
func (c threadCreds) assume(capsOnly bool) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	if capsOnly {
		caps := c.caps
		if err := unix.Capset(&hdr, &caps[0]); err != nil {
			return unix.EPERM
		}
		return nil
	}
	var cur [2]unix.CapUserData
	if err := unix.Capget(&hdr, &cur[0]); err != nil {
		return unix.EPERM
	}
	for i := range cur {
		cur[i].Effective = cur[i].Permitted // what the id changes below may need
	}
	if err := unix.Capset(&hdr, &cur[0]); err != nil {
		return unix.EPERM
	}
	if err := setGroupsThread(c.groups); err != nil {
		return err
	}
	// Keep the permitted set when no id is 0 any more (per thread), so that the supervisor's
	// ids can be taken back; the effective set is set below.
	if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); e != 0 {
		return unix.EPERM
	}
	// Every id (they reset the fs ids, set after): the effective ones are what a connect made
	// for the process shows its peer (SO_PEERCRED), the real ones what its datagrams carry.
	if err := setIDsThread(unix.SYS_SETRESGID, c.rgid, c.egid, c.sgid); err != nil {
		return err
	}
	if err := setIDsThread(unix.SYS_SETRESUID, c.ruid, c.euid, c.suid); err != nil {
		return err
	}
	if err := setFSIDThread(unix.SYS_SETFSGID, c.fsgid); err != nil {
		return err
	}
	if err := setFSIDThread(unix.SYS_SETFSUID, c.fsuid); err != nil {
		return err
	}
	caps := c.caps
	if err := unix.Capset(&hdr, &caps[0]); err != nil {
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

// setIDsThread sets the thread's real, effective and saved uids or gids (setresuid or
// setresgid).
func setIDsThread(nr uintptr, real, eff, saved uint32) error {
	if _, _, e := unix.RawSyscall(nr, uintptr(real), uintptr(eff), uintptr(saved)); e != 0 {
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
func (w *worker) resolvePath(path string, nofollow bool) (int, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_MAGICLINKS}
	if nofollow {
		how.Flags |= unix.O_NOFOLLOW
	}
	dir, name := unix.AT_FDCWD, path
	if w.beneath >= 0 {
		var err error
		if name, err = w.beneathName(path); err != nil {
			return -1, err
		}
		dir = w.beneath
		how.Resolve |= unix.RESOLVE_IN_ROOT
	}
	fd, err := unix.Openat2(dir, name, &how)
	if err == unix.ELOOP && strings.HasPrefix(path, "/proc/") {
		return -1, unix.EACCES // a magic link the supervisor will not follow for the process
	}
	return fd, err
}

// beneathName is path relative to the process's root (w.beneath): a relative path is joined to
// the name of the directory it is relative to, as the kernel names both. The directory is the
// process's cwd or dirfd while it waits in its syscall; if it is moved meanwhile, the path names
// another file of the same root, which the process could have named itself.
func (w *worker) beneathName(path string) (string, error) {
	if !strings.HasPrefix(path, "/") {
		if w.base < 0 {
			return "", unix.ENOENT
		}
		dir, err := fdName(w.base)
		if err != nil {
			return "", unix.ENOENT
		}
		root, err := fdName(w.beneath)
		if err != nil {
			return "", unix.ENOENT
		}
		rest, ok := strings.CutPrefix(dir, strings.TrimSuffix(root, "/"))
		if !ok || rest != "" && rest[0] != '/' || strings.HasSuffix(dir, " (deleted)") {
			return "", unix.ENOENT
		}
		path = rest + "/" + path
	}
	if path = strings.TrimLeft(path, "/"); path == "" {
		path = "."
	}
	return path, nil
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
