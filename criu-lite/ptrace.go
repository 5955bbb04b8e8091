package criulite

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ptrace requests and options that x/sys/unix does not name for amd64.
const (
	ptraceGetRegset     = 0x4204
	ptraceSetRegset     = 0x4205
	ptraceSeize         = 0x4206
	ptraceInterrupt     = 0x4207
	ptraceGetSigmask    = 0x420a
	ptraceSetSigmask    = 0x420b
	ptraceGetRseqConfig = 0x420f
	ntX86Xstate         = 0x202
	ptraceEventStop     = 128
	optTraceSysGood     = 0x1
	optTraceFork        = 0x2
	optTraceClone       = 0x8
	optTraceExec        = 0x10
	optExitKill         = 0x100000
	maxXstate           = 1 << 16
	syscallInsn         = 0x050f // "syscall" (0f 05), little endian
	restartSys          = 512    // -ERESTARTSYS
	restartNoIntr       = 513
	restartNoHand       = 514
	restartRestartBlock = 516
)

func ptrace(req int, pid int, addr, data uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(pid), addr, data, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// seize attaches to one thread without stopping it.
func seize(tid int, opts uintptr) error {
	if err := ptrace(ptraceSeize, tid, 0, opts); err != nil {
		return fmt.Errorf("ptrace(SEIZE, %d): %w", tid, err)
	}
	return nil
}

// waitStop waits for tid to stop and returns its wait status.
func waitStop(tid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(tid, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ws, fmt.Errorf("wait for thread %d: %w", tid, err)
		}
		if ws.Exited() || ws.Signaled() {
			return ws, fmt.Errorf("thread %d ended (%v) under the checkpointer", tid, ws)
		}
		return ws, nil
	}
}

func getRegs(tid int) (unix.PtraceRegs, error) {
	var r unix.PtraceRegs
	err := unix.PtraceGetRegs(tid, &r)
	return r, err
}

func getXstate(tid int) ([]byte, error) {
	buf := make([]byte, maxXstate)
	iov := unix.Iovec{Base: &buf[0], Len: uint64(len(buf))}
	if err := ptrace(ptraceGetRegset, tid, ntX86Xstate, uintptr(unsafe.Pointer(&iov))); err != nil {
		return nil, fmt.Errorf("ptrace(GETREGSET xstate, %d): %w", tid, err)
	}
	return buf[:iov.Len], nil
}

func setXstate(tid int, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	c := append([]byte(nil), b...)
	iov := unix.Iovec{Base: &c[0], Len: uint64(len(c))}
	if err := ptrace(ptraceSetRegset, tid, ntX86Xstate, uintptr(unsafe.Pointer(&iov))); err != nil {
		return fmt.Errorf("ptrace(SETREGSET xstate, %d): %w", tid, err)
	}
	return nil
}

func getSigmask(tid int) (uint64, error) {
	var m uint64
	err := ptrace(ptraceGetSigmask, tid, 8, uintptr(unsafe.Pointer(&m)))
	return m, err
}

func setSigmask(tid int, m uint64) error {
	return ptrace(ptraceSetSigmask, tid, 8, uintptr(unsafe.Pointer(&m)))
}

// Rseq is a thread's rseq registration (PTRACE_GET_RSEQ_CONFIGURATION).
type Rseq struct {
	Addr  uint64 `json:"addr"`
	Len   uint32 `json:"len"`
	Flags uint32 `json:"flags"`
	Sig   uint32 `json:"sig"`
}

func getRseq(tid int) (*Rseq, error) {
	var c struct {
		Addr  uint64
		Len   uint32
		Flags uint32
		Sig   uint32
		_     uint32
	}
	if err := ptrace(ptraceGetRseqConfig, tid, unsafe.Sizeof(c), uintptr(unsafe.Pointer(&c))); err != nil {
		return nil, fmt.Errorf("ptrace(GET_RSEQ_CONFIGURATION, %d): %w", tid, err)
	}
	if c.Addr == 0 {
		return nil, nil
	}
	return &Rseq{Addr: c.Addr, Len: c.Len, Flags: c.Flags, Sig: c.Sig}, nil
}

// robustList reads a thread's robust futex list head from outside (get_robust_list).
func robustList(tid int) (head, size uint64, err error) {
	_, _, e := unix.Syscall(unix.SYS_GET_ROBUST_LIST, uintptr(tid), uintptr(unsafe.Pointer(&head)), uintptr(unsafe.Pointer(&size)))
	if e != 0 {
		return 0, 0, fmt.Errorf("get_robust_list(%d): %w", tid, e)
	}
	return head, size, nil
}

// fixRestart turns the registers of a thread stopped inside an interrupted syscall into
// registers that redo the syscall when resumed without the kernel's restart logic (which our
// injected syscalls and the restore bypass: orig_rax is set to -1). A syscall that needs the
// kernel's restart block (nanosleep, a futex wait with a timeout) returns EINTR instead, as
// it does after a signal handler that does not restart.
func fixRestart(r *unix.PtraceRegs) {
	if int64(r.Orig_rax) >= 0 {
		switch -int64(r.Rax) {
		case restartSys, restartNoIntr, restartNoHand:
			r.Rax = r.Orig_rax
			r.Rip -= 2
		case restartRestartBlock:
			r.Rax = negErrno(unix.EINTR)
		}
	}
	r.Orig_rax = ^uint64(0)
}

// negErrno is the syscall return value of a failure with e.
func negErrno(e unix.Errno) uint64 { return uint64(-int64(e)) }

const ptracePeekSiginfo = 0x4209

// pendingSignals reads a thread's queued signals (shared: the process's queue) as raw
// 128-byte siginfos, without dequeuing them.
func pendingSignals(tid int, shared bool) ([][]byte, error) {
	var out [][]byte
	for off := uint64(0); ; {
		args := struct {
			Off   uint64
			Flags uint32
			Nr    int32
		}{Off: off, Nr: 32}
		if shared {
			args.Flags = 1
		}
		buf := make([]byte, 128*32)
		n, _, e := unix.Syscall6(unix.SYS_PTRACE, ptracePeekSiginfo, uintptr(tid), uintptr(unsafe.Pointer(&args)), uintptr(unsafe.Pointer(&buf[0])), 0, 0)
		if e != 0 {
			return nil, fmt.Errorf("ptrace(PEEKSIGINFO, %d): %w", tid, e)
		}
		if n == 0 {
			return out, nil
		}
		for i := 0; i < int(n); i++ {
			out = append(out, buf[i*128:(i+1)*128])
		}
		off += uint64(n)
	}
}

// sigaltstack flags (<signal.h>).
const (
	ssOnStack = 1
	ssDisable = 2
)
