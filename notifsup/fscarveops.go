package notifsup

import (
	"runtime"
	"strconv"
	"strings"
	"time"

	seccomp "github.com/seccomp/libseccomp-golang"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/openat2"
)

// The path syscalls FSCarve mediates, by the x86_64 ABI (args are the syscall's arguments).
var carveOps = map[string]carveOp{
	"open":      openOp(-1, 0, 1, 2),
	"openat":    openOp(0, 1, 2, 3),
	"creat":     creatOp,
	"openat2":   openat2Op,
	"mkdir":     mkdirOp(-1, 0, 1),
	"mkdirat":   mkdirOp(0, 1, 2),
	"mknod":     mknodOp(-1, 0, 1, 2),
	"mknodat":   mknodOp(0, 1, 2, 3),
	"symlink":   symlinkOp(0, -1, 1),
	"symlinkat": symlinkOp(0, 1, 2),
	"link":      linkOp(objArgs{dir: -1, path: 0, fd: -1, flags: -1}, objArgs{dir: -1, path: 1, fd: -1, flags: -1}, -1),
	"linkat":    linkOp(objArgs{dir: 0, path: 1, fd: -1, flags: 4}, objArgs{dir: 2, path: 3, fd: -1, flags: -1}, 4),
	"rename":    renameOp(objArgs{dir: -1, path: 0, fd: -1, flags: -1}, objArgs{dir: -1, path: 1, fd: -1, flags: -1}, -1),
	"renameat":  renameOp(objArgs{dir: 0, path: 1, fd: -1, flags: -1}, objArgs{dir: 2, path: 3, fd: -1, flags: -1}, -1),
	"renameat2": renameOp(objArgs{dir: 0, path: 1, fd: -1, flags: -1}, objArgs{dir: 2, path: 3, fd: -1, flags: -1}, 4),
	"unlink":    removeOp(-1, 0, -1, 0),
	"unlinkat":  removeOp(0, 1, 2, 0),
	"rmdir":     removeOp(-1, 0, -1, unix.AT_REMOVEDIR),
	"truncate":  truncateOp,
}

// at is objArgs for a dirfd (-1: none) and a path.
func at(dir, path int) objArgs { return objArgs{dir: dir, path: path, fd: -1, flags: -1} }

func openOp(dir, path, flags, mode int) carveOp {
	return func(cc *carveCall) (carveResult, error) {
		o, err := cc.object(at(dir, path))
		if err != nil {
			return notMine, err
		}
		return cc.open(o, cc.a[flags]&0xffffffff, uint32(cc.a[mode]), 0)
	}
}

func creatOp(cc *carveCall) (carveResult, error) {
	o, err := cc.object(at(-1, 0))
	if err != nil {
		return notMine, err
	}
	return cc.open(o, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, uint32(cc.a[1]), 0)
}

func openat2Op(cc *carveCall) (carveResult, error) {
	flags, mode, resolve, err := cc.t.openHow(cc.a[2], cc.a[3])
	if err != nil {
		return notMine, err
	}
	if mode > 0o7777 || (mode != 0 && flags&(unix.O_CREAT|unix.O_TMPFILE) == 0) {
		return notMine, unix.EINVAL
	}
	o, err := cc.object(at(0, 1))
	if err != nil {
		return notMine, err
	}
	if dirfd := int(int32(cc.a[0])); resolve&(unix.RESOLVE_BENEATH|unix.RESOLVE_IN_ROOT) != 0 &&
		strings.HasPrefix(o.path, "/") && dirfd != unix.AT_FDCWD {
		// An absolute path starts from the dirfd too (object keeps it for a relative one).
		if o.dirfd, err = cc.t.fd(dirfd); err != nil {
			return notMine, err
		}
	}
	return cc.open(o, flags, uint32(mode), resolve)
}

