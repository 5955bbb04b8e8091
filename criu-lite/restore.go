package criulite

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// RestoreOpts says where to restore.
type RestoreOpts struct {
	// Pid is the process to restore into: confined, about to exec the container's program.
	// Restore seizes it, calls Start, and takes it at its exec stop.
	Pid   int
	Start func() error
}

// Restored says what became of the image's processes.
type Restored struct {
	Pids map[int]int // saved pid -> new pid
}

// Restore rebuilds img in o.Pid. On failure every process it created is killed (the caller
// destroys the container).
func Restore(img *Image, o RestoreOpts) (*Restored, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("restore is implemented for x86-64 only, not %s", runtime.GOARCH)
	}
	if err := img.check(); err != nil {
		return nil, err
	}
	type result struct {
		r   *Restored
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // the tracer thread; never unlocked (see Dump)
		r := &restorer{img: img, newPid: map[int]int{}, procs: map[int]*rproc{}, hashes: fileHashes{}, filled: map[int]bool{}, pairs: map[int][2]int{}}
		err := r.run(o)
		if err != nil {
			r.killAll()
		}
		ch <- result{&Restored{Pids: r.newPid}, err}
	}()
	res := <-ch
	return res.r, res.err
}

// check validates the image's structure before any of it is used.
func (img *Image) check() error {
	if len(img.Processes) == 0 {
		return errors.New("checkpoint image: no process")
	}
	objs := map[int]bool{}
	for _, o := range img.Objects {
		objs[o.ID] = true
	}
	for _, sh := range img.Shms {
		for _, b := range sh.Pages {
			if _, err := img.blob(b); err != nil {
				return err
			}
		}
	}
	for _, p := range img.Processes {
		if len(p.Threads) == 0 {
			return fmt.Errorf("checkpoint image: process %d has no thread", p.Pid)
		}
		for _, f := range p.FDs {
			if !objs[f.Object] || f.Fd < 0 {
				return fmt.Errorf("checkpoint image: process %d fd %d names no saved object", p.Pid, f.Fd)
			}
		}
		for _, v := range p.VMAs {
			if v.End <= v.Start || v.Start%pageSize != 0 || v.End%pageSize != 0 {
				return fmt.Errorf("checkpoint image: process %d has a bad mapping %#x-%#x", p.Pid, v.Start, v.End)
			}
			for _, b := range v.Pages {
				if b.Addr < v.Start || b.Addr > v.End || uint64(b.Len) > v.End-b.Addr {
					return fmt.Errorf("checkpoint image: process %d has pages outside their mapping", p.Pid)
				}
				if _, err := img.blob(b); err != nil {
					return err
				}
			}
		}
		for _, t := range p.Threads {
			if _, err := img.blob(t.Xstate); err != nil {
				return err
			}
		}
	}
	return nil
}

type restorer struct {
	img      *Image
	newPid   map[int]int // saved -> new
	procs    map[int]*rproc
	all      []*thread
	scratch  uint64 // code page, then data pages
	base     int    // first fd of the staged objects
	objFd    map[int]int
	hashes   fileHashes
	filled   map[int]bool   // epoll objects already given their watched fds
	shmAt    map[int]uint64 // Shm ID -> where the root staged it
	reserved [][2]uint64    // staged shared memory, kept until the end
	pairs    map[int][2]int // unix socket pairs made, by pair
}

// rproc is a process being restored.
type rproc struct {
	saved   *Process
	t       *thread // its first thread, used for injected calls
	threads []*thread
	mem     *mem
}

// atFdcwd is AT_FDCWD as a syscall argument.
const atFdcwd = ^uint64(99)

const scratchPages = 17 // one code page with a syscall instruction, then data

func (r *restorer) data() uint64 { return r.scratch + pageSize }

func (r *restorer) killAll() {
	for _, p := range r.procs {
		_ = unix.Kill(p.t.tid, unix.SIGKILL)
	}
}

func (r *restorer) run(o RestoreOpts) error {
	if err := seize(o.Pid, optTraceExec|optTraceSysGood|optExitKill); err != nil {
		return err
	}
	root := &rproc{saved: &r.img.Processes[0], t: &thread{tid: o.Pid}}
	r.procs[root.saved.Pid] = root
	// Start runs beside the wait: until its exec the process stops at every signal it gets
	// (a Go program gets many), and only this thread can let it go on.
	started := make(chan error, 1)
	go func() {
		if o.Start == nil {
			started <- nil
			return
		}
		started <- o.Start()
	}()
	if err := waitExec(o.Pid); err != nil {
		if serr := <-started; serr != nil {
			return serr
		}
		return err
	}
	if err := <-started; err != nil {
		return err
	}
	if err := ptrace(unix.PTRACE_SETOPTIONS, o.Pid, 0, optTraceSysGood|optTraceFork|optTraceClone|optExitKill); err != nil {
		return fmt.Errorf("ptrace(SETOPTIONS): %w", err)
	}
	if err := r.prepareRoot(root); err != nil {
		return err
	}
	if err := r.forkTree(root); err != nil {
		return err
	}
	if err := r.sessions(); err != nil {
		return err
	}
	for _, p := range r.img.Processes {
		if err := r.restoreProcess(r.procs[p.Pid]); err != nil {
			return fmt.Errorf("restoring process %d (%s): %w", p.Pid, p.Comm, err)
		}
	}
	return r.release()
}

// waitExec waits for the exec stop of the seized process (passing signals on meanwhile).
func waitExec(pid int) error {
	for {
		ws, err := waitStop(pid)
		if err != nil {
			return fmt.Errorf("the container's process ended before its program started: %w", err)
		}
		switch {
		case ws.TrapCause() == unix.PTRACE_EVENT_EXEC:
			return finishExec(pid)
		case ws.TrapCause() == ptraceEventStop:
			if err := ptrace(unix.PTRACE_CONT, pid, 0, 0); err != nil {
				return err
			}
		default:
			sig := 0
			if ws.TrapCause() <= 0 {
				sig = int(ws.StopSignal())
			}
			if err := ptrace(unix.PTRACE_CONT, pid, 0, uintptr(sig)); err != nil {
				return err
			}
		}
	}
}

// finishExec runs the tracee from its exec event (inside execve) to execve's syscall-exit
// stop: injected syscalls start from a thread that is in no syscall.
func finishExec(pid int) error {
	if err := ptrace(unix.PTRACE_SETOPTIONS, pid, 0, optTraceSysGood|optExitKill); err != nil {
		return fmt.Errorf("ptrace(SETOPTIONS): %w", err)
	}
	for {
		if err := unix.PtraceSyscall(pid, 0); err != nil {
			return err
		}
		ws, err := waitStop(pid)
		if err != nil {
			return err
		}
		if ws.StopSignal() == unix.SIGTRAP|0x80 {
			return nil
		}
	}
}

// restoreProcess rebuilds one process in its stand-in.
func (r *restorer) restoreProcess(p *rproc) error {
	steps := []func(*rproc) error{r.restoreFDs, r.restoreMemory, r.restoreState, r.restoreThreads}
	for _, s := range steps {
		if err := s(p); err != nil {
			return err
		}
	}
	return nil
}
