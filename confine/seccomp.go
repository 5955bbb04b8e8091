package confine

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// SeccompOptions select the optional parts of sandlock's own filter.
type SeccompOptions struct {
	// NoNetwork limits socket() and socketpair() to AF_UNIX (EAFNOSUPPORT otherwise) and
	// refuses i386 socketcall.
	NoNetwork bool
	// IsolateIPC refuses SysV IPC and POSIX message queues.
	IsolateIPC bool
	// NotifyUname sends uname() to the supervisor (SCMP_ACT_NOTIFY), which gives the filter a
	// user-notification listener.
	NotifyUname bool
	// Notify are syscalls (by name) sent to the supervisor for a decision: what its features
	// declare (notifsup). Their i386 aliases answer ENOSYS: the supervisor's handlers decode
	// x86_64 arguments only, and a 64-bit program has no business on the i386 entry.
	Notify []string `json:",omitempty"`
	// NotifyIoctls are ioctl request numbers sent to the supervisor (the low 32 bits compared).
	NotifyIoctls []uint64 `json:",omitempty"`
	// AllowRawSockets lets socket() make raw IP and packet sockets (no_raw_sockets = false);
	// the kernel still asks for CAP_NET_RAW. The zero value refuses them, the policy default.
	AllowRawSockets bool
	// NoUDP refuses AF_INET and AF_INET6 datagram sockets (no_udp).
	NoUDP bool
	// NoSCTP refuses AF_INET and AF_INET6 SCTP sockets (IPPROTO_SCTP, and SOCK_SEQPACKET, which
	// means SCTP): under net_allow_hosts, since SCTP reaches addresses without connect(2) or an
	// address the supervisor sees (setsockopt SCTP_SOCKOPT_CONNECTX, sendmsg's association).
	NoSCTP bool `json:",omitempty"`
	// NoUntrackedTCP refuses the stream sockets that carry TCP but are not TCP to Landlock,
	// whose port rules check protocol IPPROTO_TCP only: MPTCP and SMC (IPPROTO_MPTCP and
	// IPPROTO_SMC on AF_INET and AF_INET6: EPROTONOSUPPORT, what a kernel without them says, so
	// programs fall back to TCP; AF_SMC: EAFNOSUPPORT). Under a net_bind or net_connect list,
	// which such a socket would bind or connect around.
	NoUntrackedTCP bool `json:",omitempty"`
	// PinCPUs refuses sched_setaffinity, so that the cpu_cores affinity cannot be widened.
	PinCPUs bool
	// OwnPIDsOnly (isolate_pids) lets the syscalls that act on another process by pid
	// (prlimit64, setpriority, ioprio_set, sched_set*, migrate_pages, move_pages) act on the
	// caller only: a pid is not enough to tell a container process from a host one, and
	// without a PID namespace host processes are a pid away.
	OwnPIDsOnly bool
	// DenySyscalls fail with EPERM (deny_syscalls); AllowSyscalls are the only syscalls that do
	// not (allow_syscalls), besides runtimeSyscalls. At most one is set (spec validation).
	DenySyscalls  []string
	AllowSyscalls []string
}

// compatArches are the other syscall ABIs a process of the native arch can enter the kernel
// through (i386 via int 0x80, x32 via the x32 bit). A filter that does not list them would
// either let their syscalls through unfiltered or, at best, kill the process on first use.
var compatArches = map[seccomp.ScmpArch][]seccomp.ScmpArch{
	seccomp.ArchAMD64: {seccomp.ArchX86, seccomp.ArchX32},
	seccomp.ArchARM64: {seccomp.ArchARM},
	seccomp.ArchS390X: {seccomp.ArchS390},
}

// newFilter creates a filter with the native and compat arches, bad-arch kill, and
// no_new_privs left to the caller (OCI's noNewPrivileges decides it, not libseccomp).
func newFilter(def seccomp.ScmpAction, extra []seccomp.ScmpArch) (*seccomp.ScmpFilter, error) {
	f, err := seccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("seccomp: new filter: %w", err)
	}
	if err := setupFilter(f, extra); err != nil {
		f.Release()
		return nil, err
	}
	return f, nil
}

func setupFilter(f *seccomp.ScmpFilter, extra []seccomp.ScmpArch) error {
	native, err := seccomp.GetNativeArch()
	if err != nil {
		return fmt.Errorf("seccomp: native arch: %w", err)
	}
	for _, a := range append(compatArches[native], extra...) {
		if err := f.AddArch(a); err != nil {
			return fmt.Errorf("seccomp: add arch %s: %w", a, err)
		}
	}
	if err := f.SetBadArchAction(seccomp.ActKillProcess); err != nil {
		return fmt.Errorf("seccomp: bad-arch action: %w", err)
	}
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return fmt.Errorf("seccomp: no_new_privs attribute: %w", err)
	}
	return nil
}

