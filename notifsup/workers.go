package notifsup

import (
	"runtime"
	"strconv"
	"sync"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// maxWorkers bounds the supervisor's worker threads: enough that slow calls (performed on
// behalf of a process) never keep the others waiting, few enough to stay small.
const maxWorkers = 16

// workers are the threads that take and handle notifications, leader and followers. Each is a
// Go thread of its own (locked, never given back to the runtime) with its own file-system
// context (unshare(CLONE_FS)), so that it can take a process's root, cwd and credentials to act
// on its behalf (inView) without a hand-off to another thread. Only the leader receives; it
// keeps leading while its calls are quick and nothing else waits, which is the common case
// (a thread blocked in a trapped syscall has one notification at a time).
type workers struct {
	listener int
	next     func() (*seccomp.ScmpNotifReq, error)
	serve    func(*seccomp.ScmpNotifReq, *worker)
	mayBlock func(*seccomp.ScmpNotifReq) bool

	lead chan struct{} // the right to receive: one token
	wg   sync.WaitGroup
	mu   sync.Mutex
	n    int   // workers started
	idle int   // followers waiting for the token
	done bool  // the listener is finished: every worker ends
	err  error // why, when it was an error
}

// run starts the first worker and waits until every worker has ended.
func (p *workers) run() error {
	hostFDs() // opened here, on a thread that has the supervisor's own root
	p.lead = make(chan struct{}, 1)
	p.lead <- struct{}{}
	p.mu.Lock()
	p.start()
	p.mu.Unlock()
	p.wg.Wait()
	return p.err
}

// start starts a worker; p.mu is held.
func (p *workers) start() {
	p.n++
	p.wg.Add(1)
	go p.work()
}

func (p *workers) work() {
	defer p.wg.Done()
	runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
	w := newWorker()
	for p.follow() {
		for {
			req, err := p.next()
			if err != nil || req == nil {
				p.finish(err)
				return
			}
			promoted := p.moreWaiting() || p.mayBlock(req)
			if promoted {
				p.promote()
			}
			p.serve(req, w)
			if w.broken {
				if !promoted {
					p.promote()
				}
				p.mu.Lock()
				p.n--
				p.mu.Unlock()
				return
			}
			if promoted {
				break // back among the followers
			}
		}
	}
}

// follow waits for the token; false when the workers are done.
func (p *workers) follow() bool {
	p.mu.Lock()
	p.idle++
	p.mu.Unlock()
	<-p.lead
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle--
	if p.done {
		p.lead <- struct{}{} // pass the news on to the next follower
		return false
	}
	return true
}

// promote hands the token to a follower, starting one when none waits.
func (p *workers) promote() {
	p.mu.Lock()
	if p.idle == 0 && p.n < maxWorkers {
		p.start()
	}
	p.mu.Unlock()
	p.lead <- struct{}{}
}

func (p *workers) finish(err error) {
	p.mu.Lock()
	p.done = true
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.lead <- struct{}{}
}

// moreWaiting: another notification can be received right now.
func (p *workers) moreWaiting() bool {
	fds := []unix.PollFd{{Fd: int32(p.listener), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLIN != 0
}

// worker is one worker thread's state: its file-system context and its own credentials.
type worker struct {
	fsOK     bool        // it has its own fs context (unshare(CLONE_FS) worked)
	own      threadCreds // taken back after every call made with a process's credentials
	root     rootKey     // the root it has taken
	rootPath string      // that root's path on the host
	broken   bool        // it could not take its own credentials back: it must end
	// beneath is the process's root when the worker could not chroot to it (an unprivileged
	// supervisor, a process in the copy-on-write workdir's mount namespace): paths are then
	// resolved beneath it with RESOLVE_IN_ROOT, which is what a chroot would give (-1: not).
	beneath int
	base    int // the cwd (or dirfd) taken by inView for a relative path, -1 for none
}

// rootKey names a root directory: its inode and the mount it is seen through, so that the
// same directory seen through other mounts (the copy-on-write workdir's view: a detached copy
// of the mount tree, or a mount namespace; lifecycle/cow.go) is another root, resolved through
// those mounts.
type rootKey struct{ dev, ino, mnt uint64 }

// sameDir: the same directory, through whichever mount.
func (k rootKey) sameDir(o rootKey) bool { return k.dev == o.dev && k.ino == o.ino }

var (
	hostOnce           sync.Once
	hostRoot, hostProc = -1, -1 // the supervisor's "/" and "/proc", O_PATH
	hostRootKey        rootKey
)

func hostFDs() {
	hostOnce.Do(func() {
		hostRoot, _ = unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		hostProc, _ = unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		hostRootKey, _ = keyOf(hostRoot)
	})
}

func keyOf(fd int) (rootKey, error) {
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_INO|unix.STATX_MNT_ID|unix.STATX_MNT_ID_UNIQUE, &st); err != nil {
		return rootKey{}, err
	}
	return rootKey{unix.Mkdev(st.Dev_major, st.Dev_minor), st.Ino, st.Mnt_id}, nil
}

func newWorker() *worker {
	w := &worker{root: hostRootKey, rootPath: "/", beneath: -1, base: -1}
	own, err := currentCreds()
	w.own = own
	w.fsOK = err == nil && unix.Unshare(unix.CLONE_FS) == nil && hostRoot >= 0 && hostProc >= 0
	return w
}

// takeRoot makes the process's root (an fd on it) the thread's root. A chroot needs
// CAP_SYS_CHROOT: an unprivileged supervisor fails here for a process whose root is not its
// own (the copy-on-write workdir's mount namespace), and inView resolves beneath that root.
func (w *worker) takeRoot(root int) error {
	key, err := keyOf(root)
	if err != nil || !w.fsOK {
		return unix.EPERM
	}
	if key == w.root {
		return nil
	}
	if err := w.chrootTo(hostRoot, hostRootKey, "/"); err != nil || key == hostRootKey {
		return err
	}
	// The new root's name on the host, read while the thread's root is the host's.
	path, err := fdName(root)
	if err != nil {
		return unix.EPERM
	}
	return w.chrootTo(root, key, path)
}

func (w *worker) takeHostRoot() error {
	if !w.fsOK {
		return unix.EPERM
	}
	return w.chrootTo(hostRoot, hostRootKey, "/")
}

func (w *worker) chrootTo(fd int, key rootKey, path string) error {
	if key == w.root {
		return nil
	}
	if unix.Fchdir(fd) != nil || unix.Chroot(".") != nil {
		return unix.EPERM
	}
	w.root, w.rootPath = key, path
	return nil
}

// hostName turns a name the kernel gave relative to the thread's root into a host path.
func (w *worker) hostName(name string) string {
	if w.rootPath == "/" {
		return name
	}
	if name == "/" {
		return w.rootPath
	}
	return w.rootPath + name
}

// noCwd tells inView that nothing is resolved relative to the working directory (an absolute
// path, an fd): the thread's cwd is left as it is.
const noCwd = -2

// inView runs fn with the target's view: its root, its working directory (or dirfd, the
// supervisor's copy of the process's dirfd, -1 for none) and its credentials, then takes the
// worker's own credentials back. A path is then resolved, and an operation checked by the
// kernel's DAC, exactly as for the process itself.
func (w *worker) inView(t *target, dirfd int, fn func() (uint64, error)) (uint64, error) {
	root, err := t.rootFD()
	if err != nil {
		return 0, err
	}
	w.beneath, w.base = -1, -1
	if err := w.takeRoot(root); err != nil {
		if !w.fsOK || w.root != hostRootKey {
			return 0, err
		}
		w.beneath = root // no CAP_SYS_CHROOT: resolvePath stays beneath the root instead
	}
	defer func() { w.beneath, w.base = -1, -1 }()
	if dirfd != noCwd {
		cwd := dirfd
		if cwd < 0 {
			if cwd, err = t.cwdFD(); err != nil {
				return 0, err
			}
		}
		if err := unix.Fchdir(cwd); err != nil {
			return 0, err
		}
		w.base = cwd
	}
	// The process's memory and cwd are opened now, with the supervisor's credentials, for fn
	// to use (lazily otherwise): /proc/PID/mem and /proc/PID/cwd ask ptrace access, which the
	// process's own credentials do not have over a process that is not dumpable (a setuid
	// program, prctl(PR_SET_DUMPABLE, 0)) unless they hold CAP_SYS_PTRACE; the process itself
	// reaches its own without it. A failure here is left for the lazy open to report.
	_, _ = t.memory()
	_, _ = t.cwdFD()
	tc := t.creds.threadCreds()
	capsOnly := tc.sameIDs(w.own) // a root container's process, the direct mode's own user
	defer w.restore(capsOnly)
	if err := tc.assume(capsOnly); err != nil {
		return 0, err
	}
	return fn()
}

func (w *worker) restore(capsOnly bool) {
	if w.own.assume(capsOnly) != nil {
		w.broken = true
	}
}

// fdName is the kernel's name for what fd is open on (/proc/thread-self/fd/N, through the
// /proc taken at start: valid whatever the thread's root is), relative to the thread's root.
func fdName(fd int) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(hostProc, "thread-self/fd/"+strconv.Itoa(fd), buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// procOpen opens /proc/NAME through the /proc taken at start.
func procOpen(name string, flags int) (int, error) {
	return unix.Openat(hostProc, name, flags|unix.O_CLOEXEC, 0)
}

// enterView gives the calling thread the target's root, working directory and credentials for
// good: the thread must be locked and end with its goroutine (a deferred call that blocks).
func (t *target) enterView(tc threadCreds) error {
	root, err := t.rootFD()
	if err != nil {
		return err
	}
	cwd, err := t.cwdFD()
	if err != nil {
		return err
	}
	if unix.Unshare(unix.CLONE_FS) != nil {
		return unix.EPERM
	}
	if key, err := keyOf(root); err != nil || key != hostRootKey {
		if unix.Fchdir(root) != nil || unix.Chroot(".") != nil {
			return unix.EPERM
		}
	}
	if unix.Fchdir(cwd) != nil {
		return unix.EPERM
	}
	own, err := currentCreds()
	if err != nil {
		return err
	}
	return tc.assume(tc.sameIDs(own))
}

// sigpipe signals the target's thread as the kernel would have on a broken pipe (the
// supervisor's send asked MSG_NOSIGNAL). The thread waits on its notification, so its tid is
// still its own.
func (t *target) sigpipe() {
	_ = unix.Tgkill(t.tgid, t.tid, unix.SIGPIPE)
}
