package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// The seccomp and per-process policy fields (docs/policy.md), each with a case where the
// container may do the thing and one where it is refused. Every refused action is harmless
// should confinement fail: sockets are only created and closed, affinity only narrowed to CPU 0
// or widened back to the host's CPUs, limits only lowered or raised back.

// probeSource is a static test program run inside containers. Each argument is one check; it
// prints "check=ok" or "check=-errno" (for files: the number of fds it could open; for openfds:
// how many it has open).
const probeSource = `#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static long int80(long nr, long a, long b) {
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory");
	return ret;
}
int main(int argc, char **argv) {
	for (int i = 1; i < argc; i++) {
		int fam = 0, type = 0, proto = 0;
		long r;
		if (sscanf(argv[i], "sock:%i:%i:%i", &fam, &type, &proto) >= 2) {
			r = socket(fam, type, proto);
			r = r < 0 ? -errno : (close(r), 0);
		} else if (sscanf(argv[i], "i386sock:%i:%i", &fam, &type) == 2) {
			r = int80(359, fam, type); /* i386 socket(2), its own syscall since Linux 4.3 */
			r = r < 0 ? r : 0;
		} else if (sscanf(argv[i], "i386socketcall:%i:%i", &fam, &type) == 2) {
			static unsigned int args[3]; /* socketcall(SYS_SOCKET, {fam, type, 0}) */
			args[0] = fam; args[1] = type;
			r = int80(102, 1, (long)(unsigned long)args);
			r = r < 0 ? r : 0;
		} else if (strcmp(argv[i], "files") == 0) {
			for (r = 0; open("/dev/null", O_RDONLY) >= 0; r++)
				;
		} else if (strcmp(argv[i], "openfds") == 0) {
			DIR *d = opendir("/proc/self/fd");
			struct dirent *e;
			for (r = -1; d && (e = readdir(d)); ) /* -1: the directory's own fd */
				r += e->d_name[0] != '.';
			if (d)
				closedir(d);
		} else if (strcmp(argv[i], "stack") == 0) {
			int x;
			printf("stack=%p\n", (void *)&x);
			continue;
		} else {
			return 2;
		}
		printf("%s=%ld\n", argv[i], r);
	}
	return 0;
}
`

// buildProbe compiles probeSource statically (the rootfs has no libc) into the bundle's rootfs.
func buildProbe(t *testing.T, bundle string) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the probe uses the i386 entry point of x86_64")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		testreq.Missing(t, "needs gcc to build the probe (hack/install-deps.sh)")
	}
	src := filepath.Join(t.TempDir(), "probe.c")
	if err := os.WriteFile(src, []byte(probeSource), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(bundle, "rootfs/bin/probe")
	if b, err := exec.Command(gcc, "-static", "-O2", "-o", out, src).CombinedOutput(); err != nil {
		testreq.Missing(t, fmt.Sprintf("gcc -static (libc.a missing? hack/install-deps.sh): %v\n%s", err, b))
	}
}

// annotate returns a mutator that sets io.sandlock.<key> for each pair and, with net, drops the
// network namespace so that no_network does not hide the socket rules.
func annotate(net bool, kv ...string) func(*specs.Spec) {
	return func(s *specs.Spec) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Annotations["io.sandlock."+kv[i]] = kv[i+1]
		}
		if net && s.Linux != nil {
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
				return n.Type == specs.NetworkNamespace
			})
		}
	}
}

func withCap(name string) func(*specs.Spec) {
	return func(s *specs.Spec) {
		c := s.Process.Capabilities
		c.Bounding = append(c.Bounding, name)
		c.Effective = append(c.Effective, name)
		c.Permitted = append(c.Permitted, name)
	}
}

func both(fs ...func(*specs.Spec)) func(*specs.Spec) {
	return func(s *specs.Spec) {
		for _, f := range fs {
			f(s)
		}
	}
}

// runProbe runs the probe with checks in a container and returns its results.
func runProbe(t *testing.T, mutate func(*specs.Spec), checks ...string) map[string]string {
	t.Helper()
	checks = withoutI386(t, checks)
	b := newBundleWith(t, mutate, append([]string{"/bin/probe"}, checks...)...)
	buildProbe(t, b)
	id := newID()
	track(t, id)
	out, stderr, code := rt(t, "run", "--bundle", b, id)
	if code != 0 {
		t.Fatalf("probe exited %d: %s%s", code, out, stderr)
	}
	res := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			res[k] = v
		}
	}
	return res
}

