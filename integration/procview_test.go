package integration

// The supervisor's /proc and identity views (docs/design.md, "/proc and identity views"):
// isolate_pids in the direct mode, num_cpus, /proc/meminfo under a memory limit, and
// /etc/hostname in the direct mode, through the sandbox command and a container.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandlock/sandlock-runtime/internal/children"
	"github.com/sandlock/sandlock-runtime/internal/testreq"
	"golang.org/x/sys/unix"
)

// procVictim starts a host process this test owns, with mark in its environment.
func procVictim(t *testing.T) (pid int, mark string) {
	t.Helper()
	mark = fmt.Sprintf("SANDLOCK_VICTIM_MARK_%d", os.Getpid())
	victim := exec.Command("sleep", "300")
	victim.Env = append(os.Environ(), mark+"=1")
	if err := children.Start(victim); err != nil {
		t.Fatal(err)
	}
	pid = victim.Process.Pid
	t.Cleanup(func() {
		_ = victim.Process.Kill()
		_ = victim.Wait()
		children.Disown(pid)
	})
	return pid, mark
}

// procpidNames are the attempts of testdata/escape/procpid.c.
var procpidNames = []string{
	"open_environ", "openat_cmdline", "openat2_status", "open_path_dir", "open_dir", "open_task_environ",
	"open_via_self_root", "open_self_dotdot", "open_thread_self_dotdot", "open_dot_dotdot",
	"open_dev_fd_dotdot", "openat_dirfd_proc", "openat2_dirfd_beneath", "openat2_dirfd_in_root",
	"openat_dirfd_self_dotdot", "open_via_own_fd", "openat_dirfd_self_up", "open_cwd_proc",
	"stat_dir", "lstat_dir", "fstatat_dir", "statx_dir", "stat_self_dotdot", "stat_dir_up", "open_dir_up", "stat_link_up", "readlink_exe",
	"readlinkat_cwd", "chdir_dir", "access_dir", "faccessat_dir", "statfs_dir", "list_proc",
	"kill0", "pidfd_open", "getpgid", "getsid", "sched_getaffinity", "getpriority", "tgkill0", "get_robust_list", "capget", "capget_own",
	"own_status", "own_environ", "own_readlink_self", "race_open", "race_dir", "race_opath", "race_stat", "race_access",
}

// TestDirectIsolatePIDs: in the direct mode with isolate_pids, a host process's /proc entry
// cannot be opened, stat'ed, read as a link, entered or listed by any spelling, nor targeted
// by pid; a thread flipping the path between the process's own status and the host process's
// environ never gets the latter; /proc/self is the process's own, never the supervisor's
// (sandlock #246). Without isolate_pids the same program reaches the host process (the test
// would not notice a broken feature otherwise).
func TestDirectIsolatePIDs(t *testing.T) {
	bins := escapeBins(t)
	prog := filepath.Join(bins, "procpid")
	victim, mark := procVictim(t)
	args := []string{prog, strconv.Itoa(victim), mark, "3"}
	// stat_link_up's symlink, PROG-up-PID: through the host process's entry, out of /proc
	up := prog + "-up-" + strconv.Itoa(victim)
	if err := os.Symlink("/proc/"+strconv.Itoa(victim)+"/../../usr", up); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(up) })
	withOwn := func(c *exec.Cmd) { c.Env = append(os.Environ(), "PROCPID_OWN=1") }
	for _, c := range []struct {
		name  string
		rules []string
	}{
		{"default rules", nil},
		{"allowlist with /proc", []string{"-r", "/usr", "-r", "/lib", "-r", "/lib64", "-r", "/bin", "-r", "/proc", "-r", "/dev", "-r", bins}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rtWith(t, withOwn, sandboxArgs(append(append([]string{}, c.rules...), "--isolate-pids"), args...)...)
			got := escapeVerdicts(t, r.stdout, 1)
			requireOK(t, got, procpidNames...)
			if t.Failed() {
				t.Logf("procpid output:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
		})
	}
	t.Run("host mode container", func(t *testing.T) {
		id := newID()
		mutate := func(s *specs.Spec) {
			s.Root = &specs.Root{Path: "/"}
			s.Mounts = nil
			s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
			s.Process.Env = append(s.Process.Env, "PROCPID_OWN=1")
			annotate(false, "isolate_pids", "true")(s)
		}
		b := newBundleWith(t, mutate, args...)
		track(t, id)
		out, stderr, _ := rt(t, "run", "--bundle", b, id)
		got := escapeVerdicts(t, out, 1)
		requireOK(t, got, procpidNames...)
		if t.Failed() {
			t.Logf("procpid output:\n%s\nstderr:\n%s", out, stderr)
		}
	})
	t.Run("without isolate_pids", func(t *testing.T) {
		r := rtWith(t, withOwn, sandboxArgs(nil, args[:3]...)...)
		for _, name := range []string{"openat_cmdline", "stat_dir", "list_proc", "kill0"} {
			if !strings.Contains(r.stdout, "\n"+name+" ESCAPED") {
				t.Errorf("%s: reached the host process without isolate_pids was expected (the control), got:\n%s", name, r.stdout)
			}
		}
	})
}

