package confine

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// scCase is one seccomp check: the filters built from oci and opts are loaded in a subprocess,
// then each check runs and its result must equal want[key].
type scCase struct {
	name   string
	oci    func() *specs.LinuxSeccomp
	opts   SeccompOptions
	checks func(dir string) map[string]func() error
	want   map[string]string
}

// sys issues a raw syscall on the calling thread and returns its errno, if any.
func rawSys(nr uintptr, args ...uintptr) error {
	var a [6]uintptr
	copy(a[:], args)
	_, _, e := unix.RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if e != 0 {
		return e
	}
	return nil
}

// sysClose issues a syscall that returns an fd and closes it.
func sysClose(nr uintptr, args ...uintptr) error {
	var a [6]uintptr
	copy(a[:], args)
	fd, _, e := unix.RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if e != 0 {
		return e
	}
	unix.Close(int(fd))
	return nil
}

// rawClone calls clone(2) like fork with extra flags. Should it succeed, the child exits at
// once, before running any Go code that could touch state shared with the parent.
func rawClone(flags uintptr) error {
	pid, _, e := unix.RawSyscall6(unix.SYS_CLONE, flags|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	if pid == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	_, err := unix.Wait4(int(pid), nil, 0, nil)
	return err
}

func ioctlOnPipe(req uintptr) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	var c byte = 'x'
	return rawSys(unix.SYS_IOCTL, uintptr(p[0]), req, uintptr(unsafe.Pointer(&c)))
}

func socketpair(domain uintptr) error {
	var fds [2]int32
	err := rawSys(unix.SYS_SOCKETPAIR, domain, unix.SOCK_STREAM, 0, uintptr(unsafe.Pointer(&fds)))
	if err == nil {
		unix.Close(int(fds[0]))
		unix.Close(int(fds[1]))
	}
	return err
}

func singleCheck(key string, f func() error) func(string) map[string]func() error {
	return func(string) map[string]func() error { return map[string]func() error{key: f} }
}