func checkResults(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if isI386Check(k) && hostI386(t) != "" {
			continue // runProbe left it out and logged it
		}
		if got[k] != w {
			t.Errorf("%s: got %q, want %q", k, got[k], w)
		}
	}
}

const (
	eperm        = "-1"
	eafnosupport = "-97"
)

func TestPolicyNoRawSockets(t *testing.T) {
	raw := []string{"sock:2:3:1", "sock:10:3:58", "sock:17:3:0", "sock:2:10:0", "i386sock:2:3", "i386socketcall:2:1"}
	t.Run("default refuses", func(t *testing.T) {
		got := runProbe(t, both(annotate(true), withCap("CAP_NET_RAW")), raw...)
		checkResults(t, got, map[string]string{
			"sock:2:3:1": eperm, "sock:10:3:58": eperm, "sock:17:3:0": eperm, "sock:2:10:0": eperm,
			"i386sock:2:3": eperm, "i386socketcall:2:1": eperm,
		})
	})
	t.Run("false allows with CAP_NET_RAW", func(t *testing.T) {
		got := runProbe(t, both(annotate(true, "no_raw_sockets", "false"), withCap("CAP_NET_RAW")), raw...)
		checkResults(t, got, map[string]string{
			// i386 socket(AF_INET, SOCK_RAW, 0): past the filter, the kernel wants a protocol
			"sock:2:3:1": "0", "sock:10:3:58": "0", "sock:17:3:0": "0", "i386sock:2:3": "-93",
			// socketcall stays refused while anything restricts socket(): not here, so allowed
			"i386socketcall:2:1": "0",
		})
	})
	t.Run("false without CAP_NET_RAW", func(t *testing.T) {
		got := runProbe(t, annotate(true, "no_raw_sockets", "false"), "sock:2:3:1")
		checkResults(t, got, map[string]string{"sock:2:3:1": eperm}) // the kernel's own EPERM
	})
}

func TestPolicyNoUDP(t *testing.T) {
	checks := []string{"sock:2:2:0", "sock:10:2:17", "sock:2:0x80802:0", "sock:2:2:1", "sock:2:1:0",
		"sock:2:0:17", "i386sock:2:2", "i386socketcall:2:2", "i386sock:2:1"}
	t.Run("refused", func(t *testing.T) {
		got := runProbe(t, annotate(true, "no_udp", "true"), checks...)
		checkResults(t, got, map[string]string{
			"sock:2:2:0": eperm, "sock:10:2:17": eperm, "sock:2:0x80802:0": eperm, "sock:2:2:1": eperm,
			"sock:2:1:0": "0", "i386sock:2:2": eperm, "i386socketcall:2:2": eperm, "i386sock:2:1": "0",
		})
		if v := got["sock:2:0:17"]; v == "0" { // type 0 is no way to a UDP socket
			t.Errorf("socket(AF_INET, 0, IPPROTO_UDP) succeeded")
		}
	})
	t.Run("allowed by default", func(t *testing.T) {
		got := runProbe(t, annotate(true), "sock:2:2:0", "sock:10:2:17")
		checkResults(t, got, map[string]string{"sock:2:2:0": "0", "sock:10:2:17": "0"})
	})
	t.Run("no_network", func(t *testing.T) {
		got := runProbe(t, nil, "sock:2:2:0", "i386socketcall:1:1")
		checkResults(t, got, map[string]string{"sock:2:2:0": eafnosupport, "i386socketcall:1:1": eperm})
	})
}

func syscallList(names ...string) string {
	b, _ := json.Marshal(names)
	return string(b)
}

