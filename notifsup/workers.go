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

// workers are the threads that handle notifications. Each is a Go thread of its own (locked,
// never given back to the runtime) with its own file-system context (unshare(CLONE_FS)), so
// that it can take a process's root, cwd and credentials to act on its behalf (inView) without
// a hand-off to another thread.
type workers struct {
	fn   func(*seccomp.ScmpNotifReq, *worker)
	jobs chan *seccomp.ScmpNotifReq // unbuffered: a send succeeds when a worker is waiting
	mu   sync.Mutex
	n    int
	wg   sync.WaitGroup
}

func newWorkers(fn func(*seccomp.ScmpNotifReq, *worker)) *workers {
	hostFDs() // opened here, on a thread that has the supervisor's own root
	return &workers{fn: fn, jobs: make(chan *seccomp.ScmpNotifReq)}
}

// handle gives req to a waiting worker, or starts one (up to maxWorkers), or waits for one.
func (p *workers) handle(req *seccomp.ScmpNotifReq) {
	select {
	case p.jobs <- req:
		return
	default:
	}
	p.mu.Lock()
	if p.n < maxWorkers {
		p.n++
		p.start()
	}
	p.mu.Unlock()
	p.jobs <- req
}

func (p *workers) start() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() {
			p.mu.Lock()
			p.n--
			p.mu.Unlock()
		}()
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		w := newWorker()
		for req := range p.jobs {
			p.fn(req, w)
			if w.broken {
				return
			}
		}
	}()
}

// stop lets the workers finish what they hold and end.
func (p *workers) stop() {
	close(p.jobs)
	p.wg.Wait()
}

// worker is one worker thread's state: its file-system context and its own credentials.
type worker struct {
	fsOK     bool        // it has its own fs context (unshare(CLONE_FS) worked)
	own      threadCreds // taken back after every call made with a process's credentials
	root     rootKey     // the root it has taken
	rootPath string      // that root's path on the host
	broken   bool        // it could not take its own credentials back: it must end
}

type rootKey struct{ dev, ino uint64 }

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
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return rootKey{}, err
	}
	return rootKey{st.Dev, st.Ino}, nil
}

func newWorker() *worker {
	w := &worker{root: hostRootKey, rootPath: "/"}
	own, err := currentCreds()
	w.own = own
	w.fsOK = err == nil && unix.Unshare(unix.CLONE_FS) == nil && hostRoot >= 0 && hostProc >= 0
	return w
}

// takeRoot makes the process's root (an fd on it) the thread's root. A chroot needs
// CAP_SYS_CHROOT: an unprivileged supervisor only ever sees processes with its own root.
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

// inView runs fn with the target's view: its root, its working directory (or dirfd, the
// supervisor's copy of the process's dirfd, -1 for none) and its credentials, then takes the
// worker's own credentials back. A path is then resolved, and an operation checked by the
// kernel's DAC, exactly as for the process itself.
func (w *worker) inView(t *target, dirfd int, fn func() (uint64, error)) (uint64, error) {
	if err := w.takeRoot(t.root); err != nil {
		return 0, err
	}
	cwd := t.cwd
	if dirfd >= 0 {
		cwd = dirfd
	}
	if err := unix.Fchdir(cwd); err != nil {
		return 0, err
	}
	defer w.restore()
	if err := t.creds.threadCreds().assume(); err != nil {
		return 0, err
	}
	return fn()
}

func (w *worker) restore() {
	if w.own.assume() != nil {
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
