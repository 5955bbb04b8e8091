package confine

import (
	"slices"

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
	"open_tree_attr",
	// kernel code and configuration
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"create_module", "bpf", "perf_event_open", "iopl", "ioperm", "uselib", "_sysctl",
	"nfsservctl", "sysfs", "ustat", "lookup_dcookie", "quotactl", "quotactl_fd", "lsm_set_self_attr",
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
// cannot remove a host queue by name; the calls on a queue descriptor too, since a descriptor
// can come from elsewhere than mq_open (a host /dev/mqueue, a passed fd).
var ipcSyscalls = []string{
	"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semtimedop_time64",
	"semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "ipc", "mq_open", "mq_unlink",
	"mq_timedsend", "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64",
	"mq_notify", "mq_getsetattr",
}

// cloneNamespaceFlags are the CLONE_NEW* bits; clone with any of them is refused like unshare.
var cloneNamespaceFlags = []uint64{
	unix.CLONE_NEWNS, unix.CLONE_NEWCGROUP, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC,
	unix.CLONE_NEWUSER, unix.CLONE_NEWPID, unix.CLONE_NEWNET, unix.CLONE_NEWTIME,
}

// allowedPersonalities are the only personality(2) values accepted (the same set as Docker's
// default profile): the query 0xffffffff, PER_LINUX, PER_LINUX32, and both with UNAME26.
var allowedPersonalities = map[uint32]bool{0x0: true, 0x8: true, 0x20000: true, 0x20008: true, 0xffffffff: true}

// ttyIoctls push input into, or reconfigure, a terminal the container may share with the host;
// TIOCCONS (CAP_SYS_ADMIN) redirects the host's console to a terminal of the container.
var ttyIoctls = []uint64{unix.TIOCSTI, unix.TIOCLINUX, unix.TIOCCONS}

// hostFSIoctls change a whole file system through any file of it, a read-only one included,
// with a capability (CAP_SYS_ADMIN, CAP_SYS_RESOURCE) a container may be given: the rootfs and
// the direct mode's files lie on the host's file systems, so these are host-wide state like
// mount(2). Freeze and thaw (every file system), shutdown (ext4, xfs, f2fs), the label, and
// ext4's UUID, resize, boot-loader swap and journal checkpoint.
var hostFSIoctls = []uint64{
	0xc0045877, // FIFREEZE
	0xc0045878, // FITHAW
	0x8004587d, // FS_IOC_SHUTDOWN (EXT4_IOC_SHUTDOWN, XFS_IOC_GOINGDOWN)
	0x41009432, // FS_IOC_SETFSLABEL
	0x4008662c, // EXT4_IOC_SETFSUUID
	0x40086610, // EXT4_IOC_RESIZE_FS
	0x40086607, // EXT4_IOC_GROUP_EXTEND
	0x40046607, // EXT4_IOC32_GROUP_EXTEND
	0x40286608, // EXT4_IOC_GROUP_ADD
	0x40246608, // EXT4_IOC32_GROUP_ADD
	0x00006611, // EXT4_IOC_SWAP_BOOT
	0x4004662b, // EXT4_IOC_CHECKPOINT
}

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
	// With their i386 aliases (stime, clock_settime64, clock_adjtime64, umount): a rule by
	// name reaches only the i386 syscall of that very name, and the 64-bit-time spellings set
	// the host's clock as well as the old ones do.
	rs = append(rs, unconditional(withI386Names(deniedSyscalls, true), errnoAct(unix.EPERM))...)
	// clone3 passes its flags in memory, which seccomp cannot read; libc falls back to clone.
	rs = append(rs, rule{name: "clone3", act: errnoAct(unix.ENOSYS)})
	rs = append(rs, cloneRules(cloneFlagsArg(native))...)
	rs = append(rs, personalityRules()...)
	rs = append(rs, ioctlRules()...)
	rs = append(rs, socketRules(o)...)
	if o.PinCPUs {
		rs = append(rs, rule{name: "sched_setaffinity", act: errnoAct(unix.EPERM)})
	}
	if o.IsolateIPC {
		rs = append(rs, unconditional(ipcSyscalls, errnoAct(unix.EPERM))...)
	}
	if o.OwnPIDsOnly {
		rs = append(rs, ownPIDRules()...)
	}
	if o.NotifyUname {
		rs = append(rs, rule{name: "uname", act: seccomp.ActNotify})
		// The i386 predecessors of uname would still report the host's nodename.
		rs = append(rs, unconditional([]string{"olduname", "oldolduname"}, errnoAct(unix.ENOSYS))...)
	}
	return append(rs, notifyRules(o)...)
}

