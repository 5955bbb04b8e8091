package confine

import (
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/spec"
)

// The policy's seccomp fields, each allowed and refused, in a subprocess (TestHelperPolicySeccomp).
// Every refused call is harmless should the filter fail: sockets are created and closed,
// getcwd and getppid only read.

type scPolicyCase struct {
	name   string
	opts   SeccompOptions
	checks map[string]func() error
	want   map[string]string
}

func getcwd() error {
	var b [256]byte
	return rawSys(unix.SYS_GETCWD, uintptr(unsafe.Pointer(&b)), 256)
}

func sock(family, typ, proto uintptr) func() error {
	return func() error { return sysClose(unix.SYS_SOCKET, family, typ, proto) }
}

var scPolicyCases = []scPolicyCase{
	{name: "raw sockets allowed", opts: SeccompOptions{AllowRawSockets: true}, checks: map[string]func() error{
		"inet-raw": sock(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP), "packet": sock(unix.AF_PACKET, unix.SOCK_DGRAM, 0),
		"inet6-raw": sock(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6),
	}, want: map[string]string{"inet-raw": "ok", "packet": "ok", "inet6-raw": "ok"}},
	{name: "raw sockets refused", checks: map[string]func() error{
		"inet-raw": sock(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP), "packet": sock(unix.AF_PACKET, unix.SOCK_DGRAM, 0),
		"inet-sock-packet": sock(unix.AF_INET, unix.SOCK_PACKET, 0x300), "udp": sock(unix.AF_INET, unix.SOCK_DGRAM, 0),
	}, want: map[string]string{"inet-raw": "EPERM", "packet": "EPERM", "inet-sock-packet": "EPERM", "udp": "ok"}},
	{name: "no_udp", opts: SeccompOptions{NoUDP: true}, checks: map[string]func() error{
		"udp": sock(unix.AF_INET, unix.SOCK_DGRAM, 0), "udp6": sock(unix.AF_INET6, unix.SOCK_DGRAM, unix.IPPROTO_UDP),
		"udp-flags": sock(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0),
		"udp-high":  sock(unix.AF_INET, 1<<32|unix.SOCK_DGRAM, 0),
		"ping":      sock(unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP),
		"type0-udp": sock(unix.AF_INET, 0, unix.IPPROTO_UDP),
		"tcp":       sock(unix.AF_INET, unix.SOCK_STREAM, 0), "unix-dgram": sock(unix.AF_UNIX, unix.SOCK_DGRAM, 0),
	}, want: map[string]string{"udp": "EPERM", "udp6": "EPERM", "udp-flags": "EPERM", "udp-high": "EPERM",
		"ping": "EPERM", "type0-udp": "ESOCKTNOSUPPORT", "tcp": "ok", "unix-dgram": "ok"}},
	{name: "untracked tcp", opts: SeccompOptions{NoUntrackedTCP: true, NoSCTP: true}, checks: map[string]func() error{
		"mptcp":     sock(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP),
		"mptcp6":    sock(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP),
		"smc-inet":  sock(unix.AF_INET, unix.SOCK_STREAM, ipprotoSMC),
		"af-smc":    sock(unix.AF_SMC, unix.SOCK_STREAM, 0),
		"tcp":       sock(unix.AF_INET, unix.SOCK_STREAM, 0),
		"tcp6":      sock(unix.AF_INET6, unix.SOCK_STREAM, unix.IPPROTO_TCP),
		"unix-strm": sock(unix.AF_UNIX, unix.SOCK_STREAM, 0),
	}, want: map[string]string{"mptcp": "EPROTONOSUPPORT", "mptcp6": "EPROTONOSUPPORT", "smc-inet": "EPROTONOSUPPORT",
		"af-smc": "EAFNOSUPPORT", "tcp": "ok", "tcp6": "ok", "unix-strm": "ok"}},
	{name: "deny_syscalls", opts: SeccompOptions{DenySyscalls: []string{"getcwd", "clone3", "uname"}}, checks: map[string]func() error{
		"getcwd": getcwd, "getppid": func() error { return rawSys(unix.SYS_GETPPID) },
		"clone3": func() error { return rawSys(unix.SYS_CLONE3, 0, 0) },
		"uname":  func() error { var u unix.Utsname; return unix.Uname(&u) },
	}, want: map[string]string{"getcwd": "EPERM", "getppid": "ok", "clone3": "EPERM", "uname": "EPERM"}},
	// allow_syscalls has no case here: under an allow list a Go process dies as soon as its
	// runtime needs an unlisted syscall, which is why the runtime loads that list right before
	// execve. TestPolicyAllowSyscalls (integration) drives it through that real path.
	{name: "pin cpus", opts: SeccompOptions{PinCPUs: true}, checks: map[string]func() error{
		"sched_setaffinity": func() error { var s unix.CPUSet; _ = unix.SchedGetaffinity(0, &s); return unix.SchedSetaffinity(0, &s) },
		"sched_getaffinity": func() error { var s unix.CPUSet; return unix.SchedGetaffinity(0, &s) },
	}, want: map[string]string{"sched_setaffinity": "EPERM", "sched_getaffinity": "ok"}},
}

