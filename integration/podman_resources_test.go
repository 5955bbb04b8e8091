package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// podman's resource flags reach the container's controllers, podman update changes them,
// podman stats reads them, and an OOM kill is seen as one (exit 137, OOMKilled).
func init() { podmanCases = append(podmanCases, podmanResourceCases...) }

var podmanResourceCases = []struct {
	name string
	fn   func(t *testing.T, pm *podmanEnv)
}{
	{"resources", func(t *testing.T, pm *podmanEnv) {
		c := pm.runDetached(t, "res1", "--memory", "64m", "--memory-swap", "64m", "--pids-limit", "50", "--cpus", "0.5", pm.image, "sleep", "100")
		defer pm.podman(t, "rm", "-f", "-t", "0", "res1")
		pid := pmInitPid(t, pm, "res1")
		for _, w := range []struct{ ctrl, file, want string }{
			{"memory", "memory.limit_in_bytes", strconv.Itoa(64 << 20)},
			{"pids", "pids.max", "50"},
			{"cpu", "cpu.cfs_quota_us", "50000"},
		} {
			if got := readCgroupFile(t, controllerDir(t, pid, w.ctrl), w.file); got != w.want {
				t.Errorf("podman run --memory 64m --pids-limit 50 --cpus 0.5: %s = %s, want %s", w.file, got, w.want)
			}
		}
		r := pm.podman(t, "stats", "--no-stream", "--format", "{{.MemUsage}}|{{.PIDs}}", "res1")
		if r.code != 0 || !strings.Contains(r.stdout, "/ 67.11MB") || strings.HasPrefix(r.stdout, "0B") {
			t.Errorf("podman stats: exit %d, %q; want the usage over the 64m (67.11MB) limit: %s", r.code, r.stdout, r.stderr)
		}
		if r := pm.podman(t, "update", "--memory", "128m", "--memory-swap", "128m", "res1"); r.code != 0 {
			t.Errorf("podman update: exit %d: %s", r.code, r.stderr)
		}
		if got := readCgroupFile(t, controllerDir(t, pid, "memory"), "memory.limit_in_bytes"); got != strconv.Itoa(128<<20) {
			t.Errorf("after podman update --memory 128m: memory.limit_in_bytes = %s", got)
		}
		_ = c
	}},
	{"oom", func(t *testing.T, pm *podmanEnv) {
		// conmon (2.1.6) writes its OOM mark into its working directory, which podman 4.3 does
		// not set to the bundle (where it looks for it): OOMKilled stays false with runc too. The
		// mark itself is what shows conmon saw the OOM through the container's memory cgroup.
		cwd := t.TempDir()
		t.Chdir(cwd)
		// dd is the one killed; the shell outlives it by a second so that conmon reads its OOM
		// event before it sees the container exit (conmon drops an event that arrives after
		// the exit: a race of its own, seen under load with runc too).
		r, id := pm.runCID(t, "--name", "oom1", "--memory", "32m", "--memory-swap", "32m", pm.image,
			"sh", "-c", "dd if=/dev/zero of=/dev/null bs=100M count=1; s=$?; sleep 1; exit $s")
		defer pm.checkGone(t, id, nil)
		defer pm.podman(t, "rm", "-f", "-t", "0", "oom1")
		if r.code != 137 {
			t.Errorf("podman run allocating past --memory 32m: exit %d, want 137: %s", r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(cwd, "oom")); err != nil {
			t.Errorf("conmon did not see the OOM kill (no oom mark): %v", err)
		}
	}},
}

// pmInitPid is the container's init pid as podman reports it.
func pmInitPid(t *testing.T, pm *podmanEnv, name string) int {
	t.Helper()
	r := pm.podman(t, "inspect", "--format", "{{.State.Pid}}", name)
	pid, err := strconv.Atoi(strings.TrimSpace(r.stdout))
	if err != nil || pid <= 0 {
		t.Fatalf("podman inspect %s: pid %q: %s", name, r.stdout, r.stderr)
	}
	return pid
}
