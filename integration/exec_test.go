package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandlock/sandlock-runtime/internal/mountinfo"
	"golang.org/x/sys/unix"
)

func TestExecExitCode(t *testing.T) {
	id, _, _ := running(t, nil, "sleep", "100")
	if _, stderr, code := rt(t, "exec", id, "sh", "-c", "exit 5"); code != 5 {
		t.Errorf("exec sh -c 'exit 5': exit %d, want 5: %s%s", code, stderr, lastLogMsg(t))
	}
	if out, stderr, code := rt(t, "exec", id, "echo", "exec-ok"); code != 0 || out != "exec-ok\n" {
		t.Errorf("exec echo: exit %d, stdout %q, want 0 and %q: %s", code, out, "exec-ok\n", stderr)
	}
	// containerd and conmon pass the process as a JSON file.
	proc := specs.Process{
		Args: []string{"sh", "-c", "exit 4"},
		Env:  []string{"PATH=/bin:/sbin"},
		Cwd:  "/",
	}
	data, _ := json.Marshal(proc)
	pf := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(pf, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := rt(t, "exec", "--process", pf, id); code != 4 {
		t.Errorf("exec --process (sh -c 'exit 4'): exit %d, want 4: %s%s", code, stderr, lastLogMsg(t))
	}
}

// exec --detach --pid-file: the pid is the caller's child (reparented to its subreaper) and
// mirrors the exec'd process: its exit code, or death by the same signal.
func TestExecDetach(t *testing.T) {
	id, _, _ := running(t, nil, "sleep", "100")
	execDetached := func(t *testing.T, args ...string) int {
		t.Helper()
		pidFile := filepath.Join(t.TempDir(), "exec.pid")
		full := append([]string{"exec", "--detach", "--pid-file", pidFile, id}, args...)
		if _, stderr, code := rt(t, full...); code != 0 {
			t.Fatalf("exec --detach: exit %d: %s%s", code, stderr, lastLogMsg(t))
		}
		return readPidFile(t, pidFile)
	}
	t.Run("exit-code", func(t *testing.T) {
		pid := execDetached(t, "sh", "-c", "sleep 0.2; exit 6")
		if got := exitStatus(waitChild(t, pid)); got != 6 {
			t.Errorf("detached exec of 'exit 6': the pid-file pid ended with %d, want 6", got)
		}
	})
	t.Run("signal", func(t *testing.T) {
		pid := execDetached(t, "sh", "-c", "sleep 0.2; kill -TERM $$")
		if got := exitStatus(waitChild(t, pid)); got != 128+int(unix.SIGTERM) {
			t.Errorf("detached exec killed by SIGTERM: the pid-file pid ended with %d, want %d", got, 128+int(unix.SIGTERM))
		}
	})
	t.Run("killed-with-container", func(t *testing.T) {
		pid := execDetached(t, "sleep", "100")
		if _, stderr, code := rt(t, "kill", "--all", id, "KILL"); code != 0 {
			t.Fatalf("kill --all: exit %d: %s", code, stderr)
		}
		if got := exitStatus(waitChild(t, pid)); got != 128+9 {
			t.Errorf("detached exec after kill --all KILL: the pid-file pid ended with %d, want %d", got, 128+9)
		}
		waitStatus(t, id, "stopped")
	})
}

// An exec'd process is in the container's domain: same hostname, same cgroup, and it may
// signal the container's init (which Landlock signal scoping would refuse across domains).
func TestExecSameDomain(t *testing.T) {
	id, pid, _ := running(t, withHostname("sandlock-it"), "sleep", "100")
	if out, stderr, code := rt(t, "exec", id, "uname", "-n"); code != 0 || out != "sandlock-it\n" {
		t.Errorf("exec uname -n: exit %d, stdout %q, want 0 and %q: %s", code, out, "sandlock-it\n", stderr)
	}
	if _, stderr, code := rt(t, "exec", id, "sh", "-c", fmt.Sprintf("kill -0 %d", pid)); code != 0 {
		t.Errorf("exec kill -0 <init pid %d>: exit %d, want 0: %s", pid, code, stderr)
	}
	want, err := cgroupDirOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, code := rt(t, "exec", id, "sh", "-c", "cat /proc/self/cgroup")
	if code != 0 {
		t.Fatalf("exec cat /proc/self/cgroup: exit %d: %s", code, stderr)
	}
	mnt, _ := mountinfo.Cgroup2()
	got := ""
	for _, line := range strings.Split(out, "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			got = filepath.Join(mnt, rel)
		}
	}
	if got != want {
		t.Errorf("exec'd process cgroup %q, init's %q: want the same", got, want)
	}
}

