package criulite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DumpOpts says what to checkpoint.
type DumpOpts struct {
	Pids []int // the container's processes, the root (init) first; every one of them is saved
	// Root is the host path of the container's root directory ("/" without chroot); paths of
	// files are saved relative to it.
	Root string
	// Thaw, when the caller froze the processes (the container's cgroup), is called once every
	// thread is seized and has an interrupt pending.
	Thaw         func() error
	LeaveRunning bool // else the processes are killed once the image is complete
	// Save, if set, stores the image while the processes are still stopped: when it fails
	// they are resumed, never killed, and Dump returns its error.
	Save func(*Image) error
}

// Dump checkpoints the processes. On failure they are left running as they were.
func Dump(o DumpOpts) (*Image, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("checkpoint is implemented for x86-64 only, not %s", runtime.GOARCH)
	}
	if len(o.Pids) == 0 {
		return nil, errors.New("checkpoint: no process to save")
	}
	type result struct {
		img *Image
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// every ptrace request must come from the tracer thread; the thread is never unlocked
		// and so ends with the goroutine, which detaches whatever is still attached
		runtime.LockOSThread()
		img, err := dumpLocked(o)
		ch <- result{img, err}
	}()
	r := <-ch
	return r.img, r.err
}

type dumper struct {
	o       DumpOpts
	img     *Image
	threads map[int]*thread // every seized thread by tid
	order   []int
	objs    []objKey
	hashes  fileHashes
	shmIno  map[int]uint64 // Shm ID -> inode
	unix    map[uint64]unixSock
}

// objKey identifies a saved open file description, to share it between fds (kcmp).
type objKey struct {
	pid, fd int
	dev     uint64
	ino     uint64
	id      int
}

func dumpLocked(o DumpOpts) (*Image, error) {
	d := &dumper{o: o, threads: map[int]*thread{}, hashes: fileHashes{}, shmIno: map[int]uint64{}}
	d.img = &Image{Created: time.Now().UTC(), Kernel: kernelRelease()}
	err := d.stopAll()
	if err == nil {
		err = d.captureAll()
	}
	if err == nil && o.Save != nil {
		err = o.Save(d.img)
	}
	if err == nil && !o.LeaveRunning {
		d.killAll()
		return d.img, nil
	}
	if rerr := d.resumeAll(); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	return d.img, nil
}

// stopAll seizes and interrupts every thread, then waits until each is in its ptrace stop.
func (d *dumper) stopAll() error {
	var all []int
	var alive []int
	for i, pid := range d.o.Pids {
		ts, err := tasks(pid)
		if errors.Is(err, os.ErrNotExist) && i > 0 {
			continue // it exited (a process already exiting is not frozen): nothing to save
		}
		if err != nil {
			return fmt.Errorf("process %d: %w", pid, err)
		}
		alive = append(alive, pid)
		for _, tid := range ts {
			if err := seize(tid, optTraceSysGood); err != nil {
				return err
			}
			d.threads[tid] = &thread{tid: tid}
			all = append(all, tid)
			if err := ptrace(ptraceInterrupt, tid, 0, 0); err != nil {
				return fmt.Errorf("ptrace(INTERRUPT, %d): %w", tid, err)
			}
		}
	}
	d.o.Pids = alive
	if d.o.Thaw != nil {
		if err := d.o.Thaw(); err != nil {
			return err
		}
	}
	for _, tid := range all {
		t := d.threads[tid]
		for {
			ws, err := waitStop(tid)
			if err != nil {
				return err
			}
			if ws.TrapCause() == ptraceEventStop {
				break
			}
			// a signal arrived first: keep it for later and wait for the interrupt
			if ws.TrapCause() <= 0 {
				t.sigs = append(t.sigs, ws.StopSignal())
			}
			if err := ptrace(unix.PTRACE_CONT, tid, 0, 0); err != nil {
				return err
			}
		}
		r, err := getRegs(tid)
		if err != nil {
			return err
		}
		fixRestart(&r)
		t.base = r
		d.order = append(d.order, tid)
	}
	return nil
}

// killAll kills the processes and collects their threads' exits as their tracer, so that
// their parents can reap them.
func (d *dumper) killAll() {
	for _, pid := range d.o.Pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	// the other threads first: a leader's exit is reported only after its threads'
	for i := len(d.order) - 1; i >= 0; i-- {
		tid := d.order[i]
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(tid, &ws, unix.WALL, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil || ws.Exited() || ws.Signaled() {
				break
			}
		}
	}
}

// resumeAll puts back each thread's registers and detaches it, with any signal that arrived.
func (d *dumper) resumeAll() error {
	var errs []error
	for _, tid := range d.order {
		t := d.threads[tid]
		if err := unix.PtraceSetRegs(tid, &t.base); err != nil {
			errs = append(errs, err)
		}
		sig := 0
		if len(t.sigs) > 0 {
			sig = int(t.sigs[0])
		}
		if err := ptrace(unix.PTRACE_DETACH, tid, 0, uintptr(sig)); err != nil {
			errs = append(errs, fmt.Errorf("ptrace(DETACH, %d): %w", tid, err))
		}
	}
	return errors.Join(errs...)
}

