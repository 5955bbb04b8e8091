package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkErrorLog: a failed command says why on stderr, and the last line of its JSON log is
// {"level":"error","msg":...,"time":RFC3339} (containerd's shim reports that msg).
func checkErrorLog(t *testing.T, what, stderr string) {
	t.Helper()
	if strings.TrimSpace(stderr) == "" {
		t.Errorf("%s: nothing on stderr, want the error", what)
	}
	l, err := lastLogLine(t)
	if err != nil {
		t.Errorf("%s: --log: %v", what, err)
		return
	}
	if l.Level != "error" || l.Msg == "" {
		t.Errorf("%s: last log line level %q msg %q, want level error and a message", what, l.Level, l.Msg)
	}
	if _, err := time.Parse(time.RFC3339, l.Time); err != nil {
		t.Errorf("%s: log time %q is not RFC3339: %v", what, l.Time, err)
	}
}

// mustFail runs the runtime, which must fail with a clear message; if wants are given, the
// message (stderr or log) must contain one of them, case-insensitively.
func mustFail(t *testing.T, what string, args []string, wants ...string) {
	t.Helper()
	_, stderr, code := rt(t, args...)
	if code == 0 {
		t.Errorf("%s: exit 0, want an error", what)
		return
	}
	checkErrorLog(t, what, stderr)
	if len(wants) == 0 {
		return
	}
	msg := strings.ToLower(stderr + lastLogMsg(t))
	for _, w := range wants {
		if strings.Contains(msg, strings.ToLower(w)) {
			return
		}
	}
	t.Errorf("%s: message %q, want one of %q", what, strings.TrimSpace(msg), wants)
}

// noStateLeft: a failed create leaves no state dir and no pid file.
func noStateLeft(t *testing.T, what, id, pidFile string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
		t.Errorf("%s: state dir %s left behind", what, id)
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Errorf("%s: pid file written", what)
	}
}

func TestCreateBadBundle(t *testing.T) {
	cases := []struct {
		name   string
		bundle func(t *testing.T) string
	}{
		{"malformed-config", func(t *testing.T) string {
			b := newBundle(t, "true")
			if err := os.WriteFile(filepath.Join(b, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": {`), 0o644); err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"missing-bundle", func(t *testing.T) string {
			requireSetup(t)
			return filepath.Join(t.TempDir(), "no-such-bundle")
		}},
		{"missing-config", func(t *testing.T) string {
			b := newBundle(t, "true")
			if err := os.Remove(filepath.Join(b, "config.json")); err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"missing-rootfs", func(t *testing.T) string {
			b := newBundle(t, "true")
			if err := os.RemoveAll(filepath.Join(b, "rootfs")); err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.bundle(t)
			id := newID()
			track(t, id)
			pidFile := filepath.Join(t.TempDir(), "pid")
			mustFail(t, "create with "+c.name, []string{"create", "--bundle", b, "--pid-file", pidFile, id})
			noStateLeft(t, c.name, id, pidFile)
			if m := mountsUnder(b); len(m) > 0 {
				t.Errorf("failed create left mounts: %v", m)
			}
		})
	}
}

func TestCreateDuplicateID(t *testing.T) {
	id := newID()
	create(t, id, newBundle(t, "sleep", "100"))
	pidFile := filepath.Join(t.TempDir(), "pid2")
	mustFail(t, "create with a duplicate ID",
		[]string{"create", "--bundle", newBundle(t, "sleep", "100"), "--pid-file", pidFile, id}, "already exists")
	if _, err := os.Stat(pidFile); err == nil {
		t.Errorf("the refused create wrote its pid file")
	}
	if st := mustState(t, id); st["status"] != "created" {
		t.Errorf("the first container after a refused duplicate: status %v, want created", st["status"])
	}
}

func TestCreateInvalidID(t *testing.T) {
	b := newBundle(t, "true")
	e := envFor(t)
	for _, id := range []string{"", ".", "..", "../escape", "a/b", "/abs"} {
		t.Run(strings.NewReplacer("/", "_", ".", "dot").Replace(id)+"_", func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			mustFail(t, "create with ID "+id, []string{"create", "--bundle", b, "--pid-file", pidFile, id})
			if _, err := os.Stat(pidFile); err == nil {
				t.Errorf("pid file written")
			}
			if _, err := os.Stat(filepath.Join(e.dir, "escape")); err == nil {
				t.Errorf("ID %q made a directory outside the state root", id)
			}
			if ents, _ := os.ReadDir(e.root); len(ents) > 0 {
				t.Errorf("ID %q: state root has %d entries, want none", id, len(ents))
			}
		})
	}
}

func TestStartStopped(t *testing.T) {
	b := newBundle(t, "true")
	id := newID()
	create(t, id, b)
	start(t, id)
	waitStatus(t, id, "stopped")
	mustFail(t, "start on a stopped container", []string{"start", id})
	if st := mustState(t, id); st["status"] != "stopped" {
		t.Errorf("after a refused start: status %v, want stopped", st["status"])
	}
}

func TestKillUnknownSignal(t *testing.T) {
	id, _, _ := running(t, nil, "sleep", "100")
	for _, sig := range []string{"NOSUCHSIG", "SIGNOPE", "99999", "-1"} {
		mustFail(t, "kill with signal "+sig, []string{"kill", id, sig})
	}
	if st := mustState(t, id); st["status"] != "running" {
		t.Errorf("after refused kills: status %v, want running", st["status"])
	}
}

func TestUnknownContainer(t *testing.T) {
	requireSetup(t)
	id := newID()
	track(t, id)
	for _, args := range [][]string{
		{"state", id}, {"start", id}, {"kill", id, "KILL"}, {"delete", id},
		{"ps", "--format", "json", id}, {"pause", id}, {"resume", id}, {"exec", id, "true"},
	} {
		mustFail(t, args[0]+" on an unknown container", args, "does not exist")
	}
	if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
		t.Errorf("a command on an unknown container made its state dir")
	}
}
