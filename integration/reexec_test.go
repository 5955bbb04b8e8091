package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandlock/sandlock-runtime/internal/children"
)

// A Go program that uses package sandbox without calling sandbox.Reexec() first in main must
// get an immediate error, not a fork bomb: every re-executed "init" would run main again.
// The program runs in a pids cgroup (at most 64 tasks) so that a regression cannot take the
// host down; whatever is left in it is killed by pid and the cgroup removed.
func TestMissingReexecIsAnError(t *testing.T) {
	requireSetup(t)
	prog := filepath.Join(t.TempDir(), "noreexec")
	build := exec.Command("go", "build", "-o", prog, "./integration/testdata/noreexec")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build testdata/noreexec: %v: %s", err, out)
	}
	cg := pidsCgroup(t, 64)
	// A regression's state dirs go with the test's temporary directory.
	t.Setenv("NOREEXEC_STATE", filepath.Join(t.TempDir(), "state"))
	t.Run("Run returns an error", func(t *testing.T) {
		out, code := inCgroup(t, cg, exec.Command(prog))
		if code != 3 || !strings.Contains(out, "sandbox.Reexec() was not called first in main") {
			t.Errorf("got exit %d, output %q; want 3 and the Reexec error", code, out)
		}
	})
	t.Run("a re-executed child exits at once", func(t *testing.T) {
		// As the runtime starts init: argv[0] sandlock-runtime, the hidden command.
		cmd := exec.Command(prog, "init", "--fd-init=-1")
		cmd.Args[0] = "sandlock-runtime"
		out, code := inCgroup(t, cg, cmd)
		if code != 125 || !strings.Contains(out, "sandbox.Reexec() was not called first in main") {
			t.Errorf("got exit %d, output %q; want 125 and the Reexec error", code, out)
		}
	})
	if left, err := procsInCgroup(cg); err != nil || len(left) != 0 {
		t.Errorf("processes left in the pids cgroup: %v (%v)", left, err)
	}
}

// pidsCgroup makes a cgroup v1 pids directory limited to max tasks (this host is cgroup v1
// hybrid: the unified hierarchy has no controllers), removed at the end of the test after
// killing, by pid, whatever the test started in it.
func pidsCgroup(t *testing.T, max int) string {
	t.Helper()
	base := "/sys/fs/cgroup/pids"
	if _, err := os.Stat(filepath.Join(base, "cgroup.procs")); err != nil {
		t.Skipf("no cgroup v1 pids controller at %s (needed to bound a fork bomb): %v", base, err)
	}
	dir := filepath.Join(base, "sandlock-it-"+newID())
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			pids, _ := procsInCgroup(dir)
			if len(pids) == 0 {
				break
			}
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			children.Reap()
			time.Sleep(20 * time.Millisecond)
		}
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(max)), 0); err != nil {
		t.Fatal(err)
	}
	return dir
}

// inCgroup runs cmd inside the cgroup (a shell joins it, then execs cmd) and returns its
// combined output and exit code, killing it after 20 seconds.
func inCgroup(t *testing.T, cg string, cmd *exec.Cmd) (string, int) {
	t.Helper()
	wrapped := exec.Command("bash", append([]string{"-c", `echo $$ > "$0/cgroup.procs" && exec -a "$1" "$2" "${@:3}"`, cg, cmd.Args[0], cmd.Path}, cmd.Args[1:]...)...)
	var out strings.Builder
	wrapped.Stdout, wrapped.Stderr = &out, &out
	if err := children.Start(wrapped); err != nil {
		t.Fatal(err)
	}
	defer children.Disown(wrapped.Process.Pid)
	done := make(chan struct{})
	go func() { _ = wrapped.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		left, _ := procsInCgroup(cg)
		for _, p := range left {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		<-done
		t.Errorf("no exit within 20s (a second generation?): output %q", out.String())
	}
	return out.String(), wrapped.ProcessState.ExitCode()
}