func TestPolicyDenySyscalls(t *testing.T) {
	// busybox pwd calls getcwd (the shell's builtin would answer from $PWD).
	t.Run("denied", func(t *testing.T) {
		out, stderr, code := runOut(t, annotate(false, "deny_syscalls", syscallList("getcwd", "getpgrp")), "/bin/busybox", "pwd")
		if code == 0 || !strings.Contains(stderr+out, "not permitted") {
			t.Errorf("pwd with getcwd denied: exit %d, %q %s; want EPERM", code, out, stderr)
		}
	})
	t.Run("others allowed", func(t *testing.T) {
		out, _, code := runOut(t, annotate(false, "deny_syscalls", syscallList("getpgrp")), "/bin/busybox", "pwd")
		if code != 0 || out != "/\n" {
			t.Errorf("pwd: exit %d, %q", code, out)
		}
	})
	t.Run("runtime syscall refused at create", func(t *testing.T) {
		_, stderr, code := runOut(t, annotate(false, "deny_syscalls", syscallList("execve")), "true")
		if code == 0 || !strings.Contains(stderr, "deny_syscalls") {
			t.Errorf("deny execve: exit %d, %s; want a create error naming deny_syscalls", code, stderr)
		}
	})
}

// busyboxEcho is what static busybox needs to start and echo (strace of `busybox echo hi`).
var busyboxEcho = []string{"arch_prctl", "brk", "getrandom", "getuid", "mprotect", "prctl", "prlimit64",
	"readlink", "rseq", "set_robust_list", "set_tid_address", "write", "exit_group"}

func TestPolicyAllowSyscalls(t *testing.T) {
	allow := annotate(false, "allow_syscalls", syscallList(busyboxEcho...))
	t.Run("listed work", func(t *testing.T) {
		out, stderr, code := runOut(t, allow, "/bin/busybox", "echo", "hi")
		if code != 0 || out != "hi\n" {
			t.Errorf("echo under the allowlist: exit %d, %q %s", code, out, stderr)
		}
	})
	t.Run("unlisted refused", func(t *testing.T) {
		out, stderr, code := runOut(t, allow, "/bin/busybox", "cat", "/etc/hostname") // openat not listed
		if code == 0 || !strings.Contains(stderr+out, "not permitted") {
			t.Errorf("cat under the allowlist: exit %d, %q %s; want EPERM", code, out, stderr)
		}
	})
}

func TestPolicyCPUCores(t *testing.T) {
	t.Run("pinned and not widened", func(t *testing.T) {
		out, _, code := runOut(t, annotate(false, "cpu_cores", "[0]"), "sh", "-c",
			"grep Cpus_allowed_list /proc/self/status; taskset -p 3 $$ >/dev/null 2>&1; echo widen=$?")
		if code != 0 || !strings.Contains(out, "Cpus_allowed_list:\t0\n") || !strings.Contains(out, "widen=1") {
			t.Errorf("cpu_cores [0]: exit %d, %q", code, out)
		}
	})
	t.Run("unset leaves affinity alone", func(t *testing.T) {
		// taskset -p names a pid, which isolate_pids (the pid namespace's stand-in) refuses:
		// drop the pid namespace to see affinity left alone.
		noPid := withoutNamespace(specs.PIDNamespace)
		out, _, code := runOut(t, noPid, "sh", "-c", "taskset -p 1 $$ >/dev/null; echo narrow=$?")
		if code != 0 || !strings.Contains(out, "narrow=0") {
			t.Errorf("taskset without cpu_cores: exit %d, %q", code, out)
		}
	})
	t.Run("missing CPU refused", func(t *testing.T) {
		_, stderr, code := runOut(t, annotate(false, "cpu_cores", "[0, 1000]"), "true")
		if code == 0 || !strings.Contains(stderr, "cpu_cores") {
			t.Errorf("cpu_cores with CPU 1000: exit %d, %s", code, stderr)
		}
	})
}

func TestPolicyNoRandomizeMemory(t *testing.T) {
	stack := func(mutate func(*specs.Spec)) string {
		got := runProbe(t, mutate, "stack")
		return got["stack"]
	}
	on := annotate(false, "no_randomize_memory", "true")
	if a, b := stack(on), stack(on); a == "" || a != b {
		t.Errorf("no_randomize_memory: stack at %q then %q, want the same", a, b)
	}
	// The default follows the host: randomize_va_space 0 means no ASLR for anyone.
	aslr, err := os.ReadFile("/proc/sys/kernel/randomize_va_space")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := stack(nil), stack(nil); strings.TrimSpace(string(aslr)) == "0" {
		t.Logf("the host has ASLR off (randomize_va_space 0): the default cannot randomize (stack %q, %q)", a, b)
	} else if a == b {
		t.Errorf("default: stack at %q twice, want ASLR (randomize_va_space %s)", a, strings.TrimSpace(string(aslr)))
	}
	out, _, _ := runOut(t, on, "cat", "/proc/self/personality")
	if out != "00040000\n" {
		t.Errorf("personality: %q, want 00040000", out)
	}
	out, _, _ = runOut(t, nil, "cat", "/proc/self/personality")
	if out != "00000000\n" {
		t.Errorf("default personality: %q, want 00000000", out)
	}
}

