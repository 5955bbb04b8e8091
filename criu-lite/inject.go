package criulite

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// thread is a ptrace-stopped thread we can run syscalls in.
type thread struct {
	tid  int
	sys  uint64          // address of a "syscall" instruction in the process
	base unix.PtraceRegs // registers the injected calls start from (fs/gs base kept)
	sigs []unix.Signal   // signals that arrived while injecting, to deliver again
	fork func(child int) // called with a new child's pid (fork/clone events)
}

// debug (CRIULITE_DEBUG=1) prints every stop of an injected syscall.
var debug = os.Getenv("CRIULITE_DEBUG") != ""

// inject runs one syscall in t and returns its result; a negative result is an errno.
func (t *thread) inject(nr uintptr, args ...uint64) (int64, error) {
	r := t.base
	var a [6]uint64
	copy(a[:], args)
	r.Rip, r.Rax, r.Orig_rax = t.sys, uint64(nr), ^uint64(0)
	r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = a[0], a[1], a[2], a[3], a[4], a[5]
	if err := unix.PtraceSetRegs(t.tid, &r); err != nil {
		return 0, fmt.Errorf("ptrace(SETREGS, %d): %w", t.tid, err)
	}
	for stops := 0; stops < 2; {
		if err := unix.PtraceSyscall(t.tid, 0); err != nil {
			return 0, fmt.Errorf("ptrace(SYSCALL, %d): %w", t.tid, err)
		}
		ws, err := waitStop(t.tid)
		if err != nil {
			return 0, err
		}
		if debug {
			fmt.Fprintf(os.Stderr, "criulite: inject %d in %d: stop %#x\n", nr, t.tid, uint32(ws))
		}
		switch {
		case ws.StopSignal() == unix.SIGTRAP|0x80:
			stops++
		case ws.TrapCause() == unix.PTRACE_EVENT_FORK || ws.TrapCause() == unix.PTRACE_EVENT_CLONE:
			msg, err := unix.PtraceGetEventMsg(t.tid)
			if err != nil {
				return 0, err
			}
			if t.fork != nil {
				t.fork(int(msg))
			}
		case ws.TrapCause() == ptraceEventStop || ws.TrapCause() > 0:
			// a group stop or an event we did not ask for: go on
		default:
			t.sigs = append(t.sigs, ws.StopSignal()) // delivered again on detach
		}
	}
	out, err := getRegs(t.tid)
	if err != nil {
		return 0, err
	}
	return int64(out.Rax), nil
}

// call is inject with the result turned into an error.
func (t *thread) call(name string, nr uintptr, args ...uint64) (uint64, error) {
	v, err := t.inject(nr, args...)
	if err != nil {
		return 0, err
	}
	if v < 0 && v > -4096 {
		return 0, fmt.Errorf("%s in process %d: %w", name, t.tid, unix.Errno(-v))
	}
	return uint64(v), nil
}

// mem is a process's memory, read and written through /proc/PID/mem (which, unlike
// process_vm_writev, writes into read-only private mappings too).
type mem struct{ f *os.File }

func openMem(pid int, write bool) (*mem, error) {
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", pid), flag, 0)
	if err != nil {
		return nil, err
	}
	return &mem{f}, nil
}

func (m *mem) read(addr uint64, b []byte) error {
	_, err := m.f.ReadAt(b, int64(addr))
	if err != nil {
		return fmt.Errorf("read memory at %#x: %w", addr, err)
	}
	return nil
}

func (m *mem) write(addr uint64, b []byte) error {
	_, err := m.f.WriteAt(b, int64(addr))
	if err != nil {
		return fmt.Errorf("write memory at %#x: %w", addr, err)
	}
	return nil
}

func (m *mem) close() { m.f.Close() }