// sandlockFilter builds sandlock's own filter: allow everything but sandlockRules.
func sandlockFilter(o SeccompOptions) (*seccomp.ScmpFilter, error) {
	native, err := seccomp.GetNativeArch()
	if err != nil {
		return nil, fmt.Errorf("seccomp: native arch: %w", err)
	}
	f, err := newFilter(seccomp.ActAllow, nil)
	if err != nil {
		return nil, err
	}
	for _, r := range sandlockRules(o, native) {
		if err := addRule(f, r.name, r.act, r.conds); err != nil {
			f.Release()
			return nil, err
		}
	}
	return f, nil
}

// policyFilter builds the policy's syscall filter: for deny_syscalls, default allow and the
// names refused with EPERM; for allow_syscalls, default EPERM and the names plus
// runtimeSyscalls allowed. nil when neither is set. Both cover the i386 names of the same
// syscalls (withI386Names); x32 shares the x86_64 names.
func policyFilter(o SeccompOptions) (*seccomp.ScmpFilter, error) {
	names, def, act, deny := o.DenySyscalls, seccomp.ActAllow, errnoAct(unix.EPERM), true
	if len(o.AllowSyscalls) > 0 {
		names, def, act, deny = append(slices.Clone(o.AllowSyscalls), runtimeSyscalls...), act, seccomp.ActAllow, false
	}
	if len(names) == 0 {
		return nil, nil
	}
	f, err := newFilter(def, nil)
	if err != nil {
		return nil, err
	}
	for _, n := range withI386Names(names, deny) {
		if err := addRule(f, n, act, nil); err != nil {
			f.Release()
			return nil, err
		}
	}
	return f, nil
}

// CheckSyscallNames returns an error naming the first of names that libseccomp does not know
// (spec validates against a static table that may be newer than the library): such a name
// would otherwise be skipped, as OCI profiles' unknown names are, and the policy silently
// weakened.
func CheckSyscallNames(key string, names []string) error {
	for _, n := range names {
		if nr, err := seccomp.GetSyscallFromName(n); err != nil || nr < 0 {
			return fmt.Errorf("%s: %q: not known to this build's libseccomp, so it cannot be filtered; accepted: the syscalls of libseccomp %s", key, n, libseccompVersion())
		}
	}
	return nil
}

func libseccompVersion() string {
	major, minor, micro := seccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", major, minor, micro)
}

// addRule adds one rule, skipping a name libseccomp does not know (as runc does: a profile
// may name syscalls newer than the library or absent on this arch).
func addRule(f *seccomp.ScmpFilter, name string, act seccomp.ScmpAction, conds []seccomp.ScmpCondition) error {
	nr, err := seccomp.GetSyscallFromName(name)
	if err != nil {
		return nil // a name this libseccomp does not know: newerSyscalls covers the ones that matter
	}
	if len(conds) == 0 {
		err = f.AddRule(nr, act)
	} else {
		err = f.AddRuleConditional(nr, act, conds)
	}
	if err != nil {
		return fmt.Errorf("seccomp: rule for %s: %w", name, err)
	}
	return nil
}

