package notifsup

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// The vDSO answers clock_gettime, gettimeofday and time in the process, without entering the
// kernel, from the host's clock: libc (glibc, musl) and the Go runtime call it, and no
// filter sees those reads. The kernel maps a fresh vDSO at every execve, so it is rewritten
// for every exec, before the program can use it: each of the three functions' first bytes
// become "mov eax, NR; syscall; ret", the real syscall, which the filter sends to the
// supervisor (clock_gettime on a wall clock only: a CLOCK_MONOTONIC read stays in the
// kernel). The point where this is done is the new program's first arch_prctl: every x86_64
// program sets its thread pointer with it (glibc and musl, static and dynamic, in ld.so
// for a dynamic one; the Go runtime's settls) before its libc or runtime can read a clock,
// and while it has one thread. Threads get their thread pointer from clone, so arch_prctl
// is not called again: the trap costs one notification per exec.
//
// The rewrite goes through /proc/PID/mem (the vDSO is a private mapping the kernel lets a
// debugger write, copy-on-write, as for a breakpoint), on the thread blocked in arch_prctl,
// with the notification ID checked after the file is opened (target.go): it cannot land in
// another process. What the vDSO functions are is read once from the supervisor's own vDSO:
// every 64-bit process gets the same image from the same kernel, and the target's is checked
// to have the same size before it is written.

// vdsoFuncs are the vDSO functions rewritten, with the syscall each becomes.
var vdsoFuncs = []struct {
	sym string
	nr  uint32
}{
	{"__vdso_clock_gettime", unix.SYS_CLOCK_GETTIME},
	{"__vdso_gettimeofday", unix.SYS_GETTIMEOFDAY},
	{"__vdso_time", unix.SYS_TIME},
}

// vdsoStub is "mov eax, nr; syscall; ret": the arguments are already in the registers the
// syscall takes (rdi, rsi), and the vDSO functions return what the syscall returns.
func vdsoStub(nr uint32) []byte {
	b := append([]byte{0xb8}, binary.LittleEndian.AppendUint32(nil, nr)...)
	return append(b, 0x0f, 0x05, 0xc3)
}

// vdsoLayout is where the functions are in this kernel's vDSO.
type vdsoLayout struct {
	size uint64
	offs []uint64 // by vdsoFuncs
}

var vdsoOnce struct {
	sync.Once
	l   vdsoLayout
	err error
}

func hostVDSO() (vdsoLayout, error) {
	vdsoOnce.Do(func() { vdsoOnce.l, vdsoOnce.err = readVDSOLayout() })
	return vdsoOnce.l, vdsoOnce.err
}

// readVDSOLayout parses the supervisor's own vDSO (read through /proc/self/mem).
func readVDSOLayout() (vdsoLayout, error) {
	var l vdsoLayout
	start, end, err := vdsoRange("self")
	if err != nil {
		return l, err
	}
	if start == 0 {
		return l, errors.New("the supervisor has no vDSO")
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		return l, err
	}
	defer mem.Close()
	img := make([]byte, end-start)
	if _, err := mem.ReadAt(img, int64(start)); err != nil {
		return l, fmt.Errorf("read the vDSO: %w", err)
	}
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return l, fmt.Errorf("the vDSO: %w", err)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return l, fmt.Errorf("the vDSO's symbols: %w", err)
	}
	var load *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			load = p
			break
		}
	}
	if load == nil {
		return l, errors.New("the vDSO has no PT_LOAD")
	}
	l.size = end - start
	for _, fn := range vdsoFuncs {
		off, ok := uint64(0), false
		for _, s := range syms {
			if s.Name == fn.sym && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Size >= uint64(len(vdsoStub(0))) {
				off, ok = s.Value-load.Vaddr+load.Off, true
				break
			}
		}
		if !ok || off+8 > l.size {
			return l, fmt.Errorf("the vDSO has no %s", fn.sym)
		}
		l.offs = append(l.offs, off)
	}
	return l, nil
}

// vdsoRange is the [vdso] mapping of /proc/WHO/maps; 0, 0 when there is none.
func vdsoRange(who string) (start, end uint64, err error) {
	b, err := readAllAt(hostProc, who+"/maps") // one record per line: not one read
	if err != nil {
		return 0, 0, unix.ESRCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		r, ok := vdsoLine(line)
		if !ok {
			continue
		}
		a, z, _ := strings.Cut(r, "-")
		start, err1 := strconv.ParseUint(a, 16, 64)
		end, err2 := strconv.ParseUint(z, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return 0, 0, fmt.Errorf("/proc/%s/maps: bad [vdso] line %q", who, line)
		}
		return start, end, nil
	}
	return 0, 0, nil
}

// vdsoHandlers: arch_prctl rewrites the vDSO, then continues (its arguments are registers;
// nothing was decided on memory). A vDSO that cannot be rewritten fails the call (EPERM): the
// program's libc cannot set up its thread pointer and stops, rather than run reading the
// host's clock. set_thread_area is trapped for its i386 form, refused (a 32-bit program's
// vDSO is not rewritten); the x86_64 one continues.
func vdsoHandlers(s *timeShift) map[string]Handler {
	return map[string]Handler{
		"arch_prctl": func(c *Call) seccomp.ScmpNotifResp {
			s.off() // the first program's start: its clock starts at time_start from here
			if err := patchVDSO(c); err != nil {
				// In the audit, so that a program that cannot start says why.
				c.report("arch_prctl", refuse(unix.EPERM, "the vDSO's clock functions: "+err.Error(), "time_start"))
				return errnoResp(unix.EPERM)
			}
			return NotMine()
		},
		"set_thread_area": func(c *Call) seccomp.ScmpNotifResp { return NotMine() },
	}
}

// patchVDSO rewrites the calling process's vDSO functions, unless they already are (a
// second arch_prctl of the same image, a forked child's copy).
func patchVDSO(c *Call) error {
	l, err := hostVDSO()
	if err != nil {
		return err
	}
	t := peekTarget(c.Listener, c.Req)
	t.writeMem = true
	defer t.close()
	start, end, err := vdsoRange(strconv.Itoa(t.tid))
	if err != nil {
		return err
	}
	if start == 0 {
		return t.valid() // no vDSO (vdso=0): every read is a syscall already
	}
	if end-start != l.size {
		return fmt.Errorf("a vDSO of %d bytes, the host's has %d", end-start, l.size)
	}
	for i, fn := range vdsoFuncs {
		stub := vdsoStub(fn.nr)
		have, err := t.readBytes(start+l.offs[i], len(stub))
		if err != nil {
			return err
		}
		if bytes.Equal(have, stub) {
			continue
		}
		if err := t.writeBytes(start+l.offs[i], stub); err != nil {
			return err
		}
	}
	return t.valid()
}

// VDSOPatched reports whether this build rewrites the vDSO's clock functions.
const VDSOPatched = true

// vdsoLine says whether a /proc/PID/maps line is the kernel's vDSO mapping, and gives its
// range. The line is "RANGE PERMS OFFSET DEV INODE" then, after padding, the path: the whole
// path must be "[vdso]" (a file's path starts with '/', so a file named "x [vdso]" does not
// pass, as it would by the line's suffix), the mapping private and of no inode. A spoofed
// line would aim the rewrite (a forced write) at a shared file mapping.
func vdsoLine(line string) (string, bool) {
	f := strings.SplitN(line, " ", 6)
	if len(f) < 6 || strings.TrimLeft(f[5], " ") != "[vdso]" || len(f[1]) != 4 || f[1][3] != 'p' || f[4] != "0" {
		return "", false
	}
	return f[0], true
}