func TestHostname(t *testing.T) {
	// uname (the supervisor answers it) and /proc/sys/kernel/hostname (Go's os.Hostname reads
	// it first) both give the container's name.
	b := newBundleWith(t, withHostname("sandlock-it"), "sh", "-c", "uname -n; cat /proc/sys/kernel/hostname")
	id := newID()
	track(t, id)
	if out, stderr, code := rt(t, "run", "--bundle", b, id); code != 0 || out != "sandlock-it\nsandlock-it\n" {
		t.Errorf("run uname -n; cat hostname: exit %d, stdout %q, want 0 and the name twice: %s", code, out, stderr)
	}
}

// create --console-socket: one message whose payload is the pty name and which carries exactly
// one fd, the pty master.
func TestConsoleSocket(t *testing.T) {
	b := newBundleWith(t, func(s *specs.Spec) { s.Process.Terminal = true },
		"sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo tty-ok; sleep 2")
	dir, err := os.MkdirTemp("", "slcs-") // short: sun_path is 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type handoff struct {
		name string
		fd   int
		err  error
	}
	got := make(chan handoff, 1)
	go func() {
		_ = ln.SetDeadline(time.Now().Add(cmdTimeout))
		c, err := ln.AcceptUnix()
		if err != nil {
			got <- handoff{err: err}
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*4))
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- handoff{err: err}
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		var fds []int
		for i := range msgs {
			f, err := unix.ParseUnixRights(&msgs[i])
			if err == nil {
				fds = append(fds, f...)
			}
		}
		if err != nil || len(fds) != 1 {
			for _, fd := range fds {
				unix.Close(fd)
			}
			got <- handoff{err: fmt.Errorf("want exactly one SCM_RIGHTS fd, got %d (%v)", len(fds), err)}
			return
		}
		got <- handoff{name: string(buf[:n]), fd: fds[0]}
	}()

	id := newID()
	create(t, id, b, "--console-socket", sock)
	var h handoff
	select {
	case h = <-got:
	case <-time.After(cmdTimeout):
		t.Fatal("nothing received on the console socket")
	}
	if h.err != nil {
		t.Fatalf("console socket: %v", h.err)
	}
	if !regexp.MustCompile(`^/dev/pts/[0-9]+$`).MatchString(h.name) {
		t.Errorf("console socket payload %q, want the pty name /dev/pts/N", h.name)
	}
	if _, err := unix.IoctlGetTermios(h.fd, unix.TCGETS); err != nil {
		t.Errorf("the fd received is not a terminal: %v", err)
	}
	_ = unix.SetNonblock(h.fd, true) // poller-backed: deadlines work and Close unblocks Read
	master := os.NewFile(uintptr(h.fd), "pty-master")
	defer master.Close()
	start(t, id)
	_ = master.SetReadDeadline(time.Now().Add(waitTimeout))
	var out []byte
	buf := make([]byte, 1024)
	for !strings.Contains(string(out), "tty-ok") {
		n, err := master.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !strings.Contains(string(out), "tty-ok") {
		t.Errorf("container output on the pty %q: want tty-ok (stdin and stdout are the terminal)", out)
	}
}

