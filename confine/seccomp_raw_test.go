package confine

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// runBPF interprets the classic BPF subset numbersProgram emits against seccomp_data for
// (arch, nr): pure logic, so that numbers this kernel does not have can be checked too.
func runBPF(t *testing.T, prog []byte, arch, nr uint32) uint32 {
	t.Helper()
	var a uint32
	for pc := 0; pc < len(prog)/8; pc++ {
		ins := prog[8*pc:]
		code, jt, jf, k := binary.LittleEndian.Uint16(ins), ins[2], ins[3], binary.LittleEndian.Uint32(ins[4:])
		jump := func(cond bool) {
			if cond {
				pc += int(jt)
			} else {
				pc += int(jf)
			}
		}
		switch code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			a = map[uint32]uint32{0: nr, 4: arch}[k]
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= k
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			jump(a == k)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			jump(a > k)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			jump(a >= k)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			jump(a&k != 0)
		case unix.BPF_RET | unix.BPF_K:
			return k
		default:
			t.Fatalf("unexpected instruction %#x at %d", code, pc)
		}
	}
	t.Fatal("program ran off its end")
	return 0
}

func TestNumbersProgram(t *testing.T) {
	prog := numbersProgram(deniedSyscalls)
	allow := uint32(unix.SECCOMP_RET_ALLOW)
	eperm := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	enosys := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	const x32 = 0x40000000
	cases := []struct {
		name     string
		arch, nr uint32
		want     uint32
	}{
		{"x86_64 read", unix.AUDIT_ARCH_X86_64, 0, allow},
		{"x86_64 open_tree_attr", unix.AUDIT_ARCH_X86_64, 467, eperm},
		{"i386 open_tree_attr", unix.AUDIT_ARCH_I386, 467, eperm},
		{"x32 open_tree_attr", unix.AUDIT_ARCH_X86_64, x32 | 467, eperm},
		{"x86_64 lsm_set_self_attr", unix.AUDIT_ARCH_X86_64, 460, eperm},
		{"x86_64 setxattrat", unix.AUDIT_ARCH_X86_64, 463, enosys},
		{"i386 file_setattr", unix.AUDIT_ARCH_I386, 469, enosys},
		{"x86_64 mseal allowed", unix.AUDIT_ARCH_X86_64, 462, allow},
		{"x86_64 first unknown", unix.AUDIT_ARCH_X86_64, 470, enosys},
		{"x86_64 far unknown", unix.AUDIT_ARCH_X86_64, 0x3fffffff, enosys},
		{"i386 first unknown", unix.AUDIT_ARCH_I386, 470, enosys},
		{"i386 far unknown", unix.AUDIT_ARCH_I386, 100000, enosys},
		{"x32 unknown in the gap", unix.AUDIT_ARCH_X86_64, x32 | 480, enosys},
		{"x32 compat range", unix.AUDIT_ARCH_X86_64, x32 | 512, allow},
		{"x32 above its range", unix.AUDIT_ARCH_X86_64, x32 | 548, enosys},
		{"other arch", unix.AUDIT_ARCH_AARCH64, 467, allow},
	}
	for _, c := range cases {
		if got := runBPF(t, prog, c.arch, c.nr); got != c.want {
			t.Errorf("%s: got %#x, want %#x", c.name, got, c.want)
		}
	}
}
