package criulite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

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
				if b.Addr < v.Start || b.Addr+uint64(b.Len) > v.End {
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

// prepareRoot maps the scratch pages in the fresh process and stages every saved object
// there, at fds above all the saved ones, for the children to inherit.
func (r *restorer) prepareRoot(p *rproc) error {
	t := p.t
	regs, err := getRegs(t.tid)
	if err != nil {
		return err
	}
	t.base = regs
	if p.mem, err = openMem(t.tid, true); err != nil {
		return err
	}
	if err := r.checkXstate(t.tid); err != nil {
		return err
	}
	maps, err := readMaps(t.tid)
	if err != nil {
		return err
	}
	if t.sys, err = findSyscall(p.mem, maps); err != nil {
		return err
	}
	r.scratch = r.findHole(maps, scratchPages*pageSize)
	if r.scratch == 0 {
		return errors.New("no room for the restorer's scratch pages")
	}
	if _, err := t.call("mmap(scratch)", unix.SYS_MMAP, r.scratch, pageSize, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0); err != nil {
		return err
	}
	if _, err := t.call("mmap(scratch)", unix.SYS_MMAP, r.data(), (scratchPages-1)*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0); err != nil {
		return err
	}
	if err := p.mem.write(r.scratch, []byte{0x0f, 0x05}); err != nil {
		return err
	}
	t.sys = r.scratch
	r.all = append(r.all, t)
	p.threads = []*thread{t}
	if err := r.stageShms(p, maps); err != nil {
		return err
	}
	return r.stageObjects(p)
}

func (r *restorer) checkXstate(tid int) error {
	xs, err := getXstate(tid)
	if err != nil {
		return err
	}
	if len(xs) != r.img.XstateSize {
		return fmt.Errorf("the image's FPU state is %d bytes, this CPU's is %d: restore on a machine with the same CPU features", r.img.XstateSize, len(xs))
	}
	return nil
}

// findHole finds an address range free in the fresh process and in every saved process.
func (r *restorer) findHole(cur []mapping, size uint64) uint64 {
	busy := func(a uint64) bool {
		e := a + size
		for _, m := range cur {
			if a < m.end && m.start < e {
				return true
			}
		}
		if a < r.scratch+scratchPages*pageSize && r.scratch < e && r.scratch != 0 {
			return true
		}
		for _, s := range r.reserved {
			if a < s[1] && s[0] < e {
				return true
			}
		}
		for _, p := range r.img.Processes {
			for _, v := range p.VMAs {
				if a < v.End && v.Start < e {
					return true
				}
			}
			for _, s := range p.Specials {
				if a < s.End && s.Start < e {
					return true
				}
			}
		}
		return false
	}
	for a := uint64(0x200000000); a < 0x7f0000000000; a += 0x40000000 {
		if !busy(a) {
			return a
		}
	}
	return 0
}

// stageShms makes every shared anonymous memory object in the root, at an address free
// everywhere, with its saved contents: the forked processes inherit it (shared), and each
// maps its saved ranges of it in place (mremap with old size 0 maps the same pages again).
func (r *restorer) stageShms(p *rproc, maps []mapping) error {
	r.shmAt = map[int]uint64{}
	for _, sh := range r.img.Shms {
		size := (sh.Size + pageSize - 1) &^ (pageSize - 1)
		a := r.findHole(maps, size)
		if a == 0 {
			return errors.New("no room to stage shared memory")
		}
		if _, err := p.t.call("mmap(shared)", unix.SYS_MMAP, a, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0); err != nil {
			return err
		}
		r.shmAt[sh.ID] = a
		r.reserved = append(r.reserved, [2]uint64{a, a + size})
		for _, b := range sh.Pages {
			data, err := r.img.blob(b)
			if err != nil {
				return err
			}
			if b.Addr+uint64(len(data)) > size {
				return errors.New("checkpoint image: shared memory pages outside the object")
			}
			if err := p.mem.write(a+b.Addr, data); err != nil {
				return err
			}
		}
	}
	return nil
}

// staged says whether [start, end) is the scratch pages or a staged shared memory object.
func (r *restorer) staged(start, end uint64) bool {
	if start >= r.scratch && end <= r.scratch+scratchPages*pageSize {
		return true
	}
	for _, s := range r.reserved {
		if start >= s[0] && end <= s[1] {
			return true
		}
	}
	return false
}

// putString writes a NUL-terminated string in the scratch data pages.
func (r *restorer) putString(p *rproc, s string) (uint64, error) {
	if len(s) >= 8*pageSize {
		return 0, fmt.Errorf("path too long: %q", s)
	}
	a := r.data() + 8*pageSize
	return a, p.mem.write(a, append([]byte(s), 0))
}

// stageObjects creates every object in the root process at fds from r.base on.
func (r *restorer) stageObjects(p *rproc) error {
	hi := 2
	for _, sp := range r.img.Processes {
		for _, f := range sp.FDs {
			hi = max(hi, f.Fd)
		}
	}
	if fds, err := fdList(p.t.tid); err == nil {
		for _, f := range fds {
			hi = max(hi, f)
		}
	}
	r.base = hi + 1
	r.objFd = map[int]int{}
	pipes := map[int][2]int{}
	for i, o := range r.img.Objects {
		fd, err := r.createObject(p, o, pipes)
		if err != nil {
			return fmt.Errorf("object %d (%s %s): %w", o.ID, o.Kind, o.Path, err)
		}
		at, err := p.t.call("fcntl(F_DUPFD_CLOEXEC)", unix.SYS_FCNTL, uint64(fd), unix.F_DUPFD_CLOEXEC, uint64(r.base+i))
		if err != nil {
			return err
		}
		if int(at) != r.base+i {
			return fmt.Errorf("staging fd %d landed at %d", r.base+i, at)
		}
		r.objFd[o.ID] = r.base + i
	}
	// the temporary fds (below base) are closed when each process's table is rebuilt
	return nil
}

func (r *restorer) createObject(p *rproc, o Object, pipes map[int][2]int) (int, error) {
	t := p.t
	switch o.Kind {
	case ObjStdio:
		return o.Stdio, nil
	case ObjFile:
		a, err := r.putString(p, o.Path)
		if err != nil {
			return 0, err
		}
		flags := o.Flags &^ (unix.O_CREAT | unix.O_TRUNC | unix.O_EXCL)
		fd, err := t.call("openat", unix.SYS_OPENAT, atFdcwd, a, uint64(flags|unix.O_CLOEXEC), 0)
		if err != nil {
			return 0, err
		}
		if o.Pos != 0 {
			if _, err := t.call("lseek", unix.SYS_LSEEK, fd, uint64(o.Pos), 0); err != nil {
				return 0, err
			}
		}
		return int(fd), nil
	case ObjPipeR, ObjPipeW:
		pp, ok := pipes[o.Pipe]
		if !ok {
			if _, err := t.call("pipe2", unix.SYS_PIPE2, r.data(), unix.O_CLOEXEC); err != nil {
				return 0, err
			}
			var b [8]byte
			if err := p.mem.read(r.data(), b[:]); err != nil {
				return 0, err
			}
			pp = [2]int{int(binary.LittleEndian.Uint32(b[0:])), int(binary.LittleEndian.Uint32(b[4:]))}
			pipes[o.Pipe] = pp
		}
		if o.Data.Len > 0 {
			if err := r.fillPipe(t.tid, pp[1], o.Data); err != nil {
				return 0, err
			}
		}
		fd := pp[0]
		if o.Kind == ObjPipeW {
			fd = pp[1]
		}
		if o.Flags&unix.O_NONBLOCK != 0 {
			if _, err := t.call("fcntl(F_SETFL)", unix.SYS_FCNTL, uint64(fd), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
				return 0, err
			}
		}
		return fd, nil
	case ObjEventfd:
		fl := unix.EFD_CLOEXEC | (o.Flags & unix.O_NONBLOCK)
		fd, err := t.call("eventfd2", unix.SYS_EVENTFD2, o.Count, uint64(fl))
		return int(fd), err
	case ObjListen:
		return r.listenSocket(p, o)
	case ObjSignalfd:
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, o.Count)
		if err := p.mem.write(r.data(), b); err != nil {
			return 0, err
		}
		fd, err := t.call("signalfd4", unix.SYS_SIGNALFD4, ^uint64(0), r.data(), 8, uint64(unix.SFD_CLOEXEC|(o.Flags&unix.O_NONBLOCK)))
		return int(fd), err
	case ObjTimerfd:
		return r.timerfd(p, o)
	case ObjUnixEnd:
		pp, ok := r.pairs[o.Pipe]
		if !ok {
			if _, err := t.call("socketpair", unix.SYS_SOCKETPAIR, unix.AF_UNIX, uint64(o.Type|unix.SOCK_CLOEXEC), 0, r.data()); err != nil {
				return 0, err
			}
			var b [8]byte
			if err := p.mem.read(r.data(), b[:]); err != nil {
				return 0, err
			}
			pp = [2]int{int(binary.LittleEndian.Uint32(b[0:])), int(binary.LittleEndian.Uint32(b[4:]))}
			r.pairs[o.Pipe] = pp
		}
		fd := pp[o.End&1]
		if o.Flags&unix.O_NONBLOCK != 0 {
			if _, err := t.call("fcntl(F_SETFL)", unix.SYS_FCNTL, uint64(fd), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
				return 0, err
			}
		}
		return fd, nil
	case ObjEpoll:
		fd, err := t.call("epoll_create1", unix.SYS_EPOLL_CREATE1, unix.EPOLL_CLOEXEC)
		return int(fd), err
	}
	return 0, fmt.Errorf("unknown object kind %q", o.Kind)
}

