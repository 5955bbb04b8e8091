package notifsup

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/openat2"
)

// lookup is a path a process named, copied out of its memory once.
type lookup struct {
	dirfd     int // the process's dirfd (AT_FDCWD: its working directory)
	path      string
	nofollow  bool   // the last component is not followed when it is a symlink
	resolve   uint64 // openat2's RESOLVE_* flags
	emptyPath bool   // AT_EMPTY_PATH: "" names dirfd itself
}

// resolved is the object a lookup reached: fd (O_PATH, or a copy of the process's own file),
// or, for the link /proc/self or /proc/thread-self itself (not followed), what it reads as.
type resolved struct {
	fd       int
	selfLink string
}

func (r resolved) close() {
	if r.fd >= 0 {
		unix.Close(r.fd)
	}
}

const maxSymlinks = 40 // the kernel's MAXSYMLINKS

// inViewOf resolves l in the process's view (its root, cwd or dirfd, credentials) and runs fn
// on the object, still in that view.
func (v *procView) inViewOf(c *Call, t *target, l lookup, fn func(resolved) (uint64, error)) (uint64, error) {
	if l.path == "" {
		if !l.emptyPath {
			return 0, unix.ENOENT
		}
		fd, err := t.ownDir(l.dirfd)
		if err != nil {
			return 0, err
		}
		r := resolved{fd: fd}
		defer r.close()
		return c.w.inView(t, noCwd, func() (uint64, error) {
			if err := v.checkStep(fd); err != nil {
				return 0, err
			}
			return fn(r)
		})
	}
	dir := noCwd
	if !strings.HasPrefix(l.path, "/") {
		dir = -1
		if l.dirfd != unix.AT_FDCWD {
			d, err := t.fd(l.dirfd)
			if err != nil {
				return 0, err
			}
			defer unix.Close(d)
			dir = d
		}
	}
	return c.w.inView(t, dir, func() (uint64, error) {
		r, err := v.resolve(t, l)
		if err != nil {
			return 0, err
		}
		defer r.close()
		return fn(r)
	})
}

// ownDir is a copy of the process's dirfd n, or of its working directory for AT_FDCWD.
func (t *target) ownDir(n int) (int, error) {
	if n != unix.AT_FDCWD {
		return t.fd(n)
	}
	cwd, err := t.cwdFD()
	if err != nil {
		return -1, err
	}
	return unix.FcntlInt(uintptr(cwd), unix.F_DUPFD_CLOEXEC, 0)
}

// walkErr is a failure of the walk inside /proc: the answer to give the process. A failure
// elsewhere is the kernel's to report (the process's own lookup, under Landlock).
type walkErr struct{ err error }

func (e *walkErr) Error() string { return e.err.Error() }
func (e *walkErr) Unwrap() error { return e.err }

// resolve opens l (O_PATH) on a thread that has the process's view. The common case is one
// openat2 without symlinks; when that reaches /proc, meets a symlink, or fails on a path that
// may name the process's "self", the path is walked again component by component (walk),
// because on the supervisor's thread /proc/self names the supervisor. A path with ".." is
// walked from the start.
func (v *procView) resolve(t *target, l lookup) (resolved, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: l.resolve | unix.RESOLVE_NO_MAGICLINKS}
	if l.nofollow {
		how.Flags |= unix.O_NOFOLLOW
	}
	if v.c.HidePIDs {
		// The kernel's walk of "/proc/PID/../.." (spelled so, or through a symlink) passes
		// another process's entry and leaves /proc: only the walk's checkStep sees that.
		if hasDotDot(l.path) {
			return v.walk(t, l)
		}
		how.Resolve |= unix.RESOLVE_NO_SYMLINKS // a symlink met: ELOOP, walked below
	}
	fd, err := openat2.Open(unix.AT_FDCWD, l.path, &how)
	if !v.c.HidePIDs {
		return resolved{fd: fd}, err
	}
	walk := err == unix.ELOOP || (err == nil && isProcFS(fd)) ||
		(err != nil && (strings.Contains(l.path, "self") || !strings.HasPrefix(l.path, "/") && cwdOnProc()))
	if !walk {
		return resolved{fd: fd}, err
	}
	if fd >= 0 {
		unix.Close(fd)
	}
	return v.walk(t, l)
}

// hasDotDot: path has a ".." component.
func hasDotDot(path string) bool {
	for _, c := range strings.Split(path, "/") {
		if c == ".." {
			return true
		}
	}
	return false
}

