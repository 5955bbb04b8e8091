package integration

// The reference system's tracker lists the traps of on-behalf handling; each test here aims one
// of them at this supervisor. #179 (hard links to a denied file), #246 (a /proc/self path
// resolved in the supervisor) and #80 (a failed injection failing open) are tested with the
// features that inject or resolve those paths; #238 for containers is
// TestSupervisorDeathKillsContainer.

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandlock/sandlock-runtime/internal/children"
	"golang.org/x/sys/unix"
)

// trapFlags confine a sandbox to the system and the escape programs, with w writable and a
// hostname (so uname is answered by the supervisor and chmod in w performed on behalf).
func trapFlags(bins, w string) []string {
	return []string{"-r", "/usr", "-r", "/lib", "-r", "/lib64", "-r", "/bin", "-r", bins, "-w", w, "--hostname", "traps"}
}

// #235: signals arriving while calls are trapped (a shell's SIGCHLD) must not surface as EINTR
// or as wrong answers; there, shell pipelines hung.
func TestSupervisorTrapSignalStorm(t *testing.T) {
	bins := escapeBins(t)
	w := t.TempDir()
	f := filepath.Join(w, "f")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := rtWith(t, nil, sandboxArgs(trapFlags(bins, w), filepath.Join(bins, "notiftraps"), "eintr", "traps", f, "4000")...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "eintr=0 bad=0 signals=some" {
		t.Errorf("exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	// A pipeline of short-lived children, each exit a SIGCHLD to a shell in a trapped call.
	script := `n=0; for i in $(seq 1 60); do n=$((n + $(echo $i | cat | wc -l))); chmod 600 ` + f + `; done; echo $n`
	r = rtWith(t, nil, sandboxArgs(trapFlags(bins, w), "sh", "-c", script)...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "60" {
		t.Errorf("pipelines: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
}

// #249: a trapped call that blocks (the open of a FIFO without a writer) must not keep the
// supervisor from answering the container's other calls.
func TestSupervisorTrapFIFO(t *testing.T) {
	bins := escapeBins(t)
	t.Run("sandbox", func(t *testing.T) {
		w := t.TempDir()
		r := rtWith(t, nil, sandboxArgs(trapFlags(bins, w), filepath.Join(bins, "notiftraps"), "fifo", w)...)
		if r.code != 0 || strings.TrimSpace(r.stdout) != "fifo ok" {
			t.Errorf("exit %d, %q %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("container", func(t *testing.T) {
		mutate := func(s *specs.Spec) {
			s.Annotations = map[string]string{
				"io.sandlock.fs_readable": `["/escape", "/bin", "/lib", "/usr"]`,
				"io.sandlock.fs_writable": `["/tmp"]`,
				"io.sandlock.hostname":    "traps",
			}
		}
		out := escapeRun(t, newID(), mutate, nil, "/escape/notiftraps", "fifo", "/tmp")
		if !strings.Contains(out, "fifo ok") {
			t.Errorf("container: %q", out)
		}
	})
}

// #238 in the direct mode: killing the sandbox's supervisor kills every process of the
// sandbox, a setsid'd one included, and the sandbox command reports the end.
func TestSupervisorDeathKillsSandbox(t *testing.T) {
	requireSetup(t)
	tag := "3" + strconv.Itoa(os.Getpid()%1000+100) // a sleep length no other test uses
	cmd, files := rtCommand(t, sandboxArgs([]string{"--hostname", "traps"}, "sh", "-c", "setsid sleep "+tag+"1 & sleep "+tag+"2")...)
	if err := children.Start(cmd); err != nil {
		t.Fatal(err)
	}
	done := make(chan result, 1)
	go func() { done <- finish(t, cmd, files, nil, cmdTimeout) }()
	var sup int
	var sleeps []int
	for deadline := time.Now().Add(waitTimeout); (sup == 0 || len(sleeps) < 2) && time.Now().Before(deadline); time.Sleep(pollEvery) {
		sup, sleeps = sandboxProcs(t, cmd.Process.Pid, tag)
	}
	if sup == 0 || len(sleeps) < 2 {
		t.Fatalf("supervisor %d, sleeps %v: the sandbox did not start", sup, sleeps)
	}
	t.Logf("killing supervisor %d of sleeps %v", sup, sleeps)
	if err := unix.Kill(sup, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if left := waitGone(sleeps); len(left) > 0 {
		for _, p := range left {
			_ = unix.Kill(p, unix.SIGKILL) // ours: started by this test's sandbox
		}
		t.Errorf("processes %v outlived the supervisor", left)
	}
	select {
	case r := <-done:
		if r.code == 0 {
			t.Errorf("the sandbox command exited 0 after its supervisor was killed")
		}
	case <-time.After(waitTimeout):
		t.Errorf("the sandbox command did not end after its supervisor was killed")
	}
}

// sandboxProcs finds, among the descendants of the sandbox command cli, its supervisor and the
// sleeps whose argument starts with tag.
func sandboxProcs(t *testing.T, cli int, tag string) (sup int, sleeps []int) {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !descends(pid, cli) {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		switch {
		case strings.HasSuffix(args[0], "sandlock-runtime") && slices.Contains(args, "supervise"):
			sup = pid
		case len(args) == 2 && args[0] == "sleep" && strings.HasPrefix(args[1], tag):
			sleeps = append(sleeps, pid)
		}
	}
	return sup, sleeps
}

// descends: pid has ancestor among its parents (a setsid'd process keeps its parent).
func descends(pid, ancestor int) bool {
	for i := 0; i < 64 && pid > 1; i++ {
		if pid == ancestor {
			return true
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		pid, _ = strconv.Atoi(f[1])
	}
	return false
}