var seccompCases = []scCase{
	// Every check is harmless should the filter fail: a missing mount point, an oversized
	// hostname, a pid that cannot exist. Unfiltered, they would fail with another errno.
	{name: "namespaces and mounts", checks: func(dir string) map[string]func() error {
		missing := filepath.Join(dir, "missing")
		long := make([]byte, 65)
		return map[string]func() error{
			"mount":         func() error { return unix.Mount("none", missing, "tmpfs", 0, "") },
			"umount2":       func() error { return unix.Unmount(missing, 0) },
			"unshare":       func() error { return unix.Unshare(unix.CLONE_NEWUTS) },
			"setns":         func() error { return unix.Setns(0, 0) },
			"chroot":        func() error { return unix.Chroot(dir) },
			"ptrace":        func() error { return rawSys(unix.SYS_PTRACE, unix.PTRACE_ATTACH, ^uintptr(0)) },
			"clone-newuser": func() error { return rawClone(unix.CLONE_NEWUSER) },
			"clone-newnet":  func() error { return rawClone(unix.CLONE_NEWNET) },
			"clone-newns":   func() error { return rawClone(unix.CLONE_NEWNS) },
			"clone-plain":   func() error { return rawClone(0) },
			"clone3":        func() error { return rawSys(unix.SYS_CLONE3, 0, 0) },
			"sethostname":   func() error { return unix.Sethostname(long) },
		}
	}, want: map[string]string{
		"mount": "EPERM", "umount2": "EPERM", "unshare": "EPERM", "setns": "EPERM", "chroot": "EPERM",
		"ptrace": "EPERM", "clone-newuser": "EPERM", "clone-newnet": "EPERM", "clone-newns": "EPERM",
		"clone-plain": "ok", "clone3": "ENOSYS", "sethostname": "EPERM",
	}},
	{name: "deny list", checks: denyListChecks, want: nil}, // every entry: EPERM
	{name: "tty ioctls", checks: func(string) map[string]func() error {
		return map[string]func() error{
			"TIOCSTI":            func() error { return ioctlOnPipe(unix.TIOCSTI) },
			"TIOCSTI-high-bits":  func() error { return ioctlOnPipe(1<<32 | unix.TIOCSTI) },
			"TIOCLINUX":          func() error { return ioctlOnPipe(unix.TIOCLINUX) },
			"TCGETS-unfiltered":  func() error { return ioctlOnPipe(unix.TCGETS) },
			"FIONREAD-on-a-pipe": func() error { return ioctlOnPipe(unix.TIOCINQ) },
		}
	}, want: map[string]string{
		"TIOCSTI": "EPERM", "TIOCSTI-high-bits": "EPERM", "TIOCLINUX": "EPERM",
		"TCGETS-unfiltered": "ENOTTY", "FIONREAD-on-a-pipe": "ok",
	}},
	{name: "raw and packet sockets", checks: func(string) map[string]func() error {
		return map[string]func() error{
			"inet-raw":     func() error { return sysClose(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP) },
			"inet-raw-cx":  func() error { return sysClose(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 1) },
			"packet":       func() error { return sysClose(unix.SYS_SOCKET, unix.AF_PACKET, unix.SOCK_DGRAM, 0) },
			"packet-high":  func() error { return sysClose(unix.SYS_SOCKET, 1<<32|unix.AF_PACKET, unix.SOCK_DGRAM, 0) },
			"inet-stream":  func() error { return sysClose(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0) },
			"unix-stream":  func() error { return sysClose(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0) },
			"inet-dgram-6": func() error { return sysClose(unix.SYS_SOCKET, unix.AF_INET6, unix.SOCK_DGRAM, 0) },
			"inet6-raw":    func() error { return sysClose(unix.SYS_SOCKET, unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6) },
			"netlink-raw":  func() error { return sysClose(unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, 0) },
		}
	}, want: map[string]string{
		"inet-raw": "EPERM", "inet-raw-cx": "EPERM", "packet": "EPERM", "packet-high": "EPERM",
		"inet-stream": "ok", "unix-stream": "ok", "inet-dgram-6": "ok", "inet6-raw": "EPERM", "netlink-raw": "ok",
	}},
	{name: "NoNetwork", opts: SeccompOptions{NoNetwork: true}, checks: func(string) map[string]func() error {
		return map[string]func() error{
			"inet-stream":     func() error { return sysClose(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0) },
			"inet6-dgram":     func() error { return sysClose(unix.SYS_SOCKET, unix.AF_INET6, unix.SOCK_DGRAM, 0) },
			"netlink":         func() error { return sysClose(unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, 0) },
			"unix-stream":     func() error { return sysClose(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0) },
			"unix-dgram":      func() error { return sysClose(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_DGRAM, 0) },
			"socketpair-unix": func() error { return socketpair(unix.AF_UNIX) },
			"socketpair-inet": func() error { return socketpair(unix.AF_INET) },
		}
	}, want: map[string]string{
		"inet-stream": "EAFNOSUPPORT", "inet6-dgram": "EAFNOSUPPORT", "netlink": "EAFNOSUPPORT",
		"unix-stream": "ok", "unix-dgram": "ok", "socketpair-unix": "ok", "socketpair-inet": "EAFNOSUPPORT",
	}},
	{name: "IsolateIPC", opts: SeccompOptions{IsolateIPC: true}, checks: ipcChecks, want: map[string]string{
		"shmget": "EPERM", "msgget": "EPERM", "semget": "EPERM", "mq_open": "EPERM",
	}},
	{name: "IPC without IsolateIPC", checks: ipcChecks, want: map[string]string{
		"shmget": "ok", "msgget": "ok", "semget": "ok", "mq_open": "ok",
	}},
	{name: "personality", checks: func(string) map[string]func() error {
		m := map[string]func() error{}
		for _, v := range []uintptr{0, 8, 0x20000, 0x20008, 0xffffffff, 0x40000, 0x0400000, 1, 0xfffffffe} {
			v := v
			m[fmt.Sprintf("%#x", v)] = func() error {
				err := rawSys(unix.SYS_PERSONALITY, v)
				rawSys(unix.SYS_PERSONALITY, 0) // back to PER_LINUX for the next check
				return err
			}
		}
		return m
	}, want: map[string]string{
		"0x0": "ok", "0x8": "ok", "0x20000": "ok", "0x20008": "ok", "0xffffffff": "ok",
		"0x40000": "EPERM", "0x400000": "EPERM", "0x1": "EPERM", "0xfffffffe": "EPERM",
	}},
	{name: "OCI allow list", oci: allowListProfile, checks: func(string) map[string]func() error {
		return map[string]func() error{
			"getpid":  func() error { return rawSys(unix.SYS_GETPID) },
			"getppid": func() error { return rawSys(unix.SYS_GETPPID) },
			"getcwd":  func() error { var b [256]byte; return rawSys(unix.SYS_GETCWD, uintptr(unsafe.Pointer(&b)), 256) },
		}
	}, want: map[string]string{"getpid": "ok", "getppid": "ENOTSUP", "getcwd": "EXDEV"}},
	{name: "OCI args", oci: argsProfile, checks: func(string) map[string]func() error {
		return map[string]func() error{
			"umask-masked-match":    func() error { return rawSys(unix.SYS_UMASK, 0o777) },
			"umask-masked-nomatch":  func() error { return rawSys(unix.SYS_UMASK, 0o022) },
			"getpriority-both":      func() error { return rawSys(unix.SYS_GETPRIORITY, unix.PRIO_USER, 2000000) },
			"getpriority-one":       func() error { return rawSys(unix.SYS_GETPRIORITY, unix.PRIO_USER, 0) },
			"getpgid-first":         func() error { return rawSys(unix.SYS_GETPGID, 777777) },
			"getpgid-second":        func() error { return rawSys(unix.SYS_GETPGID, 888888) },
			"getpgid-self":          func() error { return rawSys(unix.SYS_GETPGID, 0) },
			"getsid-ne-match":       func() error { return rawSys(unix.SYS_GETSID, 1) },
			"getsid-ne-nomatch":     func() error { return rawSys(unix.SYS_GETSID, 0) },
			"sandlock-still-denies": func() error { return unix.Unshare(unix.CLONE_NEWUTS) },
		}
	}, want: map[string]string{
		"umask-masked-match": "EDOM", "umask-masked-nomatch": "ok", "getpriority-both": "ERANGE",
		"getpriority-one": "ok", "getpgid-first": "ECHRNG", "getpgid-second": "ECHRNG", "getpgid-self": "ok",
		"getsid-ne-match": "EL2HLT", "getsid-ne-nomatch": "ok", "sandlock-still-denies": "EPERM",
	}},
	{name: "OCI flags", oci: func() *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, "SECCOMP_FILTER_FLAG_TSYNC"},
		}
	}, checks: singleCheck("getpid", func() error { return rawSys(unix.SYS_GETPID) }), want: map[string]string{"getpid": "ok"}},
}