// notifyConds narrow what is sent to the supervisor by register arguments, which the process
// cannot change after the filter has looked: a syscall is sent when one of its condition sets
// holds (each set is ANDed). sendto without an address (a NULL pointer) sends to the socket's
// connected peer, decided at connect, so the supervisor has nothing to decide (notifsup's
// sendto handler passes such a call on anyway). The clock calls go to the supervisor only on
// the wall clocks time_start shifts (WallClocks): CLOCK_MONOTONIC, read by the Go
// runtime on every scheduling decision, stays in the kernel. A clockid is an int: the kernel
// reads the low 32 bits, so the filter compares those (an id with high bits set is the same
// clock to the kernel).
var notifyConds = map[string][][]seccomp.ScmpCondition{
	"sendto":          {{cond(4, seccomp.CompareNotEqual, 0, 0)}},
	"clock_gettime":   wallClocks(nil),
	"clock_nanosleep": wallClocks([]seccomp.ScmpCondition{maskedEq(1, timerAbstime, timerAbstime)}),
	"timer_settime":   {{maskedEq(1, timerAbstime, timerAbstime)}},
	"timerfd_settime": {{maskedEq(1, timerAbstime, timerAbstime)}},
	// futex's absolute timeouts on CLOCK_REALTIME, a timeout given (the command's low 7 bits
	// and FUTEX_CLOCK_REALTIME compared, FUTEX_PRIVATE_FLAG either way): WAIT_BITSET and
	// WAIT_REQUEUE_PI with the flag, LOCK_PI (always that clock), LOCK_PI2 with the flag. The
	// hot futex calls (WAIT, WAKE, a WAIT_BITSET on CLOCK_MONOTONIC) stay in the kernel.
	"futex": {
		{maskedEq(1, futexCmdClock, futexClockRT|9), cond(3, seccomp.CompareNotEqual, 0, 0)},
		{maskedEq(1, futexCmdClock, futexClockRT|11), cond(3, seccomp.CompareNotEqual, 0, 0)},
		{maskedEq(1, futexCmd, 6), cond(3, seccomp.CompareNotEqual, 0, 0)},
		{maskedEq(1, futexCmdClock, futexClockRT|13), cond(3, seccomp.CompareNotEqual, 0, 0)},
	},
	"futex_waitv": {{maskedEq(4, 0xffffffff, unix.CLOCK_REALTIME), cond(3, seccomp.CompareNotEqual, 0, 0)}},
}

// The futex op's command bits and FUTEX_CLOCK_REALTIME.
const (
	futexCmd      = 0x7f
	futexClockRT  = 0x100
	futexCmdClock = futexCmd | futexClockRT
)

// timerAbstime is TIMER_ABSTIME (and TFD_TIMER_ABSTIME): a deadline on the timer's clock.
const timerAbstime = 1

// WallClocks are the clock ids that read the wall clock: CLOCK_REALTIME, _COARSE, _ALARM and
// CLOCK_TAI (notifsup.ShiftedClocks, the ones time_start shifts; a lifecycle test keeps the
// two lists equal).
var WallClocks = []int32{unix.CLOCK_REALTIME, unix.CLOCK_REALTIME_COARSE, unix.CLOCK_REALTIME_ALARM, unix.CLOCK_TAI}

// wallClocks are condition sets matching the clock ids of WallClocks in argument 0, each with
// the extra conditions.
func wallClocks(extra []seccomp.ScmpCondition) [][]seccomp.ScmpCondition {
	var sets [][]seccomp.ScmpCondition
	for _, id := range WallClocks {
		sets = append(sets, append([]seccomp.ScmpCondition{maskedEq(0, 0xffffffff, uint64(id))}, extra...))
	}
	return sets
}

