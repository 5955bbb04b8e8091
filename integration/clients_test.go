package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/children"
	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// Smoke tests through real clients, set up as on this project's machines (no systemd, cgroup v1
// hybrid, no network). containerd (ctr and the CRI plugin) is driven in containerd_test.go and
// cri_test.go, podman in podman_test.go; the helpers here serve them.

// requireTools skips when a client binary is missing.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	requireSetup(t)
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testreq.Missing(t, tool+" is not installed (make deps installs it)")
		}
	}
}

type cmdResult struct {
	stdout, stderr string
	code           int
}

// runTool runs a client command (bounded), logging it.
func runTool(t *testing.T, name string, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = time.Second // a daemon it starts may hold the pipes
	if err := children.Start(cmd); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer children.Disown(cmd.Process.Pid)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	code := 0
	select {
	case <-done:
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		code = exitStatus(unix.WaitStatus(ws))
	case <-time.After(2 * cmdTimeout):
		_ = cmd.Process.Kill()
		<-done
		t.Errorf("%s %s: no exit within %v (killed)", name, strings.Join(args, " "), 2*cmdTimeout)
		code = -1
	}
	r := cmdResult{stdout: out.String(), stderr: errb.String(), code: code}
	t.Logf("$ %s %s -> %d %s", name, strings.Join(args, " "), code, strings.TrimSpace(r.stderr))
	return r
}

// cgSnap lists the cgroup dirs named name in every hierarchy (containerd makes "default",
// podman "libpod_parent"); cgClean removes (depth first) those not in the snapshot.
func cgSnap(name string) []string {
	var dirs []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, r := range roots {
		for _, d := range []string{r + "/" + name, r + "/*/" + name, r + "/*/*/" + name} {
			m, _ := filepath.Glob(d)
			dirs = append(dirs, m...)
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

func cgClean(t *testing.T, name string, before []string) {
	for _, d := range cgSnap(name) {
		if slices.Contains(before, d) {
			continue
		}
		var all []string
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		slices.Reverse(all)
		for _, p := range all {
			if err := os.Remove(p); err != nil {
				t.Logf("cgroup %s not removed: %v", p, err)
			}
		}
	}
}

// existing returns which of paths exist now (to remove afterwards only what a test made).
func existing(paths ...string) map[string]bool {
	m := map[string]bool{}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			m[p] = true
		}
	}
	return m
}

// unmountUnder lazily unmounts everything under dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	left := mountsUnder(dir)
	slices.Reverse(left)
	for _, m := range left {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			t.Logf("umount %s: %v", m, err)
		}
	}
}