// resolveObj opens path (O_PATH) as the process would name it, relative to o's dirfd or the
// process's cwd (an absolute one too under RESOLVE_BENEATH or RESOLVE_IN_ROOT), with the
// caller's resolve flags and never through a /proc magic link (the process's own cwd and root
// links excepted: the view has them, see viewPath).
func (cc *carveCall) resolveObj(o *object, path string, flags, resolve uint64) (int, error) {
	inRoot := resolve&(unix.RESOLVE_BENEATH|unix.RESOLVE_IN_ROOT) != 0
	if !inRoot {
		path = cc.viewPath(path)
	}
	base := unix.AT_FDCWD
	switch {
	case strings.HasPrefix(path, "/") && !inRoot:
	case o.dirfd >= 0:
		base = o.dirfd
	default:
		if err := cc.cwd(); err != nil {
			return -1, err
		}
	}
	if w := cc.c.w; w.beneath >= 0 && !inRoot {
		// The worker could not take the process's root (inView): the path is resolved beneath
		// it, as resolvePath does, not from the supervisor's root (the host's workdir under
		// the process's copy-on-write overlay).
		w.base = base
		if base == unix.AT_FDCWD {
			w.base, _ = cc.t.cwdFD()
		}
		var err error
		if path, err = w.beneathName(path); err != nil {
			return -1, err
		}
		base, resolve = w.beneath, resolve|unix.RESOLVE_IN_ROOT
	}
	how := unix.OpenHow{Flags: flags | unix.O_PATH | unix.O_CLOEXEC,
		Resolve: (resolve | unix.RESOLVE_NO_MAGICLINKS) &^ resolveCached}
	fd, err := openat2.Open(base, path, &how)
	if err != nil {
		return -1, err
	}
	return cc.track(fd), nil
}

// pseudoFS: fd is on a kernel file system (proc, sys, cgroup, ...) whose entries are not
// files: the supervisor never acts on those on behalf.
func pseudoFS(fd int) bool {
	var sfs unix.Statfs_t
	if unix.Fstatfs(fd, &sfs) != nil {
		return true
	}
	switch sfs.Type {
	case unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC, unix.CGROUP_SUPER_MAGIC, unix.CGROUP2_SUPER_MAGIC,
		unix.DEBUGFS_MAGIC, unix.SECURITYFS_MAGIC, unix.TRACEFS_MAGIC, unix.BPF_FS_MAGIC, unix.DEVPTS_SUPER_MAGIC:
		return true
	}
	return false
}

// viewPath turns /proc/PID/cwd/... and /proc/PID/root/... of the calling process (its own
// thread's too; /proc/self was made /proc/PID already) into what they lead to in the view the
// worker holds: the process's cwd (the worker's) and root (the worker's). Any other process's
// links stay magic links, which resolveObj does not follow.
func (cc *carveCall) viewPath(path string) string {
	pid := "/proc/" + strconv.Itoa(cc.t.tgid)
	for _, pre := range []string{pid, pid + "/task/" + strconv.Itoa(cc.t.tid)} {
		if rest, ok := strings.CutPrefix(path, pre+"/cwd"); ok && (rest == "" || rest[0] == '/') {
			return "." + rest
		}
		if rest, ok := strings.CutPrefix(path, pre+"/root"); ok && (rest == "" || rest[0] == '/') {
			return "/" + strings.TrimPrefix(rest, "/")
		}
	}
	return path
}

// resolveCached is RESOLVE_CACHED, which x/sys does not define: the supervisor resolves for
// real, so it drops it.
const resolveCached = 0x20

// accessOf is what open flags need: reading, writing.
func accessOf(flags uint64) (read, write bool) {
	if flags&unix.O_PATH != 0 {
		return false, false
	}
	acc := flags & unix.O_ACCMODE
	return acc != unix.O_WRONLY, acc != unix.O_RDONLY || flags&unix.O_TRUNC != 0
}

func isTmpfile(flags uint64) bool { return flags&unix.O_TMPFILE == unix.O_TMPFILE }

func (cc *carveCall) open(o *object, flags uint64, mode uint32, resolve uint64) (carveResult, error) {
	if o.selfLink != "" {
		return notMine, nil
	}
	if o.fd >= 0 { // /proc/self/fd/N: the process reopens its own file
		return cc.openExisting(o.fd, flags, mode)
	}
	var look uint64
	if flags&unix.O_NOFOLLOW != 0 || (flags&unix.O_CREAT != 0 && flags&unix.O_EXCL != 0) {
		look |= unix.O_NOFOLLOW
	}
	if flags&unix.O_DIRECTORY != 0 {
		look |= unix.O_DIRECTORY
	}
	fd, err := cc.resolveObj(o, o.path, look, resolve)
	switch {
	case err == nil:
		return cc.openExisting(fd, flags, mode)
	case err == unix.ENOENT && flags&unix.O_CREAT != 0:
		return cc.create(o, flags, mode, resolve)
	}
	// The kernel fails it the same way, or Landlock refuses it (FSCarve's argument).
	return notMine, nil
}