// notifyRules send o.Notify and o.NotifyIoctls to the supervisor. uname is NotifyUname's.
func notifyRules(o SeccompOptions) []rule {
	var rs []rule
	for _, n := range o.Notify {
		if n == "uname" && o.NotifyUname {
			continue
		}
		sets := notifyConds[n]
		if sets == nil {
			sets = [][]seccomp.ScmpCondition{nil}
		}
		for _, conds := range sets {
			rs = append(rs, rule{name: n, act: seccomp.ActNotify, conds: conds})
		}
		for _, alias := range i386Aliases[n] {
			rs = append(rs, rule{name: alias, act: errnoAct(unix.ENOSYS)})
		}
	}
	for _, req := range o.NotifyIoctls {
		rs = append(rs, rule{name: "ioctl", act: seccomp.ActNotify, conds: []seccomp.ScmpCondition{maskedEq(1, 0xffffffff, req)}})
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
	rs := make([]rule, 0, len(ttyIoctls)+len(hostFSIoctls))
	for _, req := range append(slices.Clone(ttyIoctls), hostFSIoctls...) {
		// The kernel reads the request as an unsigned int, so only the low 32 bits count.
		rs = append(rs, rule{name: "ioctl", act: errnoAct(unix.EPERM), conds: []seccomp.ScmpCondition{maskedEq(1, 0xffffffff, req)}})
	}
	// TIOCSCTTY with a non-zero argument takes a terminal that is another session's
	// controlling terminal (CAP_SYS_ADMIN): the caller's, when it is the container's stdio,
	// which could then be made to read the operator's input. Argument 0 (what the exec step
	// and a session leader on a terminal of its own use) is left alone.
	rs = append(rs, rule{name: "ioctl", act: errnoAct(unix.EPERM), conds: []seccomp.ScmpCondition{
		maskedEq(1, 0xffffffff, unix.TIOCSCTTY), cond(2, seccomp.CompareNotEqual, 0, 0)}})
	return rs
}

// socketRules restrict socket(2) as o says: with NoNetwork every family but AF_UNIX; unless
// AllowRawSockets, packet sockets and raw IP sockets; with NoUDP, IP datagram sockets.
// SOCK_RAW is refused for AF_INET and AF_INET6 only: it is also the ordinary type of netlink
// sockets (getifaddrs, iproute2), which are not raw network access.
// i386 socketcall passes its arguments in memory, which seccomp cannot read, so it is refused
// outright whenever socket() has any restriction (the direct i386 socket syscall, 359, gets
// the rules by name like every ABI).
// With NoNetwork the family rule already refuses every IP socket (EAFNOSUPPORT), so the
// SOCK_PACKET and UDP rules are left out: libseccomp cannot add more than a few masked
// comparisons after a "not equal" one on the same argument (EEXIST). The raw rules stay, so
// raw sockets keep their EPERM.
func socketRules(o SeccompOptions) []rule {
	eperm := errnoAct(unix.EPERM)
	var rs []rule
	// socketcall goes first: libseccomp also writes i386 "socket" rules as socketcall rules
	// (call number in arg0), and refuses (EEXIST) an unconditional rule added after them.
	if o.NoNetwork || !o.AllowRawSockets || o.NoUDP || o.NoSCTP || o.NoUntrackedTCP {
		rs = append(rs, rule{name: "socketcall", act: eperm})
	}
	if o.NoNetwork {
		notUnix := []seccomp.ScmpCondition{cond(0, seccomp.CompareNotEqual, unix.AF_UNIX, 0)}
		rs = append(rs,
			rule{name: "socket", act: errnoAct(unix.EAFNOSUPPORT), conds: notUnix},
			rule{name: "socketpair", act: errnoAct(unix.EAFNOSUPPORT), conds: notUnix},
		)
	}
	if !o.AllowRawSockets {
		rs = append(rs,
			rule{name: "socket", act: eperm, conds: []seccomp.ScmpCondition{maskedEq(0, 0xffffffff, unix.AF_PACKET)}},
			ipType(unix.AF_INET, unix.SOCK_RAW), ipType(unix.AF_INET6, unix.SOCK_RAW),
		)
	}
	if !o.AllowRawSockets && !o.NoNetwork {
		// The kernel turns socket(AF_INET, SOCK_PACKET) into a packet socket (a compatibility
		// path in __sock_create), which the AF_PACKET rule would not see.
		rs = append(rs, ipType(unix.AF_INET, unix.SOCK_PACKET))
	}
	if o.NoUDP && !o.NoNetwork {
		// Every IP datagram socket: UDP, UDP-Lite and ICMP "ping" sockets alike. Type 0 with
		// IPPROTO_UDP is no way around it: the kernel finds no protocol for type 0 (EPROTONOSUPPORT
		// or ESOCKTNOSUPPORT), and SOCK_RAW is the raw rule's business.
		rs = append(rs, ipType(unix.AF_INET, unix.SOCK_DGRAM), ipType(unix.AF_INET6, unix.SOCK_DGRAM))
	}
	if o.NoSCTP && !o.NoNetwork {
		for _, fam := range []uint64{unix.AF_INET, unix.AF_INET6} {
			rs = append(rs, ipType(fam, unix.SOCK_SEQPACKET), rule{name: "socket", act: eperm, conds: []seccomp.ScmpCondition{
				maskedEq(0, 0xffffffff, fam), maskedEq(2, 0xffffffff, unix.IPPROTO_SCTP)}})
		}
	}
	if o.NoUntrackedTCP && !o.NoNetwork {
		for _, fam := range []uint64{unix.AF_INET, unix.AF_INET6} {
			for _, proto := range []uint64{unix.IPPROTO_MPTCP, ipprotoSMC} {
				rs = append(rs, rule{name: "socket", act: errnoAct(unix.EPROTONOSUPPORT), conds: []seccomp.ScmpCondition{
					maskedEq(0, 0xffffffff, fam), maskedEq(2, 0xffffffff, proto)}})
			}
		}
		rs = append(rs, rule{name: "socket", act: errnoAct(unix.EAFNOSUPPORT), conds: []seccomp.ScmpCondition{
			maskedEq(0, 0xffffffff, unix.AF_SMC)}})
	}
	return rs
}

// ipprotoSMC is SMC over an AF_INET/AF_INET6 socket (Linux 6.11, include/uapi/linux/in.h).
const ipprotoSMC = 256

// ipType refuses socket(family, typ[|flags], ...); the type's low 4 bits (SOCK_TYPE_MASK) are
// the type, the rest SOCK_NONBLOCK and SOCK_CLOEXEC.
func ipType(family, typ uint64) rule {
	return rule{name: "socket", act: errnoAct(unix.EPERM), conds: []seccomp.ScmpCondition{
		maskedEq(0, 0xffffffff, family), maskedEq(1, 0xf, typ)}}
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

// i386Aliases are the i386 syscalls that do what an x86_64 syscall does under another name
// (legacy, 64-bit-offset, 32-bit-uid and 64-bit-time variants). deny_syscalls and
// allow_syscalls name x86_64 syscalls; rules by name reach the i386 syscall of the same name
// only, so without these a program could step around a denied "stat" through int 0x80 and
// stat64. Entries without an x86_64 counterpart (vm86, idle, the unimplemented ones) are not
// here: an allowlist never allows them, and a deny list has nothing to match them to.
var i386Aliases = map[string][]string{
	"stat": {"stat64", "oldstat"}, "lstat": {"lstat64", "oldlstat"}, "fstat": {"fstat64", "oldfstat"},
	"newfstatat": {"fstatat64"}, "statfs": {"statfs64"}, "fstatfs": {"fstatfs64"},
	"truncate": {"truncate64"}, "ftruncate": {"ftruncate64"}, "lseek": {"_llseek"},
	"fcntl": {"fcntl64"}, "sendfile": {"sendfile64"}, "fadvise64": {"fadvise64_64"},
	"mmap": {"mmap2"}, "select": {"_newselect"}, "getdents": {"readdir"}, "umount2": {"umount"},
	"wait4": {"waitpid"}, "getrlimit": {"ugetrlimit"}, "uname": {"olduname", "oldolduname"},
	"settimeofday": {"stime"}, "setpriority": {"nice"},
	"rt_sigaction": {"sigaction", "signal"}, "rt_sigprocmask": {"sigprocmask", "sgetmask", "ssetmask"},
	"rt_sigsuspend": {"sigsuspend"}, "rt_sigpending": {"sigpending"}, "rt_sigreturn": {"sigreturn"},
	"chown": {"chown32"}, "lchown": {"lchown32"}, "fchown": {"fchown32"},
	"getuid": {"getuid32"}, "getgid": {"getgid32"}, "geteuid": {"geteuid32"}, "getegid": {"getegid32"},
	"setuid": {"setuid32"}, "setgid": {"setgid32"}, "setreuid": {"setreuid32"}, "setregid": {"setregid32"},
	"setresuid": {"setresuid32"}, "setresgid": {"setresgid32"}, "getresuid": {"getresuid32"},
	"getresgid": {"getresgid32"}, "getgroups": {"getgroups32"}, "setgroups": {"setgroups32"},
	"setfsuid": {"setfsuid32"}, "setfsgid": {"setfsgid32"},
	"clock_gettime": {"clock_gettime64"}, "clock_settime": {"clock_settime64"},
	"clock_adjtime": {"clock_adjtime64"}, "clock_getres": {"clock_getres_time64"},
	"clock_nanosleep": {"clock_nanosleep_time64"}, "timer_gettime": {"timer_gettime64"},
	"timer_settime": {"timer_settime64"}, "timerfd_gettime": {"timerfd_gettime64"},
	"timerfd_settime": {"timerfd_settime64"}, "utimensat": {"utimensat_time64"},
	"pselect6": {"pselect6_time64"}, "ppoll": {"ppoll_time64"}, "io_pgetevents": {"io_pgetevents_time64"},
	"recvmmsg": {"recvmmsg_time64"}, "mq_timedsend": {"mq_timedsend_time64"},
	"mq_timedreceive": {"mq_timedreceive_time64"}, "semtimedop": {"semtimedop_time64"},
	"rt_sigtimedwait": {"rt_sigtimedwait_time64"}, "futex": {"futex_time64"},
	"sched_rr_get_interval": {"sched_rr_get_interval_time64"},
}

// i386Multiplexers are the i386 syscalls that reach a whole family through one number, its
// arguments in memory. Denying any member denies the multiplexer; allowing a member does not
// allow it (that would allow the whole family).
var i386Multiplexers = map[string][]string{
	"socketcall": {"socket", "bind", "connect", "listen", "accept", "accept4", "getsockname",
		"getpeername", "socketpair", "sendto", "recvfrom", "shutdown", "setsockopt", "getsockopt",
		"sendmsg", "recvmsg", "recvmmsg", "sendmmsg"},
	"ipc": {"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
		"msgget", "msgsnd", "msgrcv", "msgctl"},
}

// withI386Names returns names plus their i386 aliases and, when deny, the multiplexers that
// reach any of them. Rules by name apply to every ABI that has the name (x32 shares the
// x86_64 names), so these extra names only ever match i386 syscalls.
func withI386Names(names []string, deny bool) []string {
	out := slices.Clone(names)
	for _, n := range names {
		out = append(out, i386Aliases[n]...)
	}
	if deny {
		for mux, members := range i386Multiplexers {
			if slices.ContainsFunc(members, func(m string) bool { return slices.Contains(names, m) }) {
				out = append(out, mux)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// runtimeSyscalls are allowed under every allow_syscalls list, and refused in deny_syscalls
// (seccompPlan), because the runtime still runs after the policy's filter is loaded. That is
// late: the C drop-and-exec step (sl_exec.c) loads it right before execve, after every
// credential and signal step, so what remains is
//   - loading the next program (the OCI profile): seccomp;
//   - execve, once per PATH entry tried;
//   - the failure path: unmapping the scratch memory, reporting the error (write) and exiting,
//     in init through the Go runtime (memory, futexes, signals, scheduling, time);
//   - clone3, allowed here so that sandlock's own filter answers it ENOSYS and libc falls back
//     to clone instead of failing.
var runtimeSyscalls = []string{
	"seccomp", "execve", "clone3",
	// the failure path, init's in Go
	"write", "munmap", "mmap", "madvise", "mprotect", "futex", "rt_sigreturn", "rt_sigaction",
	"rt_sigprocmask", "sigaltstack", "sched_yield", "nanosleep", "getpid", "gettid", "tgkill",
	"clock_gettime", "epoll_pwait", "exit", "exit_group",
}

// ownPIDRules refuse the pid-targeting syscalls unless they name the caller (pid 0). A value
// with garbage above the 32 bits the kernel reads compares unequal and is refused: fail closed.
func ownPIDRules() []rule {
	eperm := errnoAct(unix.EPERM)
	var rs []rule
	for _, n := range []string{"prlimit64", "sched_setaffinity", "sched_setscheduler",
		"sched_setparam", "sched_setattr", "migrate_pages", "move_pages"} {
		rs = append(rs, rule{name: n, act: eperm, conds: []seccomp.ScmpCondition{cond(0, seccomp.CompareNotEqual, 0, 0)}})
	}
	// setpriority(PRIO_PROCESS=0, who=0) and ioprio_set(IOPRIO_WHO_PROCESS=1, who=0) only:
	// the group and user forms reach host processes of the same process group or uid.
	rs = append(rs,
		rule{name: "setpriority", act: eperm, conds: []seccomp.ScmpCondition{cond(0, seccomp.CompareNotEqual, 0, 0)}},
		rule{name: "setpriority", act: eperm, conds: []seccomp.ScmpCondition{cond(1, seccomp.CompareNotEqual, 0, 0)}},
		rule{name: "ioprio_set", act: eperm, conds: []seccomp.ScmpCondition{cond(0, seccomp.CompareNotEqual, 1, 0)}},
		rule{name: "ioprio_set", act: eperm, conds: []seccomp.ScmpCondition{cond(1, seccomp.CompareNotEqual, 0, 0)}},
	)
	return rs
}