func (d *dumper) captureAll() error {
	for _, tid := range d.order {
		if len(d.threads[tid].sigs) > 0 {
			return fmt.Errorf("thread %d: signal %v arrived during the checkpoint; try again", tid, d.threads[tid].sigs[0])
		}
	}
	for _, pid := range d.o.Pids {
		p, err := d.captureProcess(pid)
		if err != nil {
			return err
		}
		d.img.Processes = append(d.img.Processes, *p)
	}
	d.img.Processes = treeOrder(d.img.Processes)
	return nil
}

// treeOrder puts the root first and every parent before its children.
func treeOrder(ps []Process) []Process {
	in := map[int]bool{}
	for _, p := range ps {
		in[p.Pid] = true
	}
	out := []Process{ps[0]}
	done := map[int]bool{ps[0].Pid: true}
	for len(out) < len(ps) {
		progress := false
		for _, p := range ps {
			if done[p.Pid] || (in[p.Ppid] && !done[p.Ppid]) {
				continue
			}
			out, done[p.Pid], progress = append(out, p), true, true
		}
		if !progress { // a cycle cannot happen; stay safe
			break
		}
	}
	return out
}

func (d *dumper) captureProcess(pid int) (*Process, error) {
	p := &Process{Pid: pid}
	st, comm, err := statFields(pid)
	if err != nil {
		return nil, err
	}
	p.Comm = comm
	p.Ppid, p.Pgid, p.Sid = int(statField(st, 4)), int(statField(st, 5)), int(statField(st, 6))
	status, err := statusFields(pid)
	if err != nil {
		return nil, err
	}
	p.Uids, p.Gids = ids(status["Uid"]), ids(status["Gid"])
	um, _ := strconv.ParseUint(status["Umask"], 8, 32)
	p.Umask = uint32(um)
	if b, err := os.ReadFile(procPath(pid, "personality")); err == nil {
		v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 32)
		p.Personality = uint32(v)
	}
	p.MM = MM{StartCode: statField(st, 26), EndCode: statField(st, 27), StartStack: statField(st, 28),
		StartData: statField(st, 45), EndData: statField(st, 46), StartBrk: statField(st, 47),
		ArgStart: statField(st, 48), ArgEnd: statField(st, 49), EnvStart: statField(st, 50), EnvEnd: statField(st, 51)}
	p.Auxv, _ = os.ReadFile(procPath(pid, "auxv"))
	if err := checkTimers(pid); err != nil {
		return nil, err
	}
	cwd, err := os.Readlink(procPath(pid, "cwd"))
	if err != nil {
		return nil, err
	}
	var ok bool
	if p.Cwd, ok = inRoot(d.o.Root, cwd); !ok {
		return nil, fmt.Errorf("process %d (%s): its working directory %s is outside the container's root", pid, comm, cwd)
	}
	for res := 0; res < 16; res++ {
		var l unix.Rlimit
		if err := unix.Prlimit(pid, res, nil, &l); err != nil {
			return nil, fmt.Errorf("prlimit(%d): %w", pid, err)
		}
		p.Rlimits = append(p.Rlimits, Rlimit{Resource: res, Cur: l.Cur, Max: l.Max})
	}
	if err := d.captureThreads(p); err != nil {
		return nil, err
	}
	if p.Pending, err = pendingSignals(pid, true); err != nil {
		return nil, err
	}
	if err := d.captureFDs(p); err != nil {
		return nil, err
	}
	if err := d.captureMemory(p); err != nil {
		return nil, err
	}
	return p, nil
}

// checkTimers refuses POSIX timers (timer_create), which the image does not hold.
func checkTimers(pid int) error {
	b, err := os.ReadFile(procPath(pid, "timers"))
	if err == nil && len(bytes.TrimSpace(b)) > 0 {
		return fmt.Errorf("process %d has POSIX timers (timer_create): they cannot be checkpointed", pid)
	}
	return nil
}