// openExisting opens the object fd resolved (or the process's own file) again, with the
// caller's flags, through /proc/thread-self/fd: the very object that was checked (with
// O_TMPFILE, the directory the unnamed file is made in, with mode and the process's umask).
func (cc *carveCall) openExisting(fd int, flags uint64, mode uint32) (carveResult, error) {
	p := cc.hostOf(fd)
	if p == "" || !cc.m.mediated(p) {
		return notMine, nil
	}
	if flags&unix.O_PATH != 0 {
		// ADDFD cannot pass an O_PATH file, and there is nothing to grant: Landlock does not
		// govern O_PATH opens (a denied object's included). An O_PATH handle reads, writes,
		// lists and changes nothing; each use of it that could (a reopen through
		// /proc/self/fd, linkat with AT_EMPTY_PATH, openat beneath it, execveat, the
		// metadata calls) is checked again, by Landlock and by this feature or fs-metadata,
		// on the object it names.
		return notMine, nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return notMine, err
	}
	if err := cc.m.check(p, &st); err != nil {
		return notMine, err
	}
	if t := st.Mode & unix.S_IFMT; t == unix.S_IFCHR || t == unix.S_IFBLK || pseudoFS(fd) {
		// A device node or a /proc, /sys entry that appeared after create (a disk plugged in,
		// another process's /proc/PID) is never granted on behalf: the supervisor would open it
		// outside the sandbox's domain (no ptrace scoping, no device rules). Landlock refuses
		// it for lack of a rule, as it did before fs_denied's mediation.
		return notMine, nil
	}
	tmp := isTmpfile(flags)
	if flags&unix.O_CREAT != 0 && flags&unix.O_EXCL != 0 && !tmp {
		return notMine, unix.EEXIST
	}
	read, write := accessOf(flags)
	if err := cc.m.need(p, read, write || tmp); err != nil {
		return notMine, err
	}
	cloexec := flags&unix.O_CLOEXEC != 0
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return notMine, unix.ELOOP // O_NOFOLLOW on a symlink
	}
	if st.Mode&unix.S_IFMT == unix.S_IFIFO && flags&unix.O_NONBLOCK == 0 {
		// Opening a FIFO waits for the other end: not on a worker (openFIFO).
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return notMine, err
		}
		return carveResult{fd: dup, fifo: true, flags: flags, cloexec: cloexec}, nil
	}
	var nfd int
	err := cc.withUmask(func() error {
		var err error
		nfd, err = unix.Openat(hostProc, "thread-self/fd/"+strconv.Itoa(fd),
			int(flags&^(unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW))|unix.O_CLOEXEC, mode)
		return err
	})
	if err != nil {
		return notMine, err
	}
	cc.track(nfd)
	var got unix.Stat_t
	if !tmp && (unix.Fstat(nfd, &got) != nil || got.Dev != st.Dev || got.Ino != st.Ino) {
		return notMine, unix.EACCES // cannot happen: the link names the fd's own object
	}
	return carveResult{fd: nfd, cloexec: cloexec}, nil
}

// create makes a new file in a mediated directory: one component from the checked directory
// fd, never following a symlink.
func (cc *carveCall) create(o *object, flags uint64, mode uint32, resolve uint64) (carveResult, error) {
	e, ok := cc.entry(o, resolve)
	if !ok || e.mustDir || !cc.m.mediated(e.dir) {
		return notMine, nil
	}
	if _, err := e.lstat(); err == nil {
		return notMine, nil // a dangling symlink (or made meanwhile): the kernel's, under Landlock
	}
	p := e.path()
	if err := cc.m.check(p, nil); err != nil {
		return notMine, err
	}
	if err := cc.m.need(e.dir, false, true); err != nil {
		return notMine, err
	}
	var nfd int
	err := cc.withUmask(func() error {
		var err error
		nfd, err = unix.Openat(e.parent, e.name, int(flags|unix.O_NOFOLLOW|unix.O_CLOEXEC), mode)
		return err
	})
	if err != nil {
		return notMine, err
	}
	cc.track(nfd)
	var st unix.Stat_t
	if err := unix.Fstat(nfd, &st); err != nil {
		return notMine, err
	}
	if err := cc.m.check(p, &st); err != nil {
		return notMine, err
	}
	return carveResult{fd: nfd, cloexec: flags&unix.O_CLOEXEC != 0}, nil
}