func ipcChecks(string) map[string]func() error {
	name := []byte("/sandlock-confine-test\x00")
	return map[string]func() error{
		"shmget": func() error {
			id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600)
			if err == nil {
				unix.SysvShmCtl(id, unix.IPC_RMID, nil)
			}
			return err
		},
		"msgget": func() error {
			id, _, e := unix.RawSyscall(unix.SYS_MSGGET, unix.IPC_PRIVATE, unix.IPC_CREAT|0o600, 0)
			if e != 0 {
				return e
			}
			return rawSys(unix.SYS_MSGCTL, id, unix.IPC_RMID, 0)
		},
		"semget": func() error {
			id, _, e := unix.RawSyscall(unix.SYS_SEMGET, unix.IPC_PRIVATE, 1, unix.IPC_CREAT|0o600)
			if e != 0 {
				return e
			}
			return rawSys(unix.SYS_SEMCTL, id, 0, unix.IPC_RMID)
		},
		"mq_open": func() error {
			err := sysClose(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(&name[1])), unix.O_CREAT|unix.O_RDWR, 0o600, 0)
			rawSys(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(&name[1])))
			return err
		},
	}
}

// denyListChecks calls every deny-listed syscall the native arch has, with every argument -1:
// harmless should the filter fail (bad pointers, fds, flags and magic numbers), and refused
// with EPERM if it works. vhangup has no arguments; the helper runs in its own session, so it
// has no terminal to hang up.
func denyListChecks(string) map[string]func() error {
	m := map[string]func() error{}
	for _, name := range deniedSyscalls {
		nr, err := seccomp.GetSyscallFromName(name)
		if err != nil || nr < 0 {
			continue
		}
		m[name] = func() error {
			return rawSys(uintptr(nr), ^uintptr(0), ^uintptr(0), ^uintptr(0), ^uintptr(0), ^uintptr(0), ^uintptr(0))
		}
	}
	return m
}

