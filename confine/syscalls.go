package confine

import (
	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// deniedSyscalls fail with EPERM in every container. They change state shared with the host
// (mounts, namespaces, modules, clocks, swap, keys), inspect or control other processes, or
// widen the kernel attack surface (bpf, io_uring, userfaultfd, perf). Names libseccomp does not
// know are skipped.
var deniedSyscalls = []string{
	// mounts and namespaces: the container's view is built by create, never by itself
	"mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	// kernel code and configuration
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"create_module", "bpf", "perf_event_open", "iopl", "ioperm", "uselib", "_sysctl",
	"nfsservctl", "sysfs", "ustat", "lookup_dcookie", "quotactl", "lsm_set_self_attr",
	// other processes
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
	// keys, handles, io_uring (bypasses seccomp for the ops it queues), userfaultfd
	"keyctl", "add_key", "request_key", "open_by_handle_at", "name_to_handle_at",
	"io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "fanotify_init",
	// host-wide state
	"reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime",
	"adjtimex", "syslog", "vhangup", "sethostname", "setdomainname",
}

// ipcSyscalls are denied with IsolateIPC: SysV IPC and POSIX message queues are named in
// host-wide tables that Landlock does not cover. mq_unlink is included so that a container
// cannot remove a host queue by name.
var ipcSyscalls = []string{
	"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semtimedop_time64",
	"semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "ipc", "mq_open", "mq_unlink",
}

// cloneNamespaceFlags are the CLONE_NEW* bits; clone with any of them is refused like unshare.
var cloneNamespaceFlags = []uint64{
	unix.CLONE_NEWNS, unix.CLONE_NEWCGROUP, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC,
	unix.CLONE_NEWUSER, unix.CLONE_NEWPID, unix.CLONE_NEWNET, unix.CLONE_NEWTIME,
}

// allowedPersonalities are the only personality(2) values accepted (the same set as Docker's
// default profile): the query 0xffffffff, PER_LINUX, PER_LINUX32, and both with UNAME26.
var allowedPersonalities = map[uint32]bool{0x0: true, 0x8: true, 0x20000: true, 0x20008: true, 0xffffffff: true}

// ttyIoctls push input into, or reconfigure, a terminal the container may share with the host.
var ttyIoctls = []uint64{unix.TIOCSTI, unix.TIOCLINUX}

// rule is one entry of sandlock's own filter: name, action, and conditions that must all hold.
type rule struct {
	name  string
	act   seccomp.ScmpAction
	conds []seccomp.ScmpCondition
}

func errnoAct(e unix.Errno) seccomp.ScmpAction {
	return seccomp.ActErrno.SetReturnCode(int16(e))
}

func cond(arg uint, op seccomp.ScmpCompareOp, a, b uint64) seccomp.ScmpCondition {
	return seccomp.ScmpCondition{Argument: arg, Op: op, Operand1: a, Operand2: b}
}

// maskedEq compares only the bits in mask, so that garbage in the upper half of a 64-bit
// register cannot hide a value the kernel reads as a 32-bit int.
func maskedEq(arg uint, mask, v uint64) seccomp.ScmpCondition {
	return cond(arg, seccomp.CompareMaskedEqual, mask, v)
}

// sandlockRules returns sandlock's own rules for the options, for a filter whose native
// architecture is native.
func sandlockRules(o SeccompOptions, native seccomp.ScmpArch) []rule {
	var rs []rule
	rs = append(rs, unconditional(deniedSyscalls, errnoAct(unix.EPERM))...)
	// clone3 passes its flags in memory, which seccomp cannot read; libc falls back to clone.
	rs = append(rs, rule{name: "clone3", act: errnoAct(unix.ENOSYS)})
	rs = append(rs, cloneRules(cloneFlagsArg(native))...)
	rs = append(rs, personalityRules()...)
	rs = append(rs, ioctlRules()...)
	rs = append(rs, socketRules(o.NoNetwork)...)
	if o.IsolateIPC {
		rs = append(rs, unconditional(ipcSyscalls, errnoAct(unix.EPERM))...)
	}
	if o.NotifyUname {
		rs = append(rs, rule{name: "uname", act: seccomp.ActNotify})
		// The i386 predecessors of uname would still report the host's nodename.
		rs = append(rs, unconditional([]string{"olduname", "oldolduname"}, errnoAct(unix.ENOSYS))...)
	}
	return rs
}

func unconditional(names []string, act seccomp.ScmpAction) []rule {
	rs := make([]rule, 0, len(names))
	for _, n := range names {
		rs = append(rs, rule{name: n, act: act})
	}
	return rs
}

// cloneFlagsArg is the index of clone's flags argument: s390 swaps the first two arguments.
func cloneFlagsArg(native seccomp.ScmpArch) uint {
	if native == seccomp.ArchS390 || native == seccomp.ArchS390X {
		return 1
	}
	return 0
}

// cloneRules refuse clone with any namespace flag. Seccomp can only test "all bits of a mask
// equal a value", so "any bit set" takes one rule per bit.
func cloneRules(arg uint) []rule {
	rs := make([]rule, 0, len(cloneNamespaceFlags))
	for _, f := range cloneNamespaceFlags {
		rs = append(rs, rule{name: "clone", act: errnoAct(unix.EPERM), conds: []seccomp.ScmpCondition{maskedEq(arg, f, f)}})
	}
	return rs
}

func ioctlRules() []rule {
	rs := make([]rule, 0, len(ttyIoctls))
	for _, req := range ttyIoctls {
		// The kernel reads the request as an unsigned int, so only the low 32 bits count.
		rs = append(rs, rule{name: "ioctl", act: errnoAct(unix.EPERM), conds: []seccomp.ScmpCondition{maskedEq(1, 0xffffffff, req)}})
	}
	return rs
}

// socketRules deny packet sockets and raw IP sockets always, and with noNetwork every family
// but AF_UNIX. SOCK_RAW is refused for AF_INET and AF_INET6 only: it is also the ordinary
// type of netlink sockets (getifaddrs, iproute2), which are not raw network access.
// i386 socketcall passes its arguments in memory, so without network it is refused outright.
// The family rule comes first: libseccomp refuses (EEXIST) to add it after the masked
// comparison on the same argument. Under it, AF_PACKET gets EAFNOSUPPORT instead of EPERM.
func socketRules(noNetwork bool) []rule {
	eperm := errnoAct(unix.EPERM)
	var rs []rule
	if noNetwork {
		notUnix := []seccomp.ScmpCondition{cond(0, seccomp.CompareNotEqual, unix.AF_UNIX, 0)}
		rs = append(rs,
			rule{name: "socket", act: errnoAct(unix.EAFNOSUPPORT), conds: notUnix},
			rule{name: "socketpair", act: errnoAct(unix.EAFNOSUPPORT), conds: notUnix},
			rule{name: "socketcall", act: eperm},
		)
	}
	return append(rs,
		rule{name: "socket", act: eperm, conds: []seccomp.ScmpCondition{maskedEq(0, 0xffffffff, unix.AF_PACKET)}},
		rawIP(unix.AF_INET), rawIP(unix.AF_INET6),
	)
}

// rawIP refuses socket(family, SOCK_RAW[|flags], ...); the type's low 4 bits are the type.
func rawIP(family uint64) rule {
	return rule{name: "socket", act: errnoAct(unix.EPERM), conds: []seccomp.ScmpCondition{
		maskedEq(0, 0xffffffff, family), maskedEq(1, 0xf, unix.SOCK_RAW)}}
}

// personalityRules refuse every personality(2) value outside allowedPersonalities.
//
// libseccomp allows one comparison per argument in a rule, so "not one of five values" cannot
// be written as five ANDed NEs. Instead the refused set is covered exactly by single masked
// comparisons on the low 32 bits (the kernel reads an unsigned int). v is refused iff it is
// not all ones and has a bit outside PER_LINUX32|UNAME26 (bits 3 and 17):
//   - bit 0 set: v is refused, and its lowest clear bit c (1..31) exists;
//     pattern "bits 0..c-1 set, bit c clear";
//   - bit 0 clear: v is refused iff some bit b other than 0, 3, 17 is set;
//     pattern "bit 0 clear, bit b set".
func personalityRules() []rule {
	var rs []rule
	for _, p := range personalityPatterns() {
		rs = append(rs, rule{name: "personality", act: errnoAct(unix.EPERM), conds: []seccomp.ScmpCondition{maskedEq(0, p[0], p[1])}})
	}
	return rs
}

// personalityPatterns returns {mask, value} pairs; see personalityRules.
func personalityPatterns() [][2]uint64 {
	var ps [][2]uint64
	for c := uint(1); c < 32; c++ {
		ps = append(ps, [2]uint64{1<<(c+1) - 1, 1<<c - 1})
	}
	for b := uint(1); b < 32; b++ {
		if b == 3 || b == 17 {
			continue
		}
		ps = append(ps, [2]uint64{1 | 1<<b, 1 << b})
	}
	return ps
}