// withUmask runs fn with the process's umask (the worker's fs context is its own).
func (cc *carveCall) withUmask(fn func() error) error {
	old := unix.Umask(cc.t.umask)
	defer unix.Umask(old)
	return fn()
}

// entry is a name in a directory, as a syscall that creates, renames or removes it names it:
// the directory resolved (an O_PATH fd and its host path) and the last component.
type entry struct {
	parent  int
	dir     string
	name    string
	mustDir bool // the path ended in "/"
}

func (e entry) path() string { return joinPath(e.dir, e.name) }

func (e entry) lstat() (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(e.parent, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, err
	}
	return &st, nil
}

// entry resolves o as an entry; false when it is not one the supervisor handles (a path
// naming an fd, ending in "." or "..", or whose directory cannot be resolved): the kernel
// answers those under Landlock.
func (cc *carveCall) entry(o *object, resolve uint64) (entry, bool) {
	if o.fd >= 0 || o.selfLink != "" || o.path == "" {
		return entry{}, false
	}
	trimmed := strings.TrimRight(o.path, "/")
	if trimmed == "" {
		return entry{}, false
	}
	e := entry{mustDir: len(trimmed) != len(o.path), name: trimmed}
	dir := "."
	if i := strings.LastIndexByte(trimmed, '/'); i >= 0 {
		dir, e.name = trimmed[:i], trimmed[i+1:]
		if dir == "" {
			dir = "/"
		}
	}
	if e.name == "." || e.name == ".." {
		return entry{}, false
	}
	fd, err := cc.resolveObj(o, dir, unix.O_DIRECTORY, resolve)
	if err != nil || pseudoFS(fd) {
		return entry{}, false
	}
	if e.dir = cc.hostOf(fd); e.dir == "" {
		return entry{}, false
	}
	e.parent = fd
	return e, true
}

// entryFor copies the path and resolves it as an entry in a mediated directory; ok false
// means NotMine.
func (cc *carveCall) entryFor(spec objArgs) (entry, bool, error) {
	o, err := cc.object(spec)
	if err != nil {
		return entry{}, false, err
	}
	e, ok := cc.entry(o, 0)
	return e, ok && cc.m.mediated(e.dir), nil
}

// made is the common part of mkdir, mknod and symlink: a new name in a mediated directory.
func (cc *carveCall) made(spec objArgs, do func(e entry) error) (carveResult, error) {
	e, ok, err := cc.entryFor(spec)
	if err != nil || !ok {
		return notMine, err
	}
	if err := cc.m.check(e.path(), nil); err != nil {
		return notMine, err
	}
	if err := cc.m.need(e.dir, false, true); err != nil {
		return notMine, err
	}
	return value(0), cc.withUmask(func() error { return do(e) })
}

func mkdirOp(dir, path, mode int) carveOp {
	return func(cc *carveCall) (carveResult, error) {
		m := uint32(cc.a[mode])
		return cc.made(at(dir, path), func(e entry) error { return unix.Mkdirat(e.parent, e.name, m) })
	}
}

func mknodOp(dir, path, mode, dev int) carveOp {
	return func(cc *carveCall) (carveResult, error) {
		m, d := uint32(cc.a[mode]), int(cc.a[dev])
		if t := m & unix.S_IFMT; t == unix.S_IFCHR || t == unix.S_IFBLK {
			return notMine, nil // Landlock never grants device nodes: the kernel refuses it
		}
		return cc.made(at(dir, path), func(e entry) error { return unix.Mknodat(e.parent, e.name, m, d) })
	}
}

func symlinkOp(target, dir, path int) carveOp {
	return func(cc *carveCall) (carveResult, error) {
		to, err := cc.t.readString(cc.a[target], pathMax)
		if err != nil {
			return notMine, err
		}
		if to == "" {
			return notMine, unix.ENOENT
		}
		return cc.made(at(dir, path), func(e entry) error { return unix.Symlinkat(to, e.parent, e.name) })
	}
}