// TestDirectIsolatePIDsShell: `ls /proc` in the sandbox shows its own processes and not a
// host process's; the shell cannot read that process's cmdline nor stat its directory; kill
// -0 of it fails. With the host process's pid unknown to the sandbox but for the argument.
func TestDirectIsolatePIDsShell(t *testing.T) {
	requireSetup(t)
	victim, _ := procVictim(t)
	v := strconv.Itoa(victim)
	script := `ls /proc | grep -x '[0-9]*' | tr '\n' ' '; echo; ` +
		`cat /proc/` + v + `/cmdline && echo read-cmdline; ` +
		`stat /proc/` + v + ` >/dev/null 2>&1 && echo stat-ok; ` +
		`cat /proc/` + v + `/environ 2>/dev/null && echo read-environ; ` +
		`kill -0 ` + v + ` 2>/dev/null && echo kill-ok; ` +
		`grep -c '^Pid:' /proc/self/status`
	r := rtWith(t, nil, sandboxArgs([]string{"--isolate-pids"}, "sh", "-c", script)...)
	lines := strings.Split(r.stdout, "\n")
	if r.code != 0 || len(lines) < 2 {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	pids := strings.Fields(lines[0])
	if len(pids) == 0 {
		t.Errorf("ls /proc listed no process at all: %q", lines[0])
	}
	for _, p := range pids {
		if p == v {
			t.Errorf("ls /proc listed the host process %s: %q", v, lines[0])
		}
		if n, _ := strconv.Atoi(p); n == os.Getpid() || n == 1 {
			t.Errorf("ls /proc listed a host process (%d): %q", n, lines[0])
		}
	}
	for _, bad := range []string{"read-cmdline", "stat-ok", "read-environ", "kill-ok"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("%s: the host process was reached: %q", bad, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "\n1\n") {
		t.Errorf("/proc/self/status unreadable: %q (stderr %q)", r.stdout, r.stderr)
	}
	// the control: without isolate_pids the host process is listed
	r = rtWith(t, nil, sandboxArgs(nil, "sh", "-c", "ls /proc")...)
	if !strings.Contains(" "+strings.ReplaceAll(r.stdout, "\n", " ")+" ", " "+v+" ") {
		t.Errorf("control: ls /proc without isolate_pids does not list %s", v)
	}
}

// cpuScript prints, one per line: nproc, /proc/cpuinfo's processor count, /sys's online list,
// python3's os.cpu_count() and len(os.sched_getaffinity(0)), getconf's online and configured
// counts, /proc/stat's cpu lines, the cpuN entries of /sys/devices/system/cpu (musl counts those).
const cpuScript = `nproc; grep -c '^processor' /proc/cpuinfo; cat /sys/devices/system/cpu/online; ` +
	`python3 -c 'import os; print(os.cpu_count()); print(len(os.sched_getaffinity(0)))'; ` +
	`getconf _NPROCESSORS_ONLN; getconf _NPROCESSORS_CONF; grep -c '^cpu[0-9]' /proc/stat; ` +
	`ls /sys/devices/system/cpu | grep -c '^cpu[0-9]'`

func cpuWant(n int) string {
	list := "0"
	if n > 1 {
		list = fmt.Sprintf("0-%d", n-1)
	}
	return fmt.Sprintf("%d\n%d\n%s\n%d\n%d\n%d\n%d\n%d\n%d\n", n, n, list, n, n, n, n, n, n)
}

// TestNumCPUs: with num_cpus N, every way a program counts CPUs agrees on N, fewer or more
// than the host has; without it, the host's count.
func TestNumCPUs(t *testing.T) {
	requireSetup(t)
	if _, err := exec.LookPath("python3"); err != nil {
		testreq.Missing(t, "needs python3 on the host (the direct mode runs host commands; hack/install-deps.sh)")
	}
	host := hostCPUCount(t)
	for _, n := range []int{1, 2, host + 1} {
		t.Run(fmt.Sprintf("direct %d", n), func(t *testing.T) {
			r := rtWith(t, nil, sandboxArgs([]string{"--num-cpus", strconv.Itoa(n)}, "sh", "-c", cpuScript)...)
			if r.code != 0 || r.stdout != cpuWant(n) {
				t.Errorf("num_cpus %d: exit %d stdout %q (stderr %q), want %q", n, r.code, r.stdout, r.stderr, cpuWant(n))
			}
		})
	}
	t.Run("direct 1 pinned", func(t *testing.T) {
		r := rtWith(t, nil, sandboxArgs([]string{"--num-cpus", "1"}, "sh", "-c", "grep Cpus_allowed_list /proc/self/status")...)
		if f := strings.Fields(r.stdout); len(f) != 2 || strings.ContainsAny(f[1], ",-") {
			t.Errorf("num_cpus 1 on a %d-CPU host: %q, want one CPU allowed", host, r.stdout)
		}
	})
	t.Run("direct 1 cannot widen", func(t *testing.T) {
		// The pin is refused from inside, as cpu_cores' is: sched_setaffinity is EPERM.
		script := "import os\ntry:\n os.sched_setaffinity(0, range(64))\n print('widened')\nexcept PermissionError:\n print('refused')"
		r := rtWith(t, nil, sandboxArgs([]string{"--num-cpus", "1"}, "python3", "-c", script)...)
		if r.stdout != "refused\n" {
			t.Errorf("num_cpus 1: sched_setaffinity from inside: %q (stderr %q), want refused", r.stdout, r.stderr)
		}
	})
	t.Run("direct unset", func(t *testing.T) {
		r := rtWith(t, nil, sandboxArgs(nil, "sh", "-c", "nproc; grep -c '^processor' /proc/cpuinfo")...)
		if want := fmt.Sprintf("%d\n%d\n", host, host); r.stdout != want {
			t.Errorf("without num_cpus: %q, want the host's %q", r.stdout, want)
		}
	})
	t.Run("direct with isolate_pids", func(t *testing.T) {
		r := rtWith(t, nil, sandboxArgs([]string{"--num-cpus", "1", "--isolate-pids"}, "sh", "-c", cpuScript)...)
		if r.stdout != cpuWant(1) {
			t.Errorf("num_cpus 1 with isolate_pids: %q (stderr %q), want %q", r.stdout, r.stderr, cpuWant(1))
		}
	})
	for _, n := range []int{1, host + 1} {
		t.Run(fmt.Sprintf("container %d", n), func(t *testing.T) {
			// busybox ls stats every entry: the cpuN made up beyond the host's have no inode,
			// so the listing is counted only where num_cpus hides some
			script := "nproc; grep -c '^processor' /proc/cpuinfo; cat /sys/devices/system/cpu/online"
			if n < host {
				script += "; ls /sys/devices/system/cpu | grep -c '^cpu[0-9]'"
			}
			r := runContainer(t, annotate(false, "num_cpus", strconv.Itoa(n)), "sh", "-c", script)
			list := "0"
			if n > 1 {
				list = fmt.Sprintf("0-%d", n-1)
			}
			want := fmt.Sprintf("%d\n%d\n%s\n", n, n, list)
			if n < host {
				want += fmt.Sprintf("%d\n", n)
			}
			if r.code != 0 || r.stdout != want {
				t.Errorf("container num_cpus %d: exit %d stdout %q (stderr %q), want %q", n, r.code, r.stdout, r.stderr, want)
			}
		})
	}
}

func hostCPUCount(t *testing.T) int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	return set.Count()
}

// TestMeminfoLimit: under a memory limit /proc/meminfo's MemTotal is the limit and MemFree,
// MemAvailable the limit less the container's usage; an update of the limit is followed;
// without a limit, the host's total.
func TestMeminfoLimit(t *testing.T) {
	requireSetup(t)
	const script = `awk '/^MemTotal:|^MemFree:|^MemAvailable:/ {print $2}' /proc/meminfo`
	check := func(t *testing.T, r result, limitKB int) {
		t.Helper()
		f := strings.Fields(r.stdout)
		if r.code != 0 || len(f) != 3 {
			t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		total, _ := strconv.Atoi(f[0])
		free, _ := strconv.Atoi(f[1])
		avail, _ := strconv.Atoi(f[2])
		// the container's own usage (a shell, awk) is never 0: free is strictly below the limit
		if total != limitKB || free <= 0 || free >= limitKB || avail != free {
			t.Errorf("MemTotal %d MemFree %d MemAvailable %d, want MemTotal %d and 0 < free = available < it", total, free, avail, limitKB)
		}
	}
	t.Run("direct", func(t *testing.T) {
		check(t, rtWith(t, nil, sandboxArgs([]string{"-m", "64M"}, "sh", "-c", script)...), 64<<10)
	})
	t.Run("container", func(t *testing.T) {
		check(t, runContainer(t, annotate(false, "max_memory", "48M"), "sh", "-c", script), 48<<10)
	})
	t.Run("page cache", func(t *testing.T) {
		// free(1)'s buff/cache (Buffers + Cached + SReclaimable) is the host's cache, not the
		// sandbox's: it must not exceed the sandbox's total.
		r := rtWith(t, nil, sandboxArgs([]string{"-m", "64M"}, "sh", "-c",
			`awk '/^MemTotal:/ {t=$2} /^Buffers:|^Cached:|^SReclaimable:/ {c+=$2} END {print t, c}' /proc/meminfo`)...)
		f := strings.Fields(r.stdout)
		if r.code != 0 || len(f) != 2 {
			t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		total, _ := strconv.Atoi(f[0])
		cache, _ := strconv.Atoi(f[1])
		if cache > total {
			t.Errorf("Buffers + Cached + SReclaimable = %d kB above MemTotal %d kB", cache, total)
		}
	})
	t.Run("container update", func(t *testing.T) {
		id, _, _ := runningV1(t, annotate(false, "max_memory", "48M"), "sleep", "300")
		if _, stderr, code := rt(t, "update", "--memory", "96m", "--memory-swap", "96m", id); code != 0 {
			t.Fatalf("update: %s", stderr)
		}
		out, stderr, code := rt(t, "exec", id, "sh", "-c", script)
		check(t, result{stdout: out, stderr: stderr, code: code}, 96<<10)
	})
	t.Run("no limit", func(t *testing.T) {
		r := rtWith(t, nil, sandboxArgs(nil, "sh", "-c", script)...)
		f := strings.Fields(r.stdout)
		var si unix.Sysinfo_t
		_ = unix.Sysinfo(&si)
		hostKB := int(uint64(si.Totalram) * uint64(si.Unit) >> 10)
		if len(f) != 3 || f[0] != strconv.Itoa(hostKB) {
			t.Errorf("without a limit MemTotal %v, want the host's %d", f, hostKB)
		}
	})
}

// TestDirectEtcHostname: in the direct mode --hostname is what /etc/hostname reads as (and
// uname, /proc/sys/kernel/hostname); without it, the host's file.
func TestDirectEtcHostname(t *testing.T) {
	requireSetup(t)
	host, err := os.ReadFile("/etc/hostname")
	if err != nil {
		t.Skip("the host has no /etc/hostname")
	}
	r := rtWith(t, nil, sandboxArgs([]string{"--hostname", "box"}, "sh", "-c", "cat /etc/hostname; hostname; cat /proc/sys/kernel/hostname")...)
	if r.code != 0 || r.stdout != "box\nbox\nbox\n" {
		t.Errorf("got exit %d %q (stderr %q), want box three times", r.code, r.stdout, r.stderr)
	}
	r = rtWith(t, nil, sandboxArgs(nil, "cat", "/etc/hostname")...)
	if r.stdout != string(host) {
		t.Errorf("without --hostname: %q, want the host's %q", r.stdout, host)
	}
}

// TestDirectIsolatePIDsKeepsRules: isolate_pids changes nothing the other fields decide: a
// link outside fs_readable still cannot be read (readlink is the metadata feature's there),
// a file outside it cannot be opened, and /proc is read only as far as fs_readable has it.
func TestDirectIsolatePIDsKeepsRules(t *testing.T) {
	requireSetup(t)
	dir := t.TempDir()
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "readlink " + dir + "/l || echo readlink-refused; cat " + dir + "/f 2>/dev/null || echo open-refused; " +
		"cat /proc/self/status >/dev/null 2>&1 && echo proc-read || echo proc-refused"
	noProc := []string{"-r", "/usr", "-r", "/lib", "-r", "/lib64", "-r", "/bin", "-r", "/etc", "-r", "/dev"}
	for _, c := range []struct {
		name  string
		rules []string
		want  string
	}{
		{"with /proc", sandboxRead, "readlink-refused\nopen-refused\nproc-read\n"},
		{"without /proc", noProc, "readlink-refused\nopen-refused\nproc-refused\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rtWith(t, nil, sandboxArgs(append(append([]string{}, c.rules...), "--isolate-pids"), "sh", "-c", script)...)
			if r.stdout != c.want {
				t.Errorf("got %q (stderr %q), want %q", r.stdout, r.stderr, c.want)
			}
		})
	}
}