func TestPolicyNoHugePages(t *testing.T) {
	// Without the policy the container inherits the runtime's setting, which is ours.
	own, err := exec.Command("grep", "THP_enabled", "/proc/self/status").Output()
	if err != nil {
		t.Fatalf("THP_enabled of this process: %v", err)
	}
	for _, c := range []struct {
		mutate func(*specs.Spec)
		want   string
	}{{annotate(false, "no_huge_pages", "true"), "THP_enabled:\t0\n"}, {nil, string(own)}} {
		out, _, code := runOut(t, c.mutate, "grep", "THP_enabled", "/proc/self/status")
		if code != 0 || out != c.want {
			t.Errorf("THP_enabled: exit %d, %q, want %q", code, out, c.want)
		}
	}
}

func TestPolicyNoCoredump(t *testing.T) {
	out, _, code := runOut(t, annotate(false, "no_coredump", "true"), "sh", "-c",
		"ulimit -c; ulimit -H -c; ulimit -c 1 2>/dev/null; echo raise=$?")
	if code != 0 || out != "0\n0\nraise=1\n" {
		t.Errorf("no_coredump: exit %d, %q", code, out)
	}
	out, _, code = runOut(t, nil, "sh", "-c", "ulimit -c 0; echo lower=$?")
	if code != 0 || out != "lower=0\n" {
		t.Errorf("default: exit %d, %q", code, out)
	}
}

func TestPolicyMaxOpenFiles(t *testing.T) {
	out, _, code := runOut(t, annotate(false, "max_open_files", "40"), "sh", "-c",
		"ulimit -n; ulimit -H -n; ulimit -n 41 2>/dev/null; echo raise=$?")
	if code != 0 || out != "40\n40\nraise=1\n" {
		t.Errorf("max_open_files 40: exit %d, %q", code, out)
	}
	// Exactly 40 minus what the probe has open (0-2 when the runtime passes nothing else) fit.
	got := runProbe(t, annotate(false, "max_open_files", "40"), "openfds", "files")
	open, err := strconv.Atoi(got["openfds"])
	if err != nil || open < 3 {
		t.Fatalf("openfds: %q, want a count of at least 3 (stdio)", got["openfds"])
	}
	checkResults(t, got, map[string]string{"files": strconv.Itoa(40 - open)})
	// The policy wins over process.rlimits (the template has RLIMIT_NOFILE 1024).
	out, _, _ = runOut(t, nil, "sh", "-c", "ulimit -n")
	if out != "1024\n" {
		t.Errorf("process.rlimits alone: ulimit -n %q, want 1024", out)
	}
}

// privileged: init is cloned into a user namespace where the caller's uid is 0 (the only
// namespace the runtime creates); seccomp still refuses creating more.
func TestPolicyPrivileged(t *testing.T) {
	hostNS, err := os.Readlink("/proc/self/ns/user")
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runOut(t, annotate(false, "privileged", "true"), "sh", "-c",
		"readlink /proc/self/ns/user; id -u; unshare -U true 2>/dev/null; echo unshare=$?")
	lines := strings.Fields(out)
	if code != 0 || len(lines) != 3 || lines[0] == hostNS || lines[1] != "0" || lines[2] != "unshare=1" {
		t.Errorf("privileged: exit %d, %q (%s); want a user namespace other than %s, uid 0, unshare refused", code, out, stderr, hostNS)
	}
	out, _, _ = runOut(t, nil, "readlink", "/proc/self/ns/user")
	if strings.TrimSpace(out) != hostNS {
		t.Errorf("without privileged: user namespace %q, want the host's %s", out, hostNS)
	}
	asUser := func(s *specs.Spec) {
		annotate(false, "privileged", "true")(s)
		s.Process.User = specs.User{UID: 1000, GID: 1000}
	}
	if _, stderr, code := runOut(t, asUser, "true"); code == 0 || !strings.Contains(stderr, "privileged: the process runs as uid 0") {
		t.Errorf("privileged with process.user 1000: exit %d, %s; want a refusal", code, stderr)
	}
}