func removeOp(dir, path, flagsArg, flags int) carveOp {
	return func(cc *carveCall) (carveResult, error) {
		if flagsArg >= 0 {
			flags = int(int32(cc.a[flagsArg]))
		}
		e, ok, err := cc.entryFor(at(dir, path))
		if err != nil || !ok {
			return notMine, err
		}
		st, err := e.lstat()
		if err != nil {
			return notMine, err
		}
		if err := cc.m.checkMove(e.path(), st); err != nil {
			return notMine, err
		}
		if err := cc.m.need(e.dir, false, true); err != nil {
			return notMine, err
		}
		return value(0), unix.Unlinkat(e.parent, e.name, flags)
	}
}

func truncateOp(cc *carveCall) (carveResult, error) {
	o, err := cc.object(at(-1, 0))
	if err != nil || o.fd >= 0 || o.selfLink != "" {
		return notMine, err
	}
	fd, err := cc.resolveObj(o, o.path, 0, 0)
	if err != nil {
		return notMine, nil
	}
	r, err := cc.openExisting(fd, unix.O_WRONLY, 0)
	if err != nil || r.notMine {
		return r, err
	}
	if r.fifo {
		unix.Close(r.fd)
		return notMine, unix.EINVAL // truncate(2) of a FIFO
	}
	return value(0), unix.Ftruncate(r.fd, int64(cc.a[1]))
}

// refer refuses, as Landlock's REFER check does, giving an object at its new name more
// rights than it had at its old one.
func (m *carveModel) refer(from, to string) error {
	fr, fw := m.rights(from)
	tr, tw := m.rights(to)
	if (tr && !fr) || (tw && !fw) {
		return refuse(unix.EXDEV, to, "fs_writable")
	}
	return nil
}

func linkOp(old, new objArgs, flagsArg int) carveOp {
	return func(cc *carveCall) (carveResult, error) {
		var flags int
		if flagsArg >= 0 {
			flags = int(int32(cc.a[flagsArg]))
		}
		o, err := cc.object(old)
		if err != nil || o.selfLink != "" {
			return notMine, err
		}
		follow := flags&unix.AT_SYMLINK_FOLLOW != 0
		ofd := o.fd
		switch {
		case ofd >= 0 && !follow && flags&unix.AT_EMPTY_PATH == 0:
			return notMine, nil // linking the /proc magic link itself: the kernel refuses it
		case ofd < 0:
			var look uint64
			if !follow {
				look = unix.O_NOFOLLOW
			}
			if ofd, err = cc.resolveObj(o, o.path, look, 0); err != nil {
				return notMine, nil
			}
		}
		no, err := cc.object(new)
		if err != nil {
			return notMine, err
		}
		e, ok := cc.entry(no, 0)
		if !ok {
			return notMine, nil
		}
		var st unix.Stat_t
		if err := unix.Fstat(ofd, &st); err != nil {
			return notMine, err
		}
		from := cc.linkSource(ofd)
		if !cc.m.mediated(e.dir) && (from == "" || !cc.m.mediated(from)) {
			return notMine, nil
		}
		if err := cc.m.check(from, &st); err != nil {
			return notMine, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return notMine, unix.EPERM
		}
		to := e.path()
		if err := cc.m.check(to, nil); err != nil {
			return notMine, err
		}
		if err := cc.m.need(e.dir, false, true); err != nil {
			return notMine, err
		}
		if err := cc.m.refer(from, to); err != nil {
			return notMine, err
		}
		return value(0), unix.Linkat(hostProc, "thread-self/fd/"+strconv.Itoa(ofd), e.parent, e.name, unix.AT_SYMLINK_FOLLOW)
	}
}

// linkSource is the host path a link's source is judged by: its name, or for a file open by a
// name it no longer has (O_TMPFILE, or unlinked) a name in the directory it was in, whose
// rules it had.
func (cc *carveCall) linkSource(fd int) string {
	if p := cc.hostOf(fd); p != "" {
		return p
	}
	name, err := fdName(fd)
	if err != nil || !strings.HasPrefix(name, "/") || !strings.HasSuffix(name, " (deleted)") {
		return ""
	}
	dir := name[:strings.LastIndexByte(name, '/')]
	if dir == "" {
		dir = "/"
	}
	return joinPath(cc.c.w.hostName(dir), ".sandlock-unnamed")
}

