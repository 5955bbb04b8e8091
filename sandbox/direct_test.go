package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/spec"
)

// TestDefaultReadOnly: with neither fs_readable nor fs_writable, the direct mode's default is
// the host's root read-only, never "everything".
func TestDefaultReadOnly(t *testing.T) {
	requireKernel(t)
	target := filepath.Join(t.TempDir(), "anything")
	res, err := newSandbox(t, spec.Policy{}).Run(ctxFor(t, 30*time.Second), []string{"sh", "-c",
		"cat /etc/hostname >/dev/null && echo read-ok; echo x > /dev/null && echo null-ok; echo x > " + target + " || echo write-refused"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := string(res.Stdout), "read-ok\nnull-ok\nwrite-refused\n"; got != want {
		t.Errorf("got %q (stderr %q), want %q", got, res.Stderr, want)
	}
	if _, err := os.Stat(target); err == nil {
		t.Errorf("the default policy let the command write %s", target)
	}
}

// openPTY opens a new pty pair (posix_openpt, grantpt, unlockpt, ptsname).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestHostTerminalsHidden: a terminal of the host (an admin's session) cannot be opened from a
// sandbox, whatever the policy grants on /dev.
func TestHostTerminalsHidden(t *testing.T) {
	requireKernel(t)
	_, admin := openPTY(t)
	probe := fmt.Sprintf("(exec 3<%[1]s) 2>/dev/null && echo opened || echo refused; (exec 3>%[1]s) 2>/dev/null && echo opened || echo refused", admin.Name())
	for i, p := range []spec.Policy{{}, {FSReadable: []string{"/"}, FSWritable: []string{"/dev"}}} {
		res, err := newSandbox(t, p).Run(ctxFor(t, 30*time.Second), []string{"sh", "-c", probe})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := string(res.Stdout); got != "refused\nrefused\n" {
			t.Errorf("policy %d: opening %s: got %q, want refused twice", i, admin.Name(), got)
		}
	}
}

// TestPathsAsWritten: relative paths resolve against the working directory, "/" is the root,
// and a missing path is a *PolicyError naming the key and the path.
func TestPathsAsWritten(t *testing.T) {
	requireKernel(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	sb := New(spec.Policy{FSReadable: []string{"/"}, FSWritable: []string{"sub"}},
		WithStateRoot(filepath.Join(t.TempDir(), "state")), WithDir(dir))
	res, err := sb.Run(ctxFor(t, 30*time.Second), []string{"sh", "-c", "echo x > sub/f && echo wrote; echo y > f || echo refused"})
	if err != nil || string(res.Stdout) != "wrote\nrefused\n" {
		t.Errorf("got %v, stdout %q; want wrote, refused", err, res.Stdout)
	}
	missing := filepath.Join(dir, "scratchh")
	_, err = newSandbox(t, spec.Policy{FSWritable: []string{missing}}).Run(ctxFor(t, 30*time.Second), []string{"true"})
	var pe *spec.PolicyError
	if !errors.Is(err, ErrPolicy) || !errors.As(err, &pe) || pe.Key != "fs_writable" || pe.Value != missing {
		t.Errorf("got %v, want a PolicyError for fs_writable %s", err, missing)
	}
}

// TestExecRefusedSaysWhy: an exec the policy refuses says so, and keeps its errno.
func TestExecRefusedSaysWhy(t *testing.T) {
	requireKernel(t)
	_, err := newSandbox(t, spec.Policy{FSReadable: []string{"/etc"}}).Run(ctxFor(t, 30*time.Second), []string{"true"})
	if !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), "refused by the sandbox policy") || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %q, want one line saying the policy refused the exec (EACCES)", err)
	}
}

// TestCloseFDsFalseIsPolicyError: close_fds = false, which cannot be had, is refused as a
// PolicyError naming the key (so the sandbox command names its flag).
func TestCloseFDsFalseIsPolicyError(t *testing.T) {
	requireKernel(t)
	_, err := newSandbox(t, spec.Policy{CloseFDs: spec.Ptr(false)}).Run(ctxFor(t, 30*time.Second), []string{"true"})
	var pe *spec.PolicyError
	if !errors.Is(err, ErrPolicy) || !errors.As(err, &pe) || pe.Key != "close_fds" {
		t.Errorf("got %v; want a PolicyError of close_fds", err)
	}
}

