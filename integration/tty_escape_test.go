package integration

// The operator's terminal from a container (docs/security.md, "The caller's terminal"). The
// runtime runs in a session whose controlling terminal is a pty, as under an operator's
// job-control shell; the container's stdio are files. ttyesc.c tries /dev/tty, TIOCSPGRP and a
// read of a line the test typed in advance. It must get all three unconfined in that same
// session (so the program proves something) and none under run, run -d, create+start or exec.

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandlock/sandlock-runtime/internal/children"
)

// operatorInput is what the operator "types next": it waits in the terminal's input queue.
const operatorInput = "operator-secret-42\n"

// inTerminalSession runs script with sh as the leader of a new session whose controlling
// terminal is a fresh pty holding operatorInput, and returns once the script has run. sh then
// stays (sleep) until the test ends, so a detached container keeps a session with a terminal.
func inTerminalSession(t *testing.T, script string) {
	t.Helper()
	master, slave, err := openPTY()
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if _, err := master.WriteString(operatorInput); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", script+"\necho script-done\nexec sleep 300")
	cmd.ExtraFiles = []*os.File{slave} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 3}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := children.Start(cmd); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		children.Disown(cmd.Process.Pid)
	})
	done := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		done <- l
	}()
	select {
	case l := <-done:
		if l != "script-done\n" {
			t.Fatalf("the session's script ended early: %q", l)
		}
	case <-time.After(cmdTimeout):
		t.Fatalf("the session's script did not finish in %v", cmdTimeout)
	}
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// rtScript is the runtime command line with the test's --root and --log, quoted for sh.
func rtScript(t *testing.T, args ...string) string {
	e := envFor(t)
	full := append([]string{runtimeBin, "--root", e.root, "--log", e.log, "--log-format", "json"}, args...)
	for i := range full {
		full[i] = shq(full[i])
	}
	return strings.Join(full, " ")
}

// ttyBundle is a bundle with ttyesc under /escape, caps applied; init runs args.
func ttyBundle(t *testing.T, caps func(*specs.Spec), args ...string) string {
	t.Helper()
	bins := escapeBins(t)
	b := newBundleWith(t, chain(func(s *specs.Spec) { s.Process.Terminal = false }, caps), args...)
	if err := os.MkdirAll(filepath.Join(b, "rootfs", "escape"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(filepath.Join(bins, "ttyesc"), filepath.Join(b, "rootfs", "escape", "ttyesc"), 0o755); err != nil {
		t.Fatal(err)
	}
	return b
}

func readOut(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEscapeTerminal(t *testing.T) {
	bins := escapeBins(t)
	t.Run("unconfined escapes", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		inTerminalSession(t, shq(filepath.Join(bins, "ttyesc"))+" > "+shq(out)+" 2>&1")
		got := readOut(t, out)
		for _, want := range []string{"tty_open ESCAPED", "tty_foreground ESCAPED", "tty_read ESCAPED", strings.TrimSpace(operatorInput)} {
			if !strings.Contains(got, want) {
				t.Fatalf("unconfined in the same session the program must escape (%q missing), or it proves nothing:\n%s", want, got)
			}
		}
	})
	cases := []struct {
		name   string
		script func(t *testing.T, id, b, out string) string
		detach bool
		caps   func(*specs.Spec)
	}{
		{"run", func(t *testing.T, id, b, out string) string {
			return rtScript(t, "run", "--bundle", b, id) + " > " + shq(out) + " 2>&1"
		}, false, nil},
		{"run with CAP_SYS_ADMIN", func(t *testing.T, id, b, out string) string {
			return rtScript(t, "run", "--bundle", b, id) + " > " + shq(out) + " 2>&1"
		}, false, withCapAdded("CAP_SYS_ADMIN")},
		{"run -d", func(t *testing.T, id, b, out string) string {
			return rtScript(t, "run", "-d", "--bundle", b, id) + " > " + shq(out) + " 2>&1"
		}, true, nil},
		{"create+start", func(t *testing.T, id, b, out string) string {
			return rtScript(t, "create", "--bundle", b, id) + " > " + shq(out) + " 2>&1\n" + rtScript(t, "start", id)
		}, true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, out := newID(), filepath.Join(t.TempDir(), "out")
			b := ttyBundle(t, c.caps, "/escape/ttyesc")
			track(t, id)
			inTerminalSession(t, c.script(t, id, b, out))
			if c.detach {
				waitStatus(t, id, "stopped")
			}
			requireOK(t, escapeVerdicts(t, readOut(t, out), 1), "tty_open")
		})
	}
	t.Run("exec", func(t *testing.T) {
		id, out := newID(), filepath.Join(t.TempDir(), "out")
		b := ttyBundle(t, withCapAdded("CAP_SYS_ADMIN"), "sleep", "60")
		track(t, id)
		inTerminalSession(t, rtScript(t, "run", "-d", "--bundle", b, id)+" > /dev/null 2>&1\n"+
			rtScript(t, "exec", id, "/escape/ttyesc")+" > "+shq(out)+" 2>&1")
		requireOK(t, escapeVerdicts(t, readOut(t, out), 1), "tty_open")
	})
	t.Run("direct mode keeps the terminal", func(t *testing.T) {
		// docs/sandbox.md: a command run with `sandbox` is the caller's job, terminal included,
		// when it is handed the terminal on its stdio (here stdin): a controlling terminal that
		// is on none of its stdio is refused (TestSandboxHostTerminals).
		out := filepath.Join(t.TempDir(), "out")
		inTerminalSession(t, rtScript(t, "sandbox", "-r", bins, "-r", "/dev/tty", "-w", "/dev/tty", "--",
			filepath.Join(bins, "ttyesc"))+" < /dev/tty > "+shq(out)+" 2>&1")
		if got := readOut(t, out); !strings.Contains(got, "tty_open ESCAPED") {
			t.Errorf("sandbox: want the command to keep the caller's terminal, got:\n%s", got)
		}
	})
}