// TestExecCapsCeiling: exec gets the capabilities it asks for within the container's bounding
// set, and a clear refusal beyond it: the supervisor checks what it is sent against the
// container's stored configuration, whatever the client is.
func TestExecCapsCeiling(t *testing.T) {
	id, _, _ := running(t, nil, "sleep", "100") // bounding: CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE
	dir := t.TempDir()
	procFile := func(name string, caps ...string) string {
		proc := specs.Process{
			Args: []string{"grep", "CapEff", "/proc/self/status"}, Env: []string{"PATH=/bin:/sbin"}, Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
		}
		data, _ := json.Marshal(proc)
		pf := filepath.Join(dir, name+".json")
		if err := os.WriteFile(pf, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return pf
	}
	out, stderr, code := rt(t, "exec", "--process", procFile("fewer", "CAP_KILL"), id)
	if code != 0 || !strings.Contains(out, "CapEff:\t0000000000000020") {
		t.Errorf("exec with CAP_KILL only: exit %d, stdout %q, want CapEff 0x20: %s", code, out, stderr)
	}
	out, stderr, code = rt(t, "exec", "--process", procFile("more", "CAP_KILL", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"), id)
	want := "CAP_NET_ADMIN, CAP_SYS_ADMIN not in the container's bounding set"
	if code == 0 || out != "" || !strings.Contains(stderr, want) {
		t.Errorf("exec with CAP_SYS_ADMIN and CAP_NET_ADMIN: exit %d, stdout %q, stderr %q, want a refusal containing %q", code, out, stderr, want)
	}
}

// TestExecStress: 200 execs, 8 at a time, half of them of a missing program, a quarter
// detached with a pid file as conmon runs them: every exit code and every error must be the
// right one (issue 8: under load an exec once failed with "send spawn to supervisor: broken
// pipe" instead of "executable file not found").
func TestExecStress(t *testing.T) {
	id, _, _ := running(t, nil, "sleep", "300")
	const total, parallel = 200, 8
	var wg sync.WaitGroup
	errs := make(chan string, total)
	sem := make(chan struct{}, parallel)
	dir := t.TempDir()
	for i := 0; i < total; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if msg := stressExec(t, id, dir, i); msg != "" {
				errs <- fmt.Sprintf("exec %d: %s", i, msg)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	n := 0
	for e := range errs {
		if n++; n <= 10 {
			t.Error(e)
		}
	}
	if n > 0 {
		t.Errorf("%d of %d execs went wrong", n, total)
	}
}

// stressExec runs exec number i of TestExecStress and says what went wrong, if anything:
// odd i a missing program, i%4 == 2 a detached `exit N`, else a foreground `exit N`.
func stressExec(t *testing.T, id, dir string, i int) string {
	want := i % 100
	exit := []string{"sh", "-c", "exit " + strconv.Itoa(want)}
	switch {
	case i%2 == 1:
		r := rtWith(t, nil, "exec", id, "nonexistent-"+strconv.Itoa(i))
		if r.code != 1 || !strings.Contains(r.stderr, "executable file not found") {
			return fmt.Sprintf("missing program: exit %d, stderr %q", r.code, r.stderr)
		}
	case i%4 == 2:
		pidFile := filepath.Join(dir, strconv.Itoa(i)+".pid")
		r := rtWith(t, nil, append([]string{"exec", "--detach", "--pid-file", pidFile, id}, exit...)...)
		if r.code != 0 {
			return fmt.Sprintf("exec --detach: exit %d, stderr %q", r.code, r.stderr)
		}
		b, err := os.ReadFile(pidFile)
		pid, aerr := strconv.Atoi(string(b))
		if err != nil || aerr != nil {
			return fmt.Sprintf("pid file %q: %v %v", b, err, aerr)
		}
		if got, err := waitExit(pid, waitTimeout); err != nil || got != want {
			return fmt.Sprintf("detached 'exit %d': the pid-file pid ended with %d (%v)", want, got, err)
		}
	default:
		r := rtWith(t, nil, append([]string{"exec", id}, exit...)...)
		if r.code != want || r.stderr != "" {
			return fmt.Sprintf("'exit %d': exit %d, stderr %q", want, r.code, r.stderr)
		}
	}
	return ""
}

// waitExit is waitChild for goroutines: it reports instead of failing the test.
func waitExit(pid int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err != nil {
			return -1, err
		}
		if got == pid {
			return exitStatus(ws), nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("pid %d did not exit within %v", pid, timeout)
		}
		time.Sleep(pollEvery)
	}
}

// TestExecFlagsApplied: exec --cap adds a capability within the container's bounding set and is
// refused beyond it; exec --no-new-privs sets no_new_privs; without it an exec'd process of a
// container with process.noNewPrivileges false has none.
func TestExecFlagsApplied(t *testing.T) {
	id, _, _ := running(t, func(s *specs.Spec) {
		s.Process.NoNewPrivileges = false
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding: []string{"CAP_CHOWN", "CAP_KILL"}, Effective: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL"},
		}
	}, "sleep", "100")
	status := []string{"grep", "-E", "^(CapEff|NoNewPrivs)", "/proc/self/status"}
	cases := []struct {
		name  string
		flags []string
		code  int
		want  string // in stdout, or in stderr when code != 0
	}{
		// uid 0 without no_new_privs gets its bounding set back at execve, as under runc
		{"default", nil, 0, "CapEff:\t0000000000000021\nNoNewPrivs:\t0\n"},
		// with it, only what it held before
		{"--no-new-privs", []string{"--no-new-privs"}, 0, "CapEff:\t0000000000000020\nNoNewPrivs:\t1\n"},
		{"--cap", []string{"--cap", "CAP_CHOWN", "--no-new-privs"}, 0, "CapEff:\t0000000000000021\nNoNewPrivs:\t1\n"},
		{"--cap beyond the bounding set", []string{"--cap", "CAP_SYS_ADMIN"}, 1, "CAP_SYS_ADMIN not in the container's bounding set"},
		{"--cap unknown", []string{"--cap", "CAP_NOPE"}, 1, "CAP_NOPE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(append(append([]string{"exec"}, c.flags...), id), status...)
			out, stderr, code := rt(t, args...)
			got := out
			if c.code != 0 {
				got = stderr
			}
			if code != c.code || !strings.Contains(got, c.want) || (c.code != 0 && out != "") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, stderr, c.code, c.want)
			}
		})
	}
}