func errnoPtr(e unix.Errno) *uint {
	u := uint(e)
	return &u
}

// allowListProfile allows every syscall libseccomp knows but getppid and getcwd, refuses
// getcwd with EXDEV, and everything else with the default errno EOPNOTSUPP.
func allowListProfile() *specs.LinuxSeccomp {
	var names []string
	for nr := 0; nr < 1024; nr++ {
		name, err := seccomp.ScmpSyscall(nr).GetName()
		if err != nil || name == "getppid" || name == "getcwd" {
			continue
		}
		names = append(names, name)
	}
	return &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: errnoPtr(unix.EOPNOTSUPP),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: names, Action: specs.ActAllow},
			{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: errnoPtr(unix.EXDEV)},
			{Names: []string{"no_such_syscall_sandlock"}, Action: specs.ActAllow}, // skipped like runc
		},
	}
}

func argsProfile() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"umask"}, Action: specs.ActErrno, ErrnoRet: errnoPtr(unix.EDOM),
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpMaskedEqual, Value: 0o700, ValueTwo: 0o700}}},
			{Names: []string{"getpriority"}, Action: specs.ActErrno, ErrnoRet: errnoPtr(unix.ERANGE),
				Args: []specs.LinuxSeccompArg{
					{Index: 0, Op: specs.OpEqualTo, Value: unix.PRIO_USER},
					{Index: 1, Op: specs.OpGreaterEqual, Value: 1000000},
				}},
			{Names: []string{"getpgid"}, Action: specs.ActErrno, ErrnoRet: errnoPtr(unix.ECHRNG),
				Args: []specs.LinuxSeccompArg{
					{Index: 0, Op: specs.OpEqualTo, Value: 777777},
					{Index: 0, Op: specs.OpEqualTo, Value: 888888},
				}},
			{Names: []string{"getsid"}, Action: specs.ActErrno, ErrnoRet: errnoPtr(unix.EL2HLT),
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpNotEqual, Value: 0}}},
		},
	}
}

