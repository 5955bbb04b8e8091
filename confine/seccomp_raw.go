package confine

import (
	"encoding/binary"
	"slices"

	"golang.org/x/sys/unix"
)

// newerSyscalls are denied syscalls that libseccomp 2.5 (Debian 12) does not know by name, so
// its filters cannot name them. They come from the unified table (424 and up) that x86_64 and
// i386 share, so one number serves both.
var newerSyscalls = map[string]uint32{
	"lsm_get_self_attr": 459,
	"lsm_set_self_attr": 460,
	"lsm_list_modules":  461,
}

// newerDenyProgram is a small hand-written filter refusing (EPERM) the newerSyscalls that
// names lists, for x86_64 (x32 included: the x32 bit is masked off) and i386. nil if none.
func newerDenyProgram(names []string) []byte {
	var nrs []uint32
	for _, n := range names {
		if nr, ok := newerSyscalls[n]; ok && !slices.Contains(nrs, nr) {
			nrs = append(nrs, nr)
		}
	}
	if len(nrs) == 0 {
		return nil
	}
	const (
		ldAbs  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		andK   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		ret    = unix.BPF_RET | unix.BPF_K
		allow  = unix.SECCOMP_RET_ALLOW
		deny   = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		x32Bit = 0x40000000
	)
	n := uint8(len(nrs))
	// Layout: [0] ld arch; [1] jeq x86_64; [2] jeq i386; [3] ret allow;
	// [4] ld nr; [5] and ~x32; [6..6+n) jeq nr -> deny; [6+n] ret allow; [7+n] ret deny.
	p := []unix.SockFilter{
		{Code: ldAbs, K: 4},
		{Code: jeq, Jt: 2, Jf: 0, K: unix.AUDIT_ARCH_X86_64},
		{Code: jeq, Jt: 1, Jf: 0, K: unix.AUDIT_ARCH_I386},
		{Code: ret, K: allow},
		{Code: ldAbs, K: 0},
		{Code: andK, K: ^uint32(x32Bit)},
	}
	for i, nr := range nrs {
		p = append(p, unix.SockFilter{Code: jeq, Jt: n - uint8(i), Jf: 0, K: nr})
	}
	p = append(p, unix.SockFilter{Code: ret, K: allow}, unix.SockFilter{Code: ret, K: deny})
	b := make([]byte, 0, 8*len(p))
	for _, ins := range p {
		b = binary.LittleEndian.AppendUint16(b, ins.Code)
		b = append(b, ins.Jt, ins.Jf)
		b = binary.LittleEndian.AppendUint32(b, ins.K)
	}
	return b
}