// TestMissingChrootNamesChroot: a chroot that does not exist is refused as chroot's, not as
// the fs_readable "/" (the default) that cannot be found under it.
func TestMissingChrootNamesChroot(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	p := directPolicy(spec.Policy{Chroot: &missing}, "/")
	err := checkPathsExist(p, missing)
	var pe *spec.PolicyError
	if !errors.As(err, &pe) || pe.Key != "chroot" || pe.Value != missing || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("got %v; want a PolicyError of chroot %s: no such file or directory", err, missing)
	}
}

// TestExecNotExecutableNotBlamedOnPolicy: a program that its own mode or type refuses (no
// execute bit, a directory) fails with EACCES and says so; the policy (which allows it here:
// the whole root readable) is not blamed.
func TestExecNotExecutableNotBlamedOnPolicy(t *testing.T) {
	requireKernel(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for prog, why := range map[string]string{plain: "not executable: mode 0644", dir: "is a directory"} {
		_, err := newSandbox(t, spec.Policy{}).Run(ctxFor(t, 30*time.Second), []string{prog})
		if !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), why) || strings.Contains(err.Error(), "policy") {
			t.Errorf("%s: got %q; want EACCES saying %q, not blaming the policy", prog, err, why)
		}
	}
}

// TestBadFSDeniedUnderChrootIsPolicyError: a plan the policy makes impossible (an fs_denied
// path that cannot be resolved) is a PolicyError, not a SandboxError.
func TestBadFSDeniedUnderChrootIsPolicyError(t *testing.T) {
	requireKernel(t)
	root := t.TempDir()
	if err := os.Symlink("loop", filepath.Join(root, "loop")); err != nil {
		t.Fatal(err)
	}
	p := spec.Policy{Chroot: &root, FSDenied: []string{"/loop/x"}}
	_, err := newSandbox(t, p).Run(ctxFor(t, 30*time.Second), []string{"/true"})
	var pe *PolicyError
	var se *SandboxError
	if !errors.As(err, &pe) || errors.As(err, &se) || !strings.Contains(err.Error(), "fs_denied: /loop/x") {
		t.Errorf("got %v, want a *PolicyError for fs_denied /loop/x and no *SandboxError", err)
	}
}

// recorder is a Logger that keeps what it gets.
type recorder struct{ lines []string }

func (r *recorder) Debugf(f string, a ...any) {}
func (r *recorder) Warnf(f string, a ...any)  { r.lines = append(r.lines, fmt.Sprintf(f, a...)) }

// TestQuietGuest: the package reports through the Logger it was given, never through the
// program's global logger (which writes on its stderr).
func TestQuietGuest(t *testing.T) {
	requireKernel(t)
	var global strings.Builder
	logrus.SetOutput(&global)
	level := logrus.GetLevel()
	logrus.SetLevel(logrus.DebugLevel) // a program that logs its own debug lines: none of ours
	t.Cleanup(func() { logrus.SetOutput(os.Stderr); logrus.SetLevel(level) })
	p := spec.Policy{MaxDisk: spec.Ptr(spec.Size(1 << 20))} // without a workdir: create warns about it
	if _, err := newSandbox(t, p).Run(ctxFor(t, 30*time.Second), []string{"true"}); err != nil {
		t.Fatal(err)
	}
	if global.Len() != 0 {
		t.Errorf("the global logger got %q", global.String())
	}
	rec := &recorder{}
	sb := New(p, WithStateRoot(filepath.Join(t.TempDir(), "state")), WithLogger(rec))
	if _, err := sb.Run(ctxFor(t, 30*time.Second), []string{"true"}); err != nil {
		t.Fatal(err)
	}
	if len(rec.lines) == 0 || !strings.Contains(strings.Join(rec.lines, "\n"), "max_disk") {
		t.Errorf("WithLogger got %q, want the max_disk warning", rec.lines)
	}
	if global.Len() != 0 {
		t.Errorf("the global logger got %q", global.String())
	}
}

