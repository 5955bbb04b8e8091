package integration

// The devices, /proc and /sys escape probes (testdata/escape/devproc.c): the host's device
// nodes by path and made with mknod (memory, kmsg, ports, the disk under the program), the
// host's console, runc's masked paths (kcore, keys, timer_list, /sys/firmware, /proc/acpi),
// /proc/sys, /proc/sysrq-trigger and /sys opened for writing, and inotify on an fs_denied
// directory. Unconfined as root every one of them works (the program reports ESCAPED).

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// devprocNames are the attempts every run must report ok; the masked-path ones only where
// /proc and /sys are the container's (devprocMaskNames).
var devprocNames = []string{
	"dev_mem", "dev_kmem", "dev_port", "dev_kmsg", "mknod_mem_open", "mknod_kmsg_open",
	"mknod_port_open", "mknod_disk_open", "dev_console_host", "proc_sysrq_trigger_w",
	"proc_sys_core_pattern_w", "proc_sys_via_self_root_w", "proc_sys_via_thread_self_w",
	"proc_irq_w", "proc_bus_w", "proc_fs_w", "sys_uevent_helper_w", "sys_thp_w",
	"sys_module_param_w", "sys_cgroup_w",
}

var inotifyNames = []string{"inotify_denied", "i386:inotify_denied", "inotify_denied_dot", "inotify_denied_opath",
	"inotify_denied_symlink", "inotify_allowed"}

var devprocMaskNames = []string{
	"proc_kcore", "proc_timer_list", "proc_keys", "proc_latency_stats", "proc_sched_debug",
	"sys_firmware", "proc_acpi", "proc_scsi",
}

// TestEscapeDevProc: a container (runc's default masked and read-only paths) with the default
// capabilities, with CAP_SYS_ADMIN and with every capability the test holds.
func TestEscapeDevProc(t *testing.T) {
	escapeBins(t)
	for _, c := range []struct {
		name string
		caps func(*specs.Spec)
	}{{"default caps", nil}, {"CAP_SYS_ADMIN", withCapAdded("CAP_SYS_ADMIN")}, {"all caps", withAllCaps}} {
		t.Run(c.name, func(t *testing.T) {
			id := newID()
			mutate := chain(c.caps, annotated(map[string]string{"io.sandlock.fs_denied": `["/secret"]`}),
				withEnv([]string{"ESC_DENIED=/secret"}))
			install := func(rootfs string) {
				if err := os.MkdirAll(filepath.Join(rootfs, "secret"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			out := escapeRun(t, id, mutate, install, "/escape/devproc")
			got := escapeVerdicts(t, out, 1)
			requireOK(t, got, devprocNames...)
			requireOK(t, got, devprocMaskNames...)
			requireOK(t, got, inotifyNames...)
			if t.Failed() {
				t.Logf("devproc output:\n%s", out)
			}
		})
	}
}

// TestSandboxDevProc: the direct mode as root (uid 0, no capabilities) under its default rules
// (the whole root readable) with an fs_denied directory, and under an allowlist with a host
// directory outside it; /proc and /sys are the host's by design, so the masks are not judged,
// the writes, the devices and the inotify watches are.
func TestSandboxDevProc(t *testing.T) {
	bins := escapeBins(t)
	for _, c := range []struct {
		name   string
		rules  []string
		denied bool // the watched directory is fs_denied, not merely outside the rules
	}{
		{"default root with fs_denied", []string{"-r", "/"}, true},
		{"allowlist, a directory outside it", []string{"-r", "/usr", "-r", "/lib", "-r", "/lib64", "-r", "/bin", "-r", bins}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			scratch, denied := t.TempDir(), t.TempDir()
			flags := append(append([]string{}, c.rules...), "-w", scratch)
			if c.denied {
				flags = append(flags, "--fs-denied", denied)
			}
			r := rtWith(t, devprocEnv(scratch, denied), sandboxArgs(flags, filepath.Join(bins, "devproc"))...)
			got := escapeVerdicts(t, r.stdout, 1)
			requireOK(t, got, devprocNames...)
			requireOK(t, got, inotifyNames...)
			if t.Failed() {
				t.Logf("devproc output:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
		})
	}
}

func devprocEnv(scratch, denied string) func(*exec.Cmd) {
	return func(c *exec.Cmd) {
		c.Env = append(os.Environ(), "ESC_SCRATCH="+scratch, "ESC_DENIED="+denied, "ESC_HOSTPROC=1")
	}
}
