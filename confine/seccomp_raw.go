package confine

import (
	"encoding/binary"
	"slices"

	"golang.org/x/sys/unix"
)

// The syscall numbers of the unified table (424 and up, shared by x86_64, x32 and i386) that
// libseccomp 2.5 (Debian 12) does not know by name, so its filters cannot name them. The
// project keeps its own table: a filter must hold by number, and a name the library lacks
// must never be skipped in silence.
const (
	nrStatmount      = 457
	nrListmount      = 458
	nrLsmGetSelfAttr = 459
	nrLsmSetSelfAttr = 460
	nrLsmListModules = 461
	nrMseal          = 462
	nrSetxattrat     = 463
	nrGetxattrat     = 464
	nrListxattrat    = 465
	nrRemovexattrat  = 466
	nrOpenTreeAttr   = 467
	nrFileGetattr    = 468
	nrFileSetattr    = 469
	highestKnownNr   = nrFileSetattr // every number above is refused with ENOSYS
	x32Bit           = 0x40000000
	highestX32Nr     = 547 // x32's own compat range is 512..547
	firstX32CompatNr = 512
)

// newerSyscalls names the table above; deniedSyscalls and the deny paths look names up here.
var newerSyscalls = map[string]uint32{
	"statmount": nrStatmount, "listmount": nrListmount,
	"lsm_get_self_attr": nrLsmGetSelfAttr, "lsm_set_self_attr": nrLsmSetSelfAttr,
	"lsm_list_modules": nrLsmListModules, "mseal": nrMseal,
	"setxattrat": nrSetxattrat, "getxattrat": nrGetxattrat, "listxattrat": nrListxattrat,
	"removexattrat": nrRemovexattrat, "open_tree_attr": nrOpenTreeAttr,
	"file_getattr": nrFileGetattr, "file_setattr": nrFileSetattr,
}

// newerENOSYS are newer syscalls that do what an older, mediated syscall does (the *xattrat
// family, file_getattr/file_setattr): they answer ENOSYS, so libc and programs fall back to
// the older spelling, which the supervisor mediates (docs/security.md, "Metadata").
var newerENOSYS = []string{"setxattrat", "getxattrat", "listxattrat", "removexattrat", "file_getattr", "file_setattr"}

// numbersProgram is a hand-written filter for what a libseccomp filter cannot say:
//   - the denied syscalls libseccomp does not know (EPERM), found in names;
//   - newerENOSYS (ENOSYS);
//   - every number above the highest the project knows (ENOSYS, so programs fall back to an
//     older call), on x86_64, x32 (its own compat range included) and i386.
//
// It is loaded after sandlock's own filter; the kernel runs every filter and takes the most
// restrictive answer, so it can only take away.
func numbersProgram(names []string) []byte {
	eperm := newerNumbers(names)
	enosys := newerNumbers(newerENOSYS)
	a := &bpfAsm{}
	a.ldArch()
	a.jeq(unix.AUDIT_ARCH_X86_64, "x86_64", "")
	a.jeq(unix.AUDIT_ARCH_I386, "i386", "")
	a.ret(unix.SECCOMP_RET_ALLOW) // other arches are sandlock's filter's business (bad-arch kill)

	a.label("x86_64")
	a.ldNr()
	a.jset(x32Bit, "x32", "")
	a.numbers(eperm, enosys, highestKnownNr)

	a.label("x32")
	a.and(^uint32(x32Bit))
	a.jgt(highestX32Nr, "enosys", "")
	a.jge(firstX32CompatNr, "allow", "")
	a.numbers(eperm, enosys, highestKnownNr)

	a.label("i386")
	a.ldNr()
	a.numbers(eperm, enosys, highestKnownNr)

	a.label("allow")
	a.ret(unix.SECCOMP_RET_ALLOW)
	a.label("eperm")
	a.ret(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	a.label("enosys")
	a.ret(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	return a.bytes()
}

func newerNumbers(names []string) []uint32 {
	var nrs []uint32
	for _, n := range names {
		if nr, ok := newerSyscalls[n]; ok && !slices.Contains(nrs, nr) {
			nrs = append(nrs, nr)
		}
	}
	slices.Sort(nrs)
	return nrs
}

// bpfAsm assembles a classic BPF program with named forward jump targets, so that the
// offsets are computed, never counted by hand.
type bpfAsm struct {
	prog   []unix.SockFilter
	labels map[string]int
	fixups []fixup
}

type fixup struct {
	at     int
	jt, jf string
}

const (
	bpfLdAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfRet   = unix.BPF_RET | unix.BPF_K
)

func (a *bpfAsm) emit(code uint16, k uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: code, K: k})
}

func (a *bpfAsm) ldArch() { a.emit(bpfLdAbs, 4) }
func (a *bpfAsm) ldNr()   { a.emit(bpfLdAbs, 0) }

func (a *bpfAsm) and(k uint32) { a.emit(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, k) }
func (a *bpfAsm) ret(k uint32) { a.emit(bpfRet, k) }
func (a *bpfAsm) label(l string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[l] = len(a.prog)
}

// jump emits a conditional jump; "" as a target means the next instruction.
func (a *bpfAsm) jump(op uint16, k uint32, jt, jf string) {
	a.fixups = append(a.fixups, fixup{at: len(a.prog), jt: jt, jf: jf})
	a.emit(unix.BPF_JMP|op|unix.BPF_K, k)
}

func (a *bpfAsm) jeq(k uint32, jt, jf string)  { a.jump(unix.BPF_JEQ, k, jt, jf) }
func (a *bpfAsm) jgt(k uint32, jt, jf string)  { a.jump(unix.BPF_JGT, k, jt, jf) }
func (a *bpfAsm) jge(k uint32, jt, jf string)  { a.jump(unix.BPF_JGE, k, jt, jf) }
func (a *bpfAsm) jset(k uint32, jt, jf string) { a.jump(unix.BPF_JSET, k, jt, jf) }

// numbers sends the syscall number in A to eperm or enosys, or allows it: the listed numbers
// first, then everything above highest.
func (a *bpfAsm) numbers(eperm, enosys []uint32, highest uint32) {
	for _, nr := range eperm {
		a.jeq(nr, "eperm", "")
	}
	for _, nr := range enosys {
		a.jeq(nr, "enosys", "")
	}
	a.jgt(highest, "enosys", "allow")
}

// bytes resolves the jumps and encodes the program as the kernel reads struct sock_filter.
// A target must lie ahead and within 255 instructions (classic BPF jumps are forward only).
func (a *bpfAsm) bytes() []byte {
	for _, f := range a.fixups {
		a.prog[f.at].Jt = a.offset(f.at, f.jt)
		a.prog[f.at].Jf = a.offset(f.at, f.jf)
	}
	b := make([]byte, 0, 8*len(a.prog))
	for _, ins := range a.prog {
		b = binary.LittleEndian.AppendUint16(b, ins.Code)
		b = append(b, ins.Jt, ins.Jf)
		b = binary.LittleEndian.AppendUint32(b, ins.K)
	}
	return b
}

func (a *bpfAsm) offset(at int, label string) uint8 {
	if label == "" {
		return 0
	}
	to, ok := a.labels[label]
	d := to - at - 1
	if !ok || d < 0 || d > 255 {
		panic("bpfAsm: bad jump to " + label)
	}
	return uint8(d)
}