func renameOp(old, new objArgs, flagsArg int) carveOp {
	return func(cc *carveCall) (carveResult, error) {
		var flags uint
		if flagsArg >= 0 {
			flags = uint(uint32(cc.a[flagsArg]))
		}
		oo, err := cc.object(old)
		if err != nil {
			return notMine, err
		}
		no, err := cc.object(new)
		if err != nil {
			return notMine, err
		}
		oe, ok1 := cc.entry(oo, 0)
		ne, ok2 := cc.entry(no, 0)
		if !ok1 || !ok2 || (!cc.m.mediated(oe.dir) && !cc.m.mediated(ne.dir)) {
			return notMine, nil
		}
		from, to := oe.path(), ne.path()
		ost, err := oe.lstat()
		if err != nil {
			return notMine, err
		}
		if err := cc.m.checkMove(from, ost); err != nil {
			return notMine, err
		}
		nst, err := ne.lstat()
		if err == nil {
			err = cc.m.checkMove(to, nst)
		} else {
			err = cc.m.check(to, nil)
		}
		if err != nil {
			return notMine, err
		}
		for _, d := range []string{oe.dir, ne.dir} {
			if err := cc.m.need(d, false, true); err != nil {
				return notMine, err
			}
		}
		if err := cc.m.refer(from, to); err != nil {
			return notMine, err
		}
		if flags&unix.RENAME_EXCHANGE != 0 {
			if err := cc.m.refer(to, from); err != nil {
				return notMine, err
			}
		}
		return value(0), unix.Renameat2(oe.parent, oe.name, ne.parent, ne.name, flags)
	}
}

// openFIFO opens the FIFO path (an O_PATH fd on it, checked, which it closes) for the call
// from a goroutine of its own, since the open waits for the other end: on a thread of its own
// that takes the process's credentials (DAC is checked as for the process) and is never given
// back (it ends with the goroutine), through /proc/thread-self/fd, then gives the fd to the
// process.
func (c *Call) openFIFO(path int, flags uint64, cloexec bool, tc threadCreds) {
	c.Defer(func() seccomp.ScmpNotifResp {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		defer unix.Close(path)
		own, err := currentCreds()
		if err != nil || tc.assume(tc.sameIDs(own)) != nil {
			return errnoResp(unix.EPERM)
		}
		done, released := make(chan struct{}), make(chan struct{})
		go func() { c.releaseFIFO(path, flags, done); close(released) }()
		fd, err := unix.Openat(hostProc, "thread-self/fd/"+strconv.Itoa(path),
			int(flags&^(unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW))|unix.O_CLOEXEC, 0)
		close(done)
		<-released // path stays open until the watcher is done with it
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		defer unix.Close(fd)
		return c.InjectFD(fd, cloexec)
	})
}

// fifoReleasePoll is how often a waiting FIFO open asks whether its caller is still there.
const fifoReleasePoll = 100 * time.Millisecond

// releaseFIFO ends the wait of openFIFO's open when the call it is made for is gone (the
// process was killed in it): otherwise the supervisor's thread waited for the other end for
// ever, and a process that opened FIFOs in children it then killed made the supervisor, which
// is outside the container's cgroup and its pids limit, hold a thread for each (300 children,
// 300 threads). The other end is opened without waiting, and closed at once: the waiting open
// returns, its fd is closed when it cannot be installed. path is the checked O_PATH fd, which
// openFIFO keeps open until this returns.
func (c *Call) releaseFIFO(path int, flags uint64, done <-chan struct{}) {
	tick := time.NewTicker(fifoReleasePoll)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		if seccomp.NotifIDValid(seccomp.ScmpFd(c.Listener), c.Req.ID) == nil {
			continue
		}
		other := unix.O_WRONLY // a reader waits for a writer
		if flags&unix.O_ACCMODE == unix.O_WRONLY {
			other = unix.O_RDONLY // a writer waits for a reader
		}
		if fd, err := unix.Openat(hostProc, "self/fd/"+strconv.Itoa(path), other|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
			unix.Close(fd)
		}
		return
	}
}