// timerfd re-creates a timerfd with the time its next expiry had left and its interval; an
// expiry that was pending unread is made pending again by arming it to fire at once.
func (r *restorer) timerfd(p *rproc, o Object) (int, error) {
	tm := o.Timer
	if tm == nil {
		return 0, errors.New("checkpoint image: a timerfd without its timer")
	}
	fd, err := p.t.call("timerfd_create", unix.SYS_TIMERFD_CREATE, uint64(tm.Clock), uint64(unix.TFD_CLOEXEC|(o.Flags&unix.O_NONBLOCK)))
	if err != nil {
		return 0, err
	}
	value := tm.Value
	if tm.Pending {
		value = [2]int64{0, 1}
	}
	if value == [2]int64{} {
		return int(fd), nil // disarmed
	}
	b := make([]byte, 32)
	for i, v := range []int64{tm.Interval[0], tm.Interval[1], value[0], value[1]} {
		binary.LittleEndian.PutUint64(b[i*8:], uint64(v))
	}
	if err := p.mem.write(r.data(), b); err != nil {
		return 0, err
	}
	if _, err := p.t.call("timerfd_settime", unix.SYS_TIMERFD_SETTIME, fd, 0, r.data(), 0); err != nil {
		return 0, err
	}
	return int(fd), nil
}