func cwdOnProc() bool {
	fd, err := unix.Open(".", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return isProcFS(fd)
}

// walk resolves l one component at a time, as the kernel would for the process: "self" and
// "thread-self" in the host's /proc root are the process's own pid (and thread), symlinks
// are read and followed (at most maxSymlinks), and a magic link is followed only when it is
// the process's own (/proc/PID/fd/N, cwd, root, exe of its own pid), opened through the
// supervisor's /proc. Every directory passed through is checked (checkStep): a lookup
// through another process's /proc entry ("/proc/PID/.." included) fails as if it were
// absent. The thread's root is the process's: ".." stops there.
func (v *procView) walk(t *target, l lookup) (resolved, error) {
	beneath := l.resolve&(unix.RESOLVE_BENEATH|unix.RESOLVE_IN_ROOT) != 0
	start := "."
	if strings.HasPrefix(l.path, "/") {
		if l.resolve&unix.RESOLVE_BENEATH != 0 {
			return resolved{fd: -1}, unix.EXDEV
		}
		if l.resolve&unix.RESOLVE_IN_ROOT == 0 {
			start = "/"
		}
	}
	cur, err := unix.Open(start, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return resolved{fd: -1}, err
	}
	fail := func(err error) (resolved, error) {
		if cur >= 0 {
			unix.Close(cur)
		}
		return resolved{fd: -1}, err
	}
	if err := v.checkStep(cur); err != nil {
		return fail(err)
	}
	comps := strings.Split(l.path, "/")
	links, depth := 0, 0
	for len(comps) > 0 {
		comp := comps[0]
		comps = comps[1:]
		last := len(comps) == 0 || allEmpty(comps)
		switch {
		case comp == "" || comp == ".":
			continue
		case comp == "..":
			if depth == 0 && beneath {
				if l.resolve&unix.RESOLVE_BENEATH != 0 {
					return fail(unix.EXDEV)
				}
				continue
			}
			next, err := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fail(v.inProc(cur, err))
			}
			unix.Close(cur)
			cur, depth = next, max(depth-1, 0)
			if err := v.checkStep(cur); err != nil {
				return fail(err)
			}
			continue
		case (comp == "self" || comp == "thread-self") && v.atProcRoot(cur):
			own := strconv.Itoa(t.tgid)
			if comp == "thread-self" {
				own += "/task/" + strconv.Itoa(t.tid)
			}
			if last && l.nofollow {
				unix.Close(cur)
				return resolved{fd: -1, selfLink: own}, nil
			}
			comps = append(strings.Split(own, "/"), comps...)
			continue
		}
		next, err := unix.Openat(cur, comp, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail(v.inProc(cur, err))
		}
		var st unix.Stat_t
		if err := unix.Fstat(next, &st); err != nil {
			unix.Close(next)
			return fail(err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK || (last && l.nofollow) {
			unix.Close(cur)
			cur = next
			depth++
			if err := v.checkStep(cur); err != nil {
				return fail(err)
			}
			continue
		}
		links++
		if links > maxSymlinks || l.resolve&unix.RESOLVE_NO_SYMLINKS != 0 {
			unix.Close(next)
			return fail(&walkErr{unix.ELOOP})
		}
		if isProcFS(next) && !v.atProcRoot(cur) {
			unix.Close(next)
			if beneath || l.resolve&unix.RESOLVE_NO_MAGICLINKS != 0 {
				return fail(&walkErr{unix.ELOOP})
			}
			obj, err := v.magic(t, cur, comp)
			if err != nil {
				return fail(&walkErr{err})
			}
			unix.Close(cur)
			cur, depth = obj, depth+1
			if err := v.checkStep(cur); err != nil {
				return fail(err)
			}
			continue
		}
		target, err := readlinkFD(next)
		unix.Close(next)
		if err != nil {
			return fail(err)
		}
		if strings.HasPrefix(target, "/") {
			if l.resolve&unix.RESOLVE_BENEATH != 0 {
				return fail(unix.EXDEV)
			}
			root := "/"
			if beneath {
				root = "."
			}
			nr, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fail(err)
			}
			unix.Close(cur)
			cur, depth = nr, 0
		}
		comps = append(strings.Split(target, "/"), comps...)
	}
	return resolved{fd: cur}, nil
}

func allEmpty(comps []string) bool {
	for _, c := range comps {
		if c != "" && c != "." {
			return false
		}
	}
	return true
}

// inProc marks err as the walk's answer when it happened inside /proc.
func (v *procView) inProc(cur int, err error) error {
	if isProcFS(cur) {
		return &walkErr{err}
	}
	return err
}

// checkStep refuses a directory of another process's /proc entry, or of another procfs
// instance, as the walk passes through it.
func (v *procView) checkStep(fd int) error {
	if !isProcFS(fd) {
		return nil
	}
	if err := v.checkProcObject(fd); err != nil {
		return &walkErr{err}
	}
	return nil
}

func (v *procView) atProcRoot(fd int) bool {
	k, err := keyOf(fd)
	// Through whichever mount: the copy-on-write workdir's view has its own copy of the
	// host's /proc mount, on the same procfs instance (the same pids).
	return err == nil && k.sameDir(v.procID)
}

// magic follows the magic link comp of the /proc directory cur: only the process's own (its
// pid or one of its threads), through the supervisor's /proc, so that it reaches what the
// link names for the process. Another process's links are refused: following them is
// ptrace's business, which the supervisor does not have on the process's behalf.
func (v *procView) magic(t *target, cur int, comp string) (int, error) {
	pid, rel, ok := v.procPid(cur)
	if !ok || (pid != t.tgid && pid != t.tid) {
		return -1, unix.EACCES
	}
	fd, err := procOpen(rel+"/"+comp, unix.O_PATH)
	if err != nil {
		return -1, err
	}
	return fd, t.valid()
}

// readlinkFD reads the symlink fd is open on (O_PATH|O_NOFOLLOW).
func readlinkFD(fd int) (string, error) {
	buf := make([]byte, pathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
