package criulite

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// forkTree forks every saved process from its parent (the root's children from the root),
// parents first: the new tree has the saved shape, and every process inherits the staged
// objects and the scratch pages.
func (r *restorer) forkTree(root *rproc) error {
	r.newPid[root.saved.Pid] = root.t.tid
	for i := 1; i < len(r.img.Processes); i++ {
		sp := &r.img.Processes[i]
		parent := r.procs[sp.Ppid]
		if parent == nil {
			parent = root // its parent was not in the container (it was reparented)
		}
		child, err := r.fork(parent, sp.Pid)
		if err != nil {
			return err
		}
		child.saved = sp
		r.procs[sp.Pid] = child
		r.newPid[sp.Pid] = child.t.tid
	}
	return nil
}

// fork forks a child of parent, asking for the saved pid want: a parent that waits for its
// child by pid (a shell's job table) finds it again. The pid is asked for through ns_last_pid
// (as CRIU did before clone3's set_tid), under its lock. When the pid is in use on this host
// (pid_max is small on many hosts, pids are reused fast) the child gets another one: Restored
// says which, and docs/checkpoint.md what that means.
func (r *restorer) fork(parent *rproc, want int) (*rproc, error) {
	var lp *os.File
	if pidFree(want) {
		if f, err := os.OpenFile("/proc/sys/kernel/ns_last_pid", os.O_RDWR, 0); err == nil {
			defer f.Close()
			if unix.Flock(int(f.Fd()), unix.LOCK_EX) == nil {
				lp = f
			}
		}
	}
	for try := 0; ; try++ {
		if lp != nil {
			_, _ = lp.WriteAt([]byte(strconv.Itoa(want-1)), 0)
		}
		t, err := r.forkOnce(parent)
		if err != nil {
			return nil, err
		}
		if t.tid != want && lp != nil && try < 4 {
			// another process on the host took it first: end this one, reap it in the
			// parent, and try again
			_ = unix.Kill(t.tid, unix.SIGKILL)
			r.dropThread(t)
			_, _ = parent.t.inject(unix.SYS_WAIT4, uint64(t.tid), 0, unix.WALL, 0)
			continue
		}
		m, err := openMem(t.tid, true)
		if err != nil {
			return nil, err
		}
		return &rproc{t: t, threads: []*thread{t}, mem: m}, nil
	}
}

// forkOnce injects a fork into parent and takes the child at its first stop.
func (r *restorer) forkOnce(parent *rproc) (*thread, error) {
	var child int
	parent.t.fork = func(c int) { child = c }
	_, err := parent.t.call("clone", unix.SYS_CLONE, uint64(unix.SIGCHLD), 0, 0, 0, 0)
	parent.t.fork = nil
	if err != nil {
		return nil, err
	}
	if child == 0 {
		return nil, errors.New("clone: no fork event")
	}
	return r.newThread(child, parent.t.sys)
}

// pidFree waits a little for pid to be free: the checkpointed process may be a zombie
// not yet reaped by its (former) parent's reaper.
func pidFree(pid int) bool {
	for range 100 {
		if unix.Kill(pid, 0) == unix.ESRCH {
			return true
		}
		st, _, err := statFields(pid)
		if err == nil && len(st) > 0 && st[0] != "Z" && st[0] != "X" {
			return false // a live process
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func (r *restorer) dropThread(t *thread) {
	var ws unix.WaitStatus
	_, _ = unix.Wait4(t.tid, &ws, unix.WALL, nil)
	r.all = slices.DeleteFunc(r.all, func(x *thread) bool { return x == t })
}

// newThread waits for the first stop of a new (auto-attached) thread.
func (r *restorer) newThread(tid int, sys uint64) (*thread, error) {
	for {
		ws, err := waitStop(tid)
		if err != nil {
			return nil, err
		}
		if ws.TrapCause() == ptraceEventStop || ws.StopSignal() == unix.SIGSTOP {
			break
		}
		if err := ptrace(unix.PTRACE_CONT, tid, 0, 0); err != nil {
			return nil, err
		}
	}
	regs, err := getRegs(tid)
	if err != nil {
		return nil, err
	}
	t := &thread{tid: tid, sys: sys, base: regs}
	r.all = append(r.all, t)
	return t, nil
}

// sessions re-creates the sessions and process groups among the restored processes.
func (r *restorer) sessions() error {
	for _, sp := range r.img.Processes {
		p := r.procs[sp.Pid]
		if sid, _ := unix.Getsid(p.t.tid); sp.Sid == sp.Pid && sid != p.t.tid {
			if _, err := p.t.call("setsid", unix.SYS_SETSID); err != nil {
				return err
			}
		}
	}
	for _, sp := range r.img.Processes {
		p := r.procs[sp.Pid]
		leader, ok := r.newPid[sp.Pgid]
		if !ok || sp.Sid == sp.Pid {
			continue
		}
		if pg, _ := unix.Getpgid(p.t.tid); pg == leader {
			continue
		}
		if _, err := p.t.call("setpgid", unix.SYS_SETPGID, 0, uint64(leader)); err != nil {
			return err
		}
	}
	return nil
}

// WithNextPid runs start (which forks one process) with the kernel asked to give the next
// process pid want, under ns_last_pid's lock: the runtime uses it so that a restored init gets
// its pid back when it is free. Best effort: when the pid is taken, or another process or
// thread on the host takes it first, the fork gets another pid; start's error is returned.
func WithNextPid(want int, start func() error) error {
	if !pidFree(want) {
		return start()
	}
	lp, err := os.OpenFile("/proc/sys/kernel/ns_last_pid", os.O_RDWR, 0)
	if err != nil {
		return start()
	}
	defer lp.Close()
	if unix.Flock(int(lp.Fd()), unix.LOCK_EX) != nil {
		return start()
	}
	// Go checks once per process whether pidfds work, by forking a probe child: on the first
	// start that fork would take the pid. FindProcess makes the check happen now.
	if self, err := os.FindProcess(os.Getpid()); err == nil {
		_ = self.Release()
	}
	_, _ = lp.WriteAt([]byte(strconv.Itoa(want-1)), 0)
	return start()
}