// fillPipe writes a pipe's saved bytes through /proc/PID/fd (from the restorer).
func (r *restorer) fillPipe(pid, fd int, b Blob) error {
	data, err := r.img.blob(b)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(procPath(pid, "fd/"+strconv.Itoa(fd)), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(data)
	return err
}

// listenSocket re-creates a listening TCP socket on its saved address, inside the
// container (its bind is checked by Landlock and seccomp like the original's).
func (r *restorer) listenSocket(p *rproc, o Object) (int, error) {
	t := p.t
	var sa []byte
	switch {
	case o.Family == unix.AF_INET && len(o.Addr) == 6:
		sa = make([]byte, 16)
		binary.LittleEndian.PutUint16(sa, unix.AF_INET)
		copy(sa[2:4], o.Addr[4:6])
		for i := range 4 {
			sa[4+i] = o.Addr[3-i]
		}
	case o.Family == unix.AF_INET6 && len(o.Addr) == 18:
		sa = make([]byte, 28)
		binary.LittleEndian.PutUint16(sa, unix.AF_INET6)
		copy(sa[2:4], o.Addr[16:18])
		for w := range 4 {
			for i := range 4 {
				sa[8+w*4+i] = o.Addr[w*4+3-i]
			}
		}
	default:
		return 0, errors.New("bad saved address")
	}
	typ := unix.SOCK_STREAM | unix.SOCK_CLOEXEC | (o.Flags & unix.O_NONBLOCK)
	fd, err := t.call("socket", unix.SYS_SOCKET, uint64(o.Family), uint64(typ), 0)
	if err != nil {
		return 0, err
	}
	one := r.data() + 4*pageSize
	if err := p.mem.write(one, []byte{1, 0, 0, 0}); err != nil {
		return 0, err
	}
	if _, err := t.call("setsockopt(SO_REUSEADDR)", unix.SYS_SETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, one, 4); err != nil {
		return 0, err
	}
	a := r.data() + 5*pageSize
	if err := p.mem.write(a, sa); err != nil {
		return 0, err
	}
	if _, err := t.call("bind", unix.SYS_BIND, fd, a, uint64(len(sa))); err != nil {
		return 0, err
	}
	if _, err := t.call("listen", unix.SYS_LISTEN, fd, 4096); err != nil {
		return 0, err
	}
	return int(fd), nil
}

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

// fork forks a child of parent with the saved pid want: a parent that waits for its child by
// pid (a shell's job table) finds it again. The pid is asked for through ns_last_pid (as CRIU
// did before clone3's set_tid), under its lock; a pid taken on this host fails the restore.
func (r *restorer) fork(parent *rproc, want int) (*rproc, error) {
	if !pidFree(want) {
		return nil, fmt.Errorf("pid %d is in use on this host: the saved process %d cannot get its pid back", want, want)
	}
	lp, err := os.OpenFile("/proc/sys/kernel/ns_last_pid", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("choosing pid %d: %w", want, err)
	}
	defer lp.Close()
	if err := unix.Flock(int(lp.Fd()), unix.LOCK_EX); err != nil {
		return nil, err
	}
	for try := 0; try < 5; try++ {
		if _, err := lp.WriteAt([]byte(strconv.Itoa(want-1)), 0); err != nil {
			return nil, fmt.Errorf("choosing pid %d: ns_last_pid: %w", want, err)
		}
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
		t, err := r.newThread(child, parent.t.sys)
		if err != nil {
			return nil, err
		}
		if child != want {
			// another process on the host took it first: end this one, reap it in the
			// parent, and try again
			_ = unix.Kill(child, unix.SIGKILL)
			r.dropThread(t)
			_, _ = parent.t.inject(unix.SYS_WAIT4, uint64(child), 0, unix.WALL, 0)
			continue
		}
		m, err := openMem(child, true)
		if err != nil {
			return nil, err
		}
		return &rproc{t: t, threads: []*thread{t}, mem: m}, nil
	}
	return nil, fmt.Errorf("pid %d: other processes on this host kept taking it", want)
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

// restoreFDs puts every saved fd in place from the staged objects and closes the rest.
func (r *restorer) restoreFDs(p *rproc) error {
	want := map[int]bool{}
	for _, f := range p.saved.FDs {
		fl := uint64(0)
		if f.Cloexec {
			fl = unix.O_CLOEXEC
		}
		if _, err := p.t.call("dup3", unix.SYS_DUP3, uint64(r.objFd[f.Object]), uint64(f.Fd), fl); err != nil {
			return fmt.Errorf("fd %d: %w", f.Fd, err)
		}
		want[f.Fd] = true
	}
	if err := r.fillEpolls(p); err != nil {
		return err
	}
	fds, err := fdList(p.t.tid)
	if err != nil {
		return err
	}
	for _, fd := range fds {
		if !want[fd] {
			if _, err := p.t.call("close", unix.SYS_CLOSE, uint64(fd)); err != nil {
				return err
			}
		}
	}
	return nil
}

// fillEpolls adds their watched fds to the epoll instances of p, once its fds are in place
// (an instance shared by several processes is filled once, by the first).
func (r *restorer) fillEpolls(p *rproc) error {
	byID := map[int]Object{}
	for _, o := range r.img.Objects {
		byID[o.ID] = o
	}
	for _, f := range p.saved.FDs {
		o := byID[f.Object]
		if o.Kind != ObjEpoll || r.filled[o.ID] {
			continue
		}
		r.filled[o.ID] = true
		for _, tg := range o.Epoll {
			ev := make([]byte, 12) // struct epoll_event is packed on x86-64
			binary.LittleEndian.PutUint32(ev[0:], tg.Events)
			binary.LittleEndian.PutUint64(ev[4:], tg.Data)
			if err := p.mem.write(r.data(), ev); err != nil {
				return err
			}
			if _, err := p.t.call(fmt.Sprintf("epoll_ctl(fd %d)", tg.Fd), unix.SYS_EPOLL_CTL, uint64(f.Fd), unix.EPOLL_CTL_ADD, uint64(tg.Fd), r.data()); err != nil {
				return err
			}
		}
	}
	return nil
}

// restoreMemory replaces the fresh program's memory with the saved mappings.
func (r *restorer) restoreMemory(p *rproc) error {
	maps, err := readMaps(p.t.tid)
	if err != nil {
		return err
	}
	var specials []mapping
	for _, m := range maps {
		switch {
		case r.staged(m.start, m.end):
		case m.special():
			if m.path != "[vsyscall]" {
				specials = append(specials, m)
			}
		default:
			if _, err := p.t.call("munmap", unix.SYS_MUNMAP, m.start, m.end-m.start); err != nil {
				return err
			}
		}
	}
	if err := r.moveSpecials(p, specials); err != nil {
		return err
	}
	for _, v := range p.saved.VMAs {
		if err := r.mapVMA(p, v); err != nil {
			return fmt.Errorf("mapping %#x-%#x %s: %w", v.Start, v.End, v.Path, err)
		}
	}
	return nil
}

// moveSpecials moves the fresh process's vdso and vvar to the saved addresses: the saved
// program's libc keeps pointers into its vdso.
func (r *restorer) moveSpecials(p *rproc, cur []mapping) error {
	saved := map[string]Special{}
	for _, s := range p.saved.Specials {
		saved[s.Name] = s
	}
	for _, m := range cur {
		s, ok := saved[m.path]
		if !ok {
			continue // the saved process had none: it never calls into it
		}
		if s.End-s.Start != m.end-m.start {
			return fmt.Errorf("the kernel's %s is %d bytes here and was %d: restore on the same kernel", m.path, m.end-m.start, s.End-s.Start)
		}
	}
	// two moves, through addresses free everywhere, since a saved place may be a current one
	tmp := r.scratch + 0x10000000
	for i, m := range cur {
		to := tmp + uint64(i)*0x100000
		if _, err := p.t.call("mremap("+m.path+")", unix.SYS_MREMAP, m.start, m.end-m.start, m.end-m.start, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, to); err != nil {
			return err
		}
		cur[i].end, cur[i].start = to+m.end-m.start, to
	}
	for _, m := range cur {
		s, ok := saved[m.path]
		if !ok {
			if _, err := p.t.call("munmap", unix.SYS_MUNMAP, m.start, m.end-m.start); err != nil {
				return err
			}
			continue
		}
		if _, err := p.t.call("mremap("+m.path+")", unix.SYS_MREMAP, m.start, m.end-m.start, m.end-m.start, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, s.Start); err != nil {
			return err
		}
	}
	return nil
}

func (r *restorer) mapVMA(p *rproc, v VMA) error {
	t := p.t
	mapProt := v.Prot
	if len(v.Pages) > 0 {
		mapProt |= unix.PROT_READ | unix.PROT_WRITE
	}
	length := v.End - v.Start
	if v.Shm != 0 {
		return r.mapShm(p, v)
	}
	if v.Path == "" {
		flags := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED
		if v.Stack {
			flags |= unix.MAP_GROWSDOWN
		}
		if _, err := t.call("mmap", unix.SYS_MMAP, v.Start, length, uint64(mapProt), uint64(flags), ^uint64(0), 0); err != nil {
			return err
		}
	} else {
		if err := r.mapFile(p, v, mapProt); err != nil {
			return err
		}
	}
	for _, b := range v.Pages {
		data, err := r.img.blob(b)
		if err != nil {
			return err
		}
		if err := p.mem.write(b.Addr, data); err != nil {
			return err
		}
	}
	if mapProt != v.Prot {
		if _, err := t.call("mprotect", unix.SYS_MPROTECT, v.Start, length, uint64(v.Prot)); err != nil {
			return err
		}
	}
	return nil
}

// mapShm maps a saved range of a staged shared memory object in place.
func (r *restorer) mapShm(p *rproc, v VMA) error {
	at, ok := r.shmAt[v.Shm]
	if !ok {
		return fmt.Errorf("checkpoint image: a mapping names shared memory object %d, which it does not hold", v.Shm)
	}
	length := v.End - v.Start
	if _, err := p.t.call("mremap(shared)", unix.SYS_MREMAP, at+v.Offset, 0, length, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, v.Start); err != nil {
		return err
	}
	if v.Prot != unix.PROT_READ|unix.PROT_WRITE {
		if _, err := p.t.call("mprotect", unix.SYS_MPROTECT, v.Start, length, uint64(v.Prot)); err != nil {
			return err
		}
	}
	return nil
}

// mapFile maps a file opened inside the container (under its Landlock rules), after
// checking that it is the file that was mapped.
func (r *restorer) mapFile(p *rproc, v VMA, prot int) error {
	t := p.t
	a, err := r.putString(p, v.Path)
	if err != nil {
		return err
	}
	oflags := unix.O_RDONLY
	if v.Shared && v.Prot&unix.PROT_WRITE != 0 {
		oflags = unix.O_RDWR
	}
	fd, err := t.call("openat("+v.Path+")", unix.SYS_OPENAT, atFdcwd, a, uint64(oflags|unix.O_CLOEXEC), 0)
	if err != nil {
		return err
	}
	defer func() { _, _ = t.inject(unix.SYS_CLOSE, fd) }()
	if err := r.verify(t.tid, int(fd), v); err != nil {
		return err
	}
	flags := unix.MAP_PRIVATE | unix.MAP_FIXED
	if v.Shared {
		flags = unix.MAP_SHARED | unix.MAP_FIXED
	}
	_, err = t.call("mmap", unix.SYS_MMAP, v.Start, v.End-v.Start, uint64(prot), uint64(flags), fd, v.Offset)
	return err
}

// verify checks that the file open at fd is the one the checkpoint mapped (once per path).
func (r *restorer) verify(pid, fd int, v VMA) error {
	if r.hashes[v.Path] == v.SHA256 {
		return nil
	}
	var h fileHashes = map[string]string{}
	sum, err := h.file(procPath(pid, "fd/"+strconv.Itoa(fd)))
	if err != nil {
		return err
	}
	if sum != v.SHA256 {
		return fmt.Errorf("the file %s is not the one the checkpoint mapped (its contents differ)", v.Path)
	}
	r.hashes[v.Path] = sum
	return nil
}

// restoreState sets the per-process state: mm bounds, personality, credentials, umask, cwd,
// limits, signal handlers, interval timers.
func (r *restorer) restoreState(p *rproc) error {
	sp, t := p.saved, p.t
	if err := r.setMM(p); err != nil {
		return err
	}
	if b, err := os.ReadFile(procPath(t.tid, "personality")); err == nil {
		cur, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 32)
		if uint32(cur) != sp.Personality {
			if _, err := t.call("personality", unix.SYS_PERSONALITY, uint64(sp.Personality)); err != nil {
				return err
			}
		}
	}
	if err := r.setCreds(p); err != nil {
		return err
	}
	if _, err := t.call("umask", unix.SYS_UMASK, uint64(sp.Umask)); err != nil {
		return err
	}
	a, err := r.putString(p, sp.Cwd)
	if err != nil {
		return err
	}
	if _, err := t.call("chdir("+sp.Cwd+")", unix.SYS_CHDIR, a); err != nil {
		return err
	}
	buf := make([]byte, 32)
	for _, l := range sp.Rlimits {
		binary.LittleEndian.PutUint64(buf[0:], l.Cur)
		binary.LittleEndian.PutUint64(buf[8:], l.Max)
		if err := p.mem.write(r.data(), buf[:16]); err != nil {
			return err
		}
		if _, err := t.call(fmt.Sprintf("prlimit(resource %d)", l.Resource), unix.SYS_PRLIMIT64, 0, uint64(l.Resource), r.data(), 0); err != nil {
			return err
		}
	}
	for _, sa := range sp.Sigactions {
		binary.LittleEndian.PutUint64(buf[0:], sa.Handler)
		binary.LittleEndian.PutUint64(buf[8:], sa.Flags)
		binary.LittleEndian.PutUint64(buf[16:], sa.Restorer)
		binary.LittleEndian.PutUint64(buf[24:], sa.Mask)
		if err := p.mem.write(r.data(), buf); err != nil {
			return err
		}
		if _, err := t.call(fmt.Sprintf("rt_sigaction(%d)", sa.Sig), unix.SYS_RT_SIGACTION, uint64(sa.Sig), r.data(), 0, 8); err != nil {
			return err
		}
	}
	for which, it := range sp.Itimers {
		if it.Value == [2]int64{} {
			continue
		}
		binary.LittleEndian.PutUint64(buf[0:], uint64(it.Interval[0]))
		binary.LittleEndian.PutUint64(buf[8:], uint64(it.Interval[1]))
		binary.LittleEndian.PutUint64(buf[16:], uint64(it.Value[0]))
		binary.LittleEndian.PutUint64(buf[24:], uint64(it.Value[1]))
		if err := p.mem.write(r.data(), buf); err != nil {
			return err
		}
		if _, err := t.call("setitimer", unix.SYS_SETITIMER, uint64(which), r.data(), 0); err != nil {
			return err
		}
	}
	return nil
}

// setMM restores the mm bounds (brk above all: malloc continues the saved heap) and auxv
// with prctl(PR_SET_MM_MAP), which needs no privilege: the kernel checks the values.
func (r *restorer) setMM(p *rproc) error {
	mm := p.saved.MM
	b := make([]byte, 104)
	for i, v := range []uint64{mm.StartCode, mm.EndCode, mm.StartData, mm.EndData, mm.StartBrk, mm.Brk, mm.StartStack, mm.ArgStart, mm.ArgEnd, mm.EnvStart, mm.EnvEnd} {
		binary.LittleEndian.PutUint64(b[i*8:], v)
	}
	auxv := p.saved.Auxv
	if len(auxv) > 0 && len(auxv) <= 4*pageSize {
		aa := r.data() + 2*pageSize
		if err := p.mem.write(aa, auxv); err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(b[88:], aa)
		binary.LittleEndian.PutUint32(b[96:], uint32(len(auxv)))
	}
	binary.LittleEndian.PutUint32(b[100:], ^uint32(0)) // exe_fd: keep the exec'd program
	if err := p.mem.write(r.data(), b); err != nil {
		return err
	}
	const prSetMM, prSetMMMap = 35, 14
	_, err := p.t.call("prctl(PR_SET_MM_MAP)", unix.SYS_PRCTL, prSetMM, prSetMMMap, r.data(), uint64(len(b)), 0)
	return err
}

// setCreds gives the process its saved ids when they differ from the container's (a
// process that changed its own); the kernel refuses any the process could not take itself.
func (r *restorer) setCreds(p *rproc) error {
	st, err := statusFields(p.t.tid)
	if err != nil {
		return err
	}
	sp := p.saved
	if g := ids(st["Gid"]); g != sp.Gids {
		if _, err := p.t.call("setresgid", unix.SYS_SETRESGID, uint64(sp.Gids[0]), uint64(sp.Gids[1]), uint64(sp.Gids[2])); err != nil {
			return err
		}
	}
	if u := ids(st["Uid"]); u != sp.Uids {
		if _, err := p.t.call("setresuid", unix.SYS_SETRESUID, uint64(sp.Uids[0]), uint64(sp.Uids[1]), uint64(sp.Uids[2])); err != nil {
			return err
		}
	}
	return nil
}

const threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM

// restoreThreads creates the other threads and sets every thread's own state.
func (r *restorer) restoreThreads(p *rproc) error {
	for _, st := range p.saved.Threads[1:] {
		flags := uint64(threadFlags)
		if st.TidAddr != 0 {
			flags |= unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID
		}
		var tid int
		p.t.fork = func(c int) { tid = c }
		_, err := p.t.call("clone(thread)", unix.SYS_CLONE, flags, 0, 0, st.TidAddr, 0)
		p.t.fork = nil
		if err != nil {
			return err
		}
		if tid == 0 {
			return errors.New("clone: no clone event")
		}
		t, err := r.newThread(tid, p.t.sys)
		if err != nil {
			return err
		}
		p.threads = append(p.threads, t)
	}
	for i, st := range p.saved.Threads {
		if err := r.threadState(p, p.threads[i], st, i == 0); err != nil {
			return fmt.Errorf("thread %d: %w", st.Tid, err)
		}
	}
	return nil
}

func (r *restorer) threadState(p *rproc, t *thread, st Thread, leader bool) error {
	if leader && st.TidAddr != 0 {
		if _, err := t.call("set_tid_address", unix.SYS_SET_TID_ADDRESS, st.TidAddr); err != nil {
			return err
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(t.tid))
		if err := p.mem.write(st.TidAddr, b[:]); err != nil {
			return err
		}
	}
	if st.Comm != "" {
		a, err := r.putString(p, st.Comm)
		if err != nil {
			return err
		}
		if _, err := t.call("prctl(PR_SET_NAME)", unix.SYS_PRCTL, unix.PR_SET_NAME, a); err != nil {
			return err
		}
	}
	if st.AltStack[1]&ssDisable == 0 && st.AltStack[2] != 0 {
		b := make([]byte, 24)
		binary.LittleEndian.PutUint64(b[0:], st.AltStack[0])
		binary.LittleEndian.PutUint32(b[8:], uint32(st.AltStack[1]&^ssOnStack))
		binary.LittleEndian.PutUint64(b[16:], st.AltStack[2])
		if err := p.mem.write(r.data(), b); err != nil {
			return err
		}
		if _, err := t.call("sigaltstack", unix.SYS_SIGALTSTACK, r.data(), 0); err != nil {
			return err
		}
	}
	if st.RobustList != 0 {
		if _, err := t.call("set_robust_list", unix.SYS_SET_ROBUST_LIST, st.RobustList, st.RobustLen); err != nil {
			return err
		}
	}
	if st.Rseq != nil {
		if _, err := t.call("rseq", unix.SYS_RSEQ, st.Rseq.Addr, uint64(st.Rseq.Len), 0, uint64(st.Rseq.Sig)); err != nil {
			return err
		}
	}
	return nil
}

// queueSignals puts the saved pending signals back: those the thread (for the shared queue,
// the leader) blocks are queued again with their siginfo by the thread itself
// (rt_tgsigqueueinfo to oneself may carry any si_code); one that is not blocked is delivered
// when the thread is let go, as the signal of its detach. Signals are given in the order saved.
func (r *restorer) queueSignals(p *rproc) error {
	queue := func(t *thread, mask uint64, infos [][]byte, shared bool) error {
		for _, si := range infos {
			if len(si) != 128 {
				return errors.New("checkpoint image: a pending siginfo is not 128 bytes")
			}
			sig := int(binary.LittleEndian.Uint32(si))
			if sig < 1 || sig > 64 {
				return fmt.Errorf("checkpoint image: pending signal %d", sig)
			}
			if mask&(1<<(sig-1)) == 0 {
				if len(t.sigs) > 0 {
					return fmt.Errorf("thread %d had several unblocked signals pending: cannot restore them all", t.tid)
				}
				t.sigs = append(t.sigs, unix.Signal(sig))
				continue
			}
			if err := p.mem.write(r.data(), si); err != nil {
				return err
			}
			var err error
			if shared {
				_, err = t.call("rt_sigqueueinfo", unix.SYS_RT_SIGQUEUEINFO, uint64(p.t.tid), uint64(sig), r.data())
			} else {
				_, err = t.call("rt_tgsigqueueinfo", unix.SYS_RT_TGSIGQUEUEINFO, uint64(p.t.tid), uint64(t.tid), uint64(sig), r.data())
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	for i, st := range p.saved.Threads {
		if err := queue(p.threads[i], st.Sigmask, st.Pending, false); err != nil {
			return err
		}
	}
	return queue(p.t, p.saved.Threads[0].Sigmask, p.saved.Pending, true)
}

// release unmaps the scratch pages, sets every thread's saved registers and detaches.
func (r *restorer) release() error {
	for _, sp := range r.img.Processes {
		p := r.procs[sp.Pid]
		maps, err := readMaps(p.t.tid)
		if err != nil {
			return err
		}
		var others []mapping
		for _, m := range maps {
			if !r.staged(m.start, m.end) {
				others = append(others, m)
			}
		}
		sys, err := findSyscall(p.mem, others)
		if err != nil {
			return err
		}
		p.t.sys = sys
		for _, s := range r.reserved {
			if _, err := p.t.call("munmap(staged)", unix.SYS_MUNMAP, s[0], s[1]-s[0]); err != nil {
				return err
			}
		}
		for i, st := range sp.Threads {
			if err := setSigmask(p.threads[i].tid, st.Sigmask); err != nil {
				return fmt.Errorf("ptrace(SETSIGMASK): %w", err)
			}
		}
		if err := r.queueSignals(p); err != nil {
			return err
		}
		if _, err := p.t.call("munmap(scratch)", unix.SYS_MUNMAP, r.scratch, scratchPages*pageSize); err != nil {
			return err
		}
		for i, st := range sp.Threads {
			t := p.threads[i]
			xs, err := r.img.blob(st.Xstate)
			if err != nil {
				return err
			}
			if err := setXstate(t.tid, xs); err != nil {
				return err
			}
			regs := st.Regs
			regs.Orig_rax = ^uint64(0)
			if err := unix.PtraceSetRegs(t.tid, &regs); err != nil {
				return fmt.Errorf("ptrace(SETREGS, %d): %w", t.tid, err)
			}
		}
		p.mem.close()
	}
	var errs []error
	for _, t := range r.all {
		sig := 0
		if len(t.sigs) > 0 {
			sig = int(t.sigs[0]) // a pending signal the thread does not block: delivered now
		}
		if err := ptrace(unix.PTRACE_DETACH, t.tid, 0, uintptr(sig)); err != nil {
			errs = append(errs, fmt.Errorf("ptrace(DETACH, %d): %w", t.tid, err))
		}
	}
	return errors.Join(errs...)
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
