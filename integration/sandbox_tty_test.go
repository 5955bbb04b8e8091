package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/sandlock/sandlock-runtime/internal/children"
)

// The direct mode runs on the host's /dev, whose devpts holds every terminal of the host (an
// admin's ssh or tmux session). Only the terminal the sandbox was handed may be reachable.

// ttyProbe tries the other terminal, then its own: on stdio, through /dev/tty and through its
// /dev/pts path.
func ttyProbe(other string) string {
	return `if (exec 3<` + other + `) 2>/dev/null; then echo OTHER-OPENED; else echo OTHER-REFUSED; fi
if (exec 3>` + other + `) 2>/dev/null; then echo OTHER-WRITABLE; fi
echo STDIO-OK
echo DEVTTY-OK > /dev/tty || echo DEVTTY-FAILED
(echo OWNPATH-OK > "$(tty)") || echo OWNPATH-FAILED`
}

// inOwnPTY runs cmd with a new pty as stdio and controlling terminal and returns what it wrote.
func inOwnPTY(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	master, slave, err := openPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := children.Start(cmd); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var got strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		got.Write(buf[:n])
		if err != nil { // EIO once the last holder of the slave is gone
			break
		}
	}
	_ = cmd.Wait()
	children.Disown(cmd.Process.Pid)
	return got.String()
}

func TestSandboxHostTerminals(t *testing.T) {
	requireSetup(t)
	adminM, adminS, err := openPTY() // stands for an admin's ssh session on this host
	if err != nil {
		t.Fatal(err)
	}
	defer adminM.Close()
	defer adminS.Close()
	other, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", adminS.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	probe := ttyProbe(other)

	// Unconfined, the same program reaches the admin's terminal: the test can fail.
	if out := inOwnPTY(t, exec.Command("sh", "-c", probe)); !strings.Contains(out, "OTHER-OPENED") {
		t.Fatalf("unconfined probe did not open %s: %q", other, out)
	}
	e := envFor(t)
	for _, flags := range [][]string{nil, sandboxRead, append(append([]string{}, sandboxRead...), "-w", "/dev")} {
		t.Run(strings.Join(append([]string{"flags"}, flags...), " "), func(t *testing.T) {
			args := append([]string{"--root", e.root}, sandboxArgs(flags, "sh", "-c", probe)...)
			out := inOwnPTY(t, exec.Command(runtimeBin, args...))
			t.Logf("terminal: %q", out)
			for _, want := range []string{"OTHER-REFUSED", "STDIO-OK", "DEVTTY-OK", "OWNPATH-OK"} {
				if !strings.Contains(out, want) {
					t.Errorf("missing %s in %q", want, out)
				}
			}
			if strings.Contains(out, "OTHER-WRITABLE") {
				t.Errorf("the other terminal was writable: %q", out)
			}
		})
	}
	// The caller's controlling terminal is the admin's, stdio are files: /dev/tty would lead
	// to the admin's terminal, so it is refused.
	r := rtWith(t, func(c *exec.Cmd) {
		c.ExtraFiles = []*os.File{adminS}
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 3}
	}, sandboxArgs(nil, "sh", "-c", "(exec 3</dev/tty) 2>/dev/null && echo OPENED || echo REFUSED")...)
	if r.stdout != "REFUSED\n" {
		t.Errorf("/dev/tty leading to another terminal: %q, want REFUSED", r.stdout)
	}
}