// captureThreads saves each thread's state and runs the per-process queries (signal
// handlers, brk, interval timers) in the leader by injected syscalls.
func (d *dumper) captureThreads(p *Process) error {
	ts, err := tasks(p.Pid)
	if err != nil {
		return err
	}
	m, err := openMem(p.Pid, true)
	if err != nil {
		return err
	}
	defer m.close()
	maps, err := readMaps(p.Pid)
	if err != nil {
		return err
	}
	sys, err := findSyscall(m, maps)
	if err != nil {
		return fmt.Errorf("process %d: %w", p.Pid, err)
	}
	leader := d.threads[p.Pid]
	if leader == nil {
		return fmt.Errorf("process %d was not seized", p.Pid)
	}
	for _, tid := range ts {
		if d.threads[tid] == nil {
			return fmt.Errorf("process %d: thread %d appeared during the checkpoint", p.Pid, tid)
		}
		d.threads[tid].sys = sys
	}
	scratch, err := leader.call("mmap", unix.SYS_MMAP, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	if err != nil {
		return err
	}
	defer func() { _, _ = leader.inject(unix.SYS_MUNMAP, scratch, pageSize) }()
	for _, tid := range ts {
		th, err := d.captureThread(d.threads[tid], m, scratch)
		if err != nil {
			return err
		}
		p.Threads = append(p.Threads, *th)
	}
	return d.captureProcessCalls(p, leader, m, scratch)
}

func (d *dumper) captureThread(t *thread, m *mem, scratch uint64) (*Thread, error) {
	th := &Thread{Tid: t.tid, Regs: t.base}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/comm", t.tid, t.tid)); err == nil {
		th.Comm = strings.TrimSuffix(string(b), "\n")
	}
	xs, err := getXstate(t.tid)
	if err != nil {
		return nil, err
	}
	if d.img.XstateSize == 0 {
		d.img.XstateSize = len(xs)
	}
	th.Xstate = d.img.addBlob(0, xs)
	if th.Sigmask, err = getSigmask(t.tid); err != nil {
		return nil, fmt.Errorf("ptrace(GETSIGMASK, %d): %w", t.tid, err)
	}
	if th.Rseq, err = getRseq(t.tid); err != nil {
		return nil, err
	}
	if th.RobustList, th.RobustLen, err = robustList(t.tid); err != nil {
		return nil, err
	}
	if th.Pending, err = pendingSignals(t.tid, false); err != nil {
		return nil, err
	}
	if _, err := t.call("prctl(PR_GET_TID_ADDRESS)", unix.SYS_PRCTL, unix.PR_GET_TID_ADDRESS, scratch); err != nil {
		return nil, err
	}
	var b [8]byte
	if err := m.read(scratch, b[:]); err != nil {
		return nil, err
	}
	th.TidAddr = binary.LittleEndian.Uint64(b[:])
	if _, err := t.call("sigaltstack", unix.SYS_SIGALTSTACK, 0, scratch); err != nil {
		return nil, err
	}
	var ss [24]byte
	if err := m.read(scratch, ss[:]); err != nil {
		return nil, err
	}
	th.AltStack = [3]uint64{le(ss[0:]), uint64(binary.LittleEndian.Uint32(ss[8:])), le(ss[16:])}
	return th, nil
}

// captureProcessCalls reads signal dispositions, brk and interval timers in the process.
func (d *dumper) captureProcessCalls(p *Process, t *thread, m *mem, scratch uint64) error {
	var b [32]byte
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		if _, err := t.call("rt_sigaction", unix.SYS_RT_SIGACTION, uint64(sig), 0, scratch, 8); err != nil {
			return err
		}
		if err := m.read(scratch, b[:]); err != nil {
			return err
		}
		sa := Sigaction{Sig: sig, Handler: le(b[0:]), Flags: le(b[8:]), Restorer: le(b[16:]), Mask: le(b[24:])}
		if sa.Handler != 0 || sa.Flags != 0 || sa.Mask != 0 {
			p.Sigactions = append(p.Sigactions, sa)
		}
	}
	brk, err := t.call("brk", unix.SYS_BRK, 0)
	if err != nil {
		return err
	}
	p.MM.Brk = brk
	for which := range 3 {
		if _, err := t.call("getitimer", unix.SYS_GETITIMER, uint64(which), scratch); err != nil {
			return err
		}
		if err := m.read(scratch, b[:]); err != nil {
			return err
		}
		p.Itimers[which] = Itimer{Interval: [2]int64{int64(le(b[0:])), int64(le(b[8:]))}, Value: [2]int64{int64(le(b[16:])), int64(le(b[24:]))}}
	}
	return nil
}

func le(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// findSyscall finds a "syscall" instruction in an executable mapping (the vdso has several)
// for the injected calls.
func findSyscall(m *mem, maps []mapping) (uint64, error) {
	try := func(mp mapping) (uint64, bool) {
		if mp.prot()&unix.PROT_EXEC == 0 || mp.path == "[vsyscall]" || mp.end-mp.start > 64<<20 {
			return 0, false
		}
		buf := make([]byte, mp.end-mp.start)
		if m.read(mp.start, buf) != nil {
			return 0, false
		}
		if i := bytes.Index(buf, []byte{0x0f, 0x05}); i >= 0 {
			return mp.start + uint64(i), true
		}
		return 0, false
	}
	for _, mp := range maps {
		if mp.path == "[vdso]" {
			if a, ok := try(mp); ok {
				return a, nil
			}
		}
	}
	for _, mp := range maps {
		if a, ok := try(mp); ok {
			return a, nil
		}
	}
	return 0, errors.New("no syscall instruction found in the process's executable memory")
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