func TestSeccomp(t *testing.T) {
	requireRoot(t)
	for _, c := range seccompCases {
		t.Run(c.name, func(t *testing.T) {
			res, out := runHelper(t, "TestHelperSeccomp", c.name, t.TempDir())
			want := c.want
			if want == nil { // every check must be refused with EPERM
				want = map[string]string{}
				for k := range c.checks("") {
					want[k] = "EPERM"
				}
			}
			for k, w := range want {
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

// loadForTest builds and loads the filters for a case on the calling (locked) thread.
func loadForTest(t *testing.T, oci *specs.LinuxSeccomp, o SeccompOptions) int {
	fs, err := BuildFilters(oci, o)
	if err != nil {
		t.Fatalf("BuildFilters: %v", err)
	}
	if err := SetNoNewPrivs(); err != nil {
		t.Fatal(err)
	}
	listener, err := LoadFilters(fs)
	if err != nil {
		t.Fatalf("LoadFilters: %v", err)
	}
	return listener
}

// TestHelperSeccomp is the subprocess side of TestSeccomp and TestSeccompCompatABIs.
func TestHelperSeccomp(t *testing.T) {
	name, dir := helperCase(t)
	runtime.LockOSThread()
	if prog, ok := strings.CutPrefix(name, "exec:"); ok {
		compatExec(t, prog)
		return
	}
	for _, c := range seccompCases {
		if c.name != name {
			continue
		}
		var oci *specs.LinuxSeccomp
		if c.oci != nil {
			oci = c.oci()
		}
		checks := c.checks(dir) // before loading: building them may need syscalls the filter refuses
		loadForTest(t, oci, c.opts)
		for k, f := range checks {
			report(k, f())
		}
		return
	}
	t.Fatalf("no case %q", name)
}

// sys32Source makes syscalls through the i386 (int 0x80) and x32 entry points of an x86_64
// kernel. Each argument is "abi:nr[:a0[:a1[:a2]]]"; it prints the argument and the raw result.
const sys32Source = `#include <stdio.h>
#include <string.h>
static long int80(long nr, long a, long b, long c) {
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}
static long x32(long nr, long a, long b, long c) {
	long ret;
	register long r10 __asm__("r10") = 0;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr | 0x40000000L), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}
int main(int argc, char **argv) {
	for (int i = 1; i < argc; i++) {
		char abi[8];
		long nr = 0, a = 0, b = 0, c = 0;
		if (sscanf(argv[i], "%7[^:]:%li:%li:%li:%li", abi, &nr, &a, &b, &c) < 2)
			return 2;
		long r = strcmp(abi, "i386") == 0 ? int80(nr, a, b, c) : x32(nr, a, b, c);
		printf("%s %ld\n", argv[i], r);
	}
	return 0;
}
`

// buildSys32 compiles sys32Source, skipping when gcc or the i386 entry point is missing.
func buildSys32(t *testing.T) string {
	if runtime.GOARCH != "amd64" {
		t.Skip("i386/x32 entry points exist only on x86_64")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		testreq.Missing(t, "needs gcc to build the int 0x80 test program")
	}
	dir := t.TempDir()
	src, prog := filepath.Join(dir, "sys32.c"), filepath.Join(dir, "sys32")
	if err := os.WriteFile(src, []byte(sys32Source), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-O2", "-o", prog, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	if out, err := exec.Command(prog, "i386:20").Output(); err != nil || strings.Contains(string(out), " -") {
		t.Skipf("int 0x80 does not work here (ia32 emulation off?): %v %s", err, out)
	}
	return prog
}

// compatCalls are the i386 and x32 calls made under the filters (NoNetwork and IsolateIPC on),
// with the raw result each must give (a negative errno, or "pos" for a positive value).
var compatCalls = []struct{ call, want string }{
	{"i386:20", "pos"},             // getpid: int 0x80 works at all
	{"i386:310:0x4000000", "-1"},   // unshare(CLONE_NEWUTS)
	{"i386:21", "-1"},              // mount(NULL, ...)
	{"i386:26:16:-1", "-1"},        // ptrace(PTRACE_ATTACH, -1)
	{"i386:120:0x10000011", "-1"},  // clone(CLONE_NEWUSER|SIGCHLD)
	{"i386:435", "-38"},            // clone3 -> ENOSYS
	{"i386:54:0:0x5412", "-1"},     // ioctl(0, TIOCSTI)
	{"i386:359:2:1", "-97"},        // socket(AF_INET, SOCK_STREAM) -> EAFNOSUPPORT
	{"i386:359:2:3", "-1"},         // socket(AF_INET, SOCK_RAW)
	{"i386:102:1:0", "-1"},         // socketcall(SYS_SOCKET, NULL)
	{"i386:117:23:0:4096", "-1"},   // ipc(SHMGET, IPC_PRIVATE, 4096)
	{"i386:136:0x40000", "-1"},     // personality(ADDR_NO_RANDOMIZE)
	{"i386:74:0xffffffff:4", "-1"}, // sethostname(bad pointer)
	{"x32:272:0x4000000", "-1"},    // unshare(CLONE_NEWUTS)
	{"x32:165", "-1"},              // mount(NULL, ...)
	{"x32:41:2:1", "-97"},          // socket(AF_INET, SOCK_STREAM)
	{"x32:435", "-38"},             // clone3
	{"x32:56:0x10000011", "-1"},    // clone(CLONE_NEWUSER|SIGCHLD)
	{"x32:135:0x40000", "-1"},      // personality(ADDR_NO_RANDOMIZE)
	{"x32:521:16:-1", "-1"},        // ptrace(PTRACE_ATTACH, -1) (x32 number)
	{"x32:514:0:0x5412", "-1"},     // ioctl(0, TIOCSTI) (x32's own number)
}

// TestSeccompCompatABIs checks that syscalls made through int 0x80 (i386) and the x32 bit get
// the same rules as native ones.
func TestSeccompCompatABIs(t *testing.T) {
	requireRoot(t)
	prog := buildSys32(t)
	_, out := runHelper(t, "TestHelperSeccomp", "exec:"+prog, "")
	res := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			res[f[0]] = f[1]
		}
	}
	for _, c := range compatCalls {
		got, ok := res[c.call]
		if !ok || (c.want == "pos" && strings.HasPrefix(got, "-")) || (c.want != "pos" && got != c.want) {
			t.Errorf("%s: got %q, want %s", c.call, got, c.want)
		}
	}
	if t.Failed() {
		t.Logf("program output:\n%s", out)
	}
}

// compatExec loads the filters and execs the test program (filters survive execve), which
// prints one "call result" line per call.
func compatExec(t *testing.T, prog string) {
	loadForTest(t, nil, SeccompOptions{NoNetwork: true, IsolateIPC: true})
	args := []string{prog}
	for _, c := range compatCalls {
		args = append(args, c.call)
	}
	err := syscall.Exec(prog, args, os.Environ())
	t.Fatalf("exec: %v", err)
}

func TestBuildFiltersErrors(t *testing.T) {
	cases := []struct {
		name string
		p    specs.LinuxSeccomp
		want string
	}{
		{"listener", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/l.sock"}, "listenerPath"},
		{"unknown default", specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS"}, "SCMP_ACT_BOGUS"},
		{"notify", specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActNotify}}}, "SCMP_ACT_NOTIFY"},
		{"unknown rule action", specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: "SCMP_ACT_FOO"}}}, "SCMP_ACT_FOO"},
		{"arch", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_VAX"}}, "SCMP_ARCH_VAX"},
		{"flag", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"}}, "SECCOMP_FILTER_FLAG_BOGUS"},
		{"operator", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
			Names: []string{"getpid"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_ABOUT"}}}}}, "SCMP_CMP_ABOUT"},
		{"ok, unknown syscall skipped", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"sandlock_nonexistent", "getpid"}, Action: specs.ActAllow}}}, ""},
	}
	for _, c := range cases {
		fs, err := BuildFilters(&c.p, SeccompOptions{})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if (c.want == "") != (err == nil) || !strings.Contains(got, c.want) {
			t.Errorf("%s: got error %q, want one naming %q", c.name, got, c.want)
		}
		for _, f := range fs {
			f.Release()
		}
	}
}