// TestInertWithoutWorkdirWarned: max_disk or on_exit set without a workdir configure no layer;
// the run goes on (a profile may set them for the runs that have a workdir), and the Logger is
// told, so that a disk quota believed in force is not silently absent.
func TestInertWithoutWorkdirWarned(t *testing.T) {
	requireKernel(t)
	rec := &recorder{}
	p := spec.Policy{MaxDisk: spec.Ptr(spec.Size(1 << 20)), OnExit: spec.Ptr(spec.BranchKeep)}
	sb := New(p, WithStateRoot(filepath.Join(t.TempDir(), "state")), WithLogger(rec))
	if res, err := sb.Run(ctxFor(t, 30*time.Second), []string{"true"}); err != nil || !res.Success() {
		t.Fatalf("Run: %+v, %v", res, err)
	}
	if got := strings.Join(rec.lines, "\n"); !strings.Contains(got, "without a workdir") || !strings.Contains(got, "max_disk, on_exit") {
		t.Errorf("WithLogger got %q, want the warning naming max_disk, on_exit", rec.lines)
	}
	wd := t.TempDir()
	p.Workdir = &wd
	p.FSStorage = spec.Ptr(filepath.Join(t.TempDir(), "layers")) // KEEP: not in the host's default storage
	rec.lines = nil
	sb = New(p, WithStateRoot(filepath.Join(t.TempDir(), "state")), WithLogger(rec), WithDir(wd))
	if _, err := sb.Run(ctxFor(t, 30*time.Second), []string{"true"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.lines, "\n"); strings.Contains(got, "without a workdir") {
		t.Errorf("with a workdir, WithLogger got %q", got)
	}
}

// TestRunInteractiveOwnTerminal: the terminal handed on stdio works (by its fd and by its
// /dev/pts path), another terminal of the host does not.
func TestRunInteractiveOwnTerminal(t *testing.T) {
	requireKernel(t)
	master, slave := openPTY(t)
	_, admin := openPTY(t)
	saved := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	os.Stdin, os.Stdout, os.Stderr = slave, slave, slave
	code, err := newSandbox(t, spec.Policy{}).RunInteractive(ctxFor(t, 30*time.Second), []string{"sh", "-c",
		"echo stdio-ok; echo path-ok > \"$(tty)\"; (exec 3<" + admin.Name() + ") 2>/dev/null && echo other-opened || echo other-refused"})
	os.Stdin, os.Stdout, os.Stderr = saved[0], saved[1], saved[2]
	slave.Close()
	if err != nil || code != 0 {
		t.Fatalf("RunInteractive: %d, %v", code, err)
	}
	var got strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	out := strings.ReplaceAll(got.String(), "\r", "")
	if out != "stdio-ok\npath-ok\nother-refused\n" {
		t.Errorf("terminal got %q, want stdio-ok, path-ok, other-refused", out)
	}
}

// TestProcViews: through the Go API, num_cpus and isolate_pids shape what the command sees:
// one CPU counted every way, its own /proc entries and not pid 1's (the host's init).
// Without them, the host's.
func TestProcViews(t *testing.T) {
	requireKernel(t)
	if os.Geteuid() != 0 {
		t.Skip("pid 1's cmdline is readable by root only on hardened hosts: the control needs root")
	}
	script := `nproc; cat /sys/devices/system/cpu/online; grep -c ^processor /proc/cpuinfo; ` +
		`cat /proc/1/cmdline >/dev/null 2>&1 && echo pid1-read || echo pid1-absent; ` +
		`ls /proc | grep -qx 1 && echo pid1-listed || echo pid1-unlisted`
	one := 1
	sb := newSandbox(t, spec.Policy{NumCPUs: &one, IsolatePIDs: spec.Ptr(true)})
	res, err := sb.Run(ctxFor(t, 30*time.Second), []string{"sh", "-c", script})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := string(res.Stdout), "1\n0\n1\npid1-absent\npid1-unlisted\n"; got != want {
		t.Errorf("got %q (stderr %q), want %q", got, res.Stderr, want)
	}
	found := false
	for _, d := range sb.Denials() {
		found = found || (d.Rule == "isolate_pids" && strings.HasPrefix(d.Object, "/proc/1"))
	}
	if !found {
		t.Errorf("no isolate_pids refusal of /proc/1 in the audit: %+v", sb.Denials())
	}
	res, err = newSandbox(t, spec.Policy{}).Run(ctxFor(t, 30*time.Second), []string{"sh", "-c", script})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := string(res.Stdout); !strings.Contains(got, "pid1-read\npid1-listed\n") {
		t.Errorf("control without the views: %q, want pid 1 readable and listed", got)
	}
}