// ociFilter translates an OCI linux.seccomp profile; nil for none.
func ociFilter(p *specs.LinuxSeccomp) (*seccomp.ScmpFilter, error) {
	if p == nil {
		return nil, nil
	}
	if p.ListenerPath != "" {
		return nil, fmt.Errorf("seccomp: listenerPath %q is not supported: the supervisor owns the listener", p.ListenerPath)
	}
	def, err := ociAction(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	arches, err := ociArches(p.Architectures)
	if err != nil {
		return nil, err
	}
	f, err := newFilter(def, arches)
	if err != nil {
		return nil, err
	}
	if err := ociFlags(f, p.Flags); err != nil {
		f.Release()
		return nil, err
	}
	for _, sc := range p.Syscalls {
		if err := ociSyscall(f, def, sc); err != nil {
			f.Release()
			return nil, err
		}
	}
	return f, nil
}

// ociAction translates an action; errnoRet defaults to EPERM as in runc.
func ociAction(a specs.LinuxSeccompAction, errnoRet *uint) (seccomp.ScmpAction, error) {
	code := int16(unix.EPERM)
	if errnoRet != nil {
		code = int16(*errnoRet)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return seccomp.ActKillThread, nil
	case specs.ActKillProcess:
		return seccomp.ActKillProcess, nil
	case specs.ActTrap:
		return seccomp.ActTrap, nil
	case specs.ActErrno:
		return seccomp.ActErrno.SetReturnCode(code), nil
	case specs.ActTrace:
		return seccomp.ActTrace.SetReturnCode(code), nil
	case specs.ActAllow:
		return seccomp.ActAllow, nil
	case specs.ActLog:
		return seccomp.ActLog, nil
	case specs.ActNotify:
		return seccomp.ActInvalid, errors.New("seccomp: action SCMP_ACT_NOTIFY is not supported: it needs a listenerPath")
	}
	return seccomp.ActInvalid, fmt.Errorf("seccomp: unknown action %q", a)
}

// ociArches translates SCMP_ARCH_* names.
func ociArches(names []specs.Arch) ([]seccomp.ScmpArch, error) {
	arches := make([]seccomp.ScmpArch, 0, len(names))
	for _, n := range names {
		a, err := seccomp.GetArchFromString(strings.ToLower(strings.TrimPrefix(string(n), "SCMP_ARCH_")))
		if err != nil {
			return nil, fmt.Errorf("seccomp: unknown architecture %q", n)
		}
		arches = append(arches, a)
	}
	return arches, nil
}

// ociFlags applies the profile's filter flags.
func ociFlags(f *seccomp.ScmpFilter, flags []specs.LinuxSeccompFlag) error {
	for _, fl := range flags {
		var err error
		switch fl {
		case specs.LinuxSeccompFlagLog:
			err = f.SetLogBit(true)
		case specs.LinuxSeccompFlagSpecAllow:
			err = f.SetSSB(true)
		case specs.LinuxSeccompFlagWaitKillableRecv:
			err = f.SetWaitKill(true)
		case "SECCOMP_FILTER_FLAG_TSYNC":
			// Ignored on purpose: the filter is loaded on the one thread that then execs,
			// and execve leaves only that thread, so every thread of the container has it.
		default:
			err = errors.New("unknown flag")
		}
		if err != nil {
			return fmt.Errorf("seccomp: flag %s: %w", fl, err)
		}
	}
	return nil
}

// ociSyscall adds the rules of one profile entry.
func ociSyscall(f *seccomp.ScmpFilter, def seccomp.ScmpAction, sc specs.LinuxSyscall) error {
	act, err := ociAction(sc.Action, sc.ErrnoRet)
	if err != nil {
		return fmt.Errorf("%w (syscalls %v)", err, sc.Names)
	}
	// libseccomp refuses a rule whose action is the default; such a rule changes nothing.
	if act == def {
		return nil
	}
	condSets, err := ociConditions(sc.Args)
	if err != nil {
		return fmt.Errorf("%w (syscalls %v)", err, sc.Names)
	}
	for _, name := range sc.Names {
		for _, conds := range condSets {
			if err := addRule(f, name, act, conds); err != nil {
				return err
			}
		}
	}
	return nil
}

// ociConditions returns the condition sets to add, one rule each. Like runc: conditions on
// distinct arguments are ANDed in one rule; if an argument is compared more than once (which
// libseccomp refuses in a single rule), each condition becomes its own rule (ORed).
func ociConditions(args []specs.LinuxSeccompArg) ([][]seccomp.ScmpCondition, error) {
	conds := make([]seccomp.ScmpCondition, 0, len(args))
	seen := map[uint]bool{}
	repeated := false
	for _, a := range args {
		c, err := ociCondition(a)
		if err != nil {
			return nil, err
		}
		repeated = repeated || seen[a.Index]
		seen[a.Index] = true
		conds = append(conds, c)
	}
	if !repeated {
		return [][]seccomp.ScmpCondition{conds}, nil
	}
	sets := make([][]seccomp.ScmpCondition, 0, len(conds))
	for _, c := range conds {
		sets = append(sets, []seccomp.ScmpCondition{c})
	}
	return sets, nil
}

var ociOperators = map[specs.LinuxSeccompOperator]seccomp.ScmpCompareOp{
	specs.OpNotEqual:     seccomp.CompareNotEqual,
	specs.OpLessThan:     seccomp.CompareLess,
	specs.OpLessEqual:    seccomp.CompareLessOrEqual,
	specs.OpEqualTo:      seccomp.CompareEqual,
	specs.OpGreaterEqual: seccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  seccomp.CompareGreater,
	specs.OpMaskedEqual:  seccomp.CompareMaskedEqual,
}

// ociCondition translates one argument comparison. For SCMP_CMP_MASKED_EQ, value is the mask
// and valueTwo the expected result, the order libseccomp takes them in.
func ociCondition(a specs.LinuxSeccompArg) (seccomp.ScmpCondition, error) {
	op, ok := ociOperators[a.Op]
	if !ok {
		return seccomp.ScmpCondition{}, fmt.Errorf("seccomp: unknown operator %q", a.Op)
	}
	c, err := seccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
	if err != nil {
		return c, fmt.Errorf("seccomp: argument %d: %w", a.Index, err)
	}
	return c, nil
}