func TestBuildFiltersOrder(t *testing.T) {
	fs, err := BuildFilters(nil, SeccompOptions{NoNetwork: true, IsolateIPC: true, NotifyUname: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("got %d filters without a profile, want 1", len(fs))
	}
	def, _ := fs[0].GetDefaultAction()
	bad, _ := fs[0].GetBadArchAction()
	if def != seccomp.ActAllow || bad != seccomp.ActKillProcess {
		t.Errorf("got default %v, bad arch %v; want allow, kill process", def, bad)
	}
	for _, a := range []seccomp.ScmpArch{seccomp.ArchX86, seccomp.ArchX32} {
		if ok, _ := fs[0].IsArchPresent(a); runtime.GOARCH == "amd64" && !ok {
			t.Errorf("arch %v missing from the filter", a)
		}
	}
	fs[0].Release()
}

// TestPersonalityCover checks that the masked patterns refuse exactly the values outside
// allowedPersonalities.
func TestPersonalityCover(t *testing.T) {
	denied := func(v uint32) bool {
		for _, p := range personalityPatterns() {
			if uint64(v)&p[0] == p[1] {
				return true
			}
		}
		return false
	}
	values := []uint32{0, 1, 8, 9, 0x20000, 0x20008, 0x20009, 0xffffffff, 0xfffffffe, 0x7fffffff, 0x40000, 0x0400000}
	for b := 0; b < 32; b++ {
		values = append(values, 1<<b, 1<<b-1, ^uint32(1<<b), 1<<b|8, 1<<b|0x20000)
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 100000; i++ {
		values = append(values, r.Uint32())
	}
	for _, v := range values {
		if got, want := denied(v), !allowedPersonalities[v]; got != want {
			t.Errorf("personality %#x: got denied=%v, want %v", v, got, want)
		}
	}
}