func TestPolicySeccomp(t *testing.T) {
	requireRoot(t)
	for _, c := range scPolicyCases {
		t.Run(c.name, func(t *testing.T) {
			res, out := runHelper(t, "TestHelperPolicySeccomp", c.name, "")
			for k, w := range c.want {
				if got := res[k]; got != w {
					t.Errorf("%s: got %q, want %q", k, got, w)
				}
			}
			if t.Failed() {
				t.Logf("helper output:\n%s", out)
			}
		})
	}
}

func TestHelperPolicySeccomp(t *testing.T) {
	name, _ := helperCase(t)
	runtime.LockOSThread() // confinement is per thread; never unlocked, the process exits
	if prog, ok := strings.CutPrefix(name, "exec:"); ok {
		policyCompatExec(t, prog)
		return
	}
	for _, c := range scPolicyCases {
		if c.name == name {
			loadForTest(t, nil, c.opts)
			for k, f := range c.checks {
				report(k, f())
			}
			// The runtime never runs Go under these filters (they are loaded right before
			// execve); the Go runtime's own exit path may need syscalls an allow list
			// refuses, so leave at once.
			os.Stdout.Sync()
			unix.Exit(0)
		}
	}
	t.Skipf("not a policy case: %q", name)
}

// policyCompatCalls are i386 calls under deny_syscalls [getppid, stat, socket]: the same name,
// an alias (stat64) and the socketcall multiplexer are refused; others are not. The x32 call
// is refused by the filter, before the kernel (built without x32 here) would say ENOSYS.
var policyCompatCalls = []struct{ call, want string }{
	{"i386:64", "-1"},       // getppid
	{"i386:195:0:0", "-1"},  // stat64(NULL, NULL): refused before the bad pointer is read
	{"i386:102:1:0", "-1"},  // socketcall(SYS_SOCKET, NULL)
	{"i386:359:1:1", "-1"},  // socket(AF_UNIX, SOCK_STREAM)
	{"i386:20", "pos"},      // getpid
	{"x32:110", "-1"},       // getppid through x32
	{"i386:106:0:0", "-1"},  // stat: the same name
	{"i386:107:0:0", "-14"}, // lstat(NULL): not denied, EFAULT
}

// policyCompatExec loads a deny_syscalls filter and execs the i386/x32 test program.
func policyCompatExec(t *testing.T, prog string) {
	loadForTest(t, nil, SeccompOptions{DenySyscalls: []string{"getppid", "stat", "socket"}})
	args := []string{prog}
	for _, c := range policyCompatCalls {
		args = append(args, c.call)
	}
	err := syscall.Exec(prog, args, os.Environ())
	t.Fatalf("exec: %v", err)
}

func TestPolicySeccompCompatABIs(t *testing.T) {
	requireRoot(t)
	prog := buildSys32(t)
	_, out := runHelper(t, "TestHelperPolicySeccomp", "exec:"+prog, "")
	res := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			res[f[0]] = f[1]
		}
	}
	for _, c := range policyCompatCalls {
		got, ok := res[c.call]
		if !ok || (c.want == "pos" && strings.HasPrefix(got, "-")) || (c.want != "pos" && got != c.want) {
			t.Errorf("%s: got %q, want %s", c.call, got, c.want)
		}
	}
	if t.Failed() {
		t.Logf("program output:\n%s", out)
	}
}

func TestSeccompPlanRefusals(t *testing.T) {
	for _, c := range []struct {
		p    spec.Policy
		want string
	}{
		{spec.Policy{DenySyscalls: []string{"futex"}}, `deny_syscalls: "futex": the runtime needs it`},
		{spec.Policy{DenySyscalls: []string{"ptrace"}}, ""},
		{spec.Policy{AllowSyscalls: []string{"read"}}, ""},
	} {
		_, err := seccompPlan(c.p)
		if got := errText(err); (c.want == "") != (err == nil) || !strings.Contains(got, c.want) {
			t.Errorf("%v: got %q, want %q", c.p, got, c.want)
		}
	}
	if err := CheckSyscallNames("deny_syscalls", []string{"no_such_syscall"}); err == nil {
		t.Error("an unknown name passed CheckSyscallNames")
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestSeccompPlanPortLists: a net_bind or net_connect list refuses the sockets that carry TCP
// around Landlock's TCP port rules (MPTCP, SMC, SCTP); without a list they stay.
func TestSeccompPlanPortLists(t *testing.T) {
	port := []spec.Port{{Lo: 443, Hi: 443}}
	for _, c := range []struct {
		name string
		p    spec.Policy
		want bool
	}{{"net_bind", spec.Policy{NetBind: port}, true}, {"net_connect", spec.Policy{NetConnect: port}, true}, {"none", spec.Policy{}, false}} {
		o, err := seccompPlan(c.p)
		if err != nil {
			t.Fatal(err)
		}
		if o.NoUntrackedTCP != c.want || o.NoSCTP != c.want {
			t.Errorf("%s: NoUntrackedTCP %v, NoSCTP %v, want %v", c.name, o.NoUntrackedTCP, o.NoSCTP, c.want)
		}
	}
}
