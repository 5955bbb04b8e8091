package sandbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sandlock/sandlock-runtime/spec"
)

// TestMain lets the test binary serve as the sandboxes' init and supervisor: the runtime
// re-executes /proc/self/exe.
func TestMain(m *testing.M) {
	if Reexec() {
		return
	}
	if dir := os.Getenv(watchHelperEnv); dir != "" {
		os.Exit(watchHelper(dir))
	}
	if name := os.Getenv(dialAbstractEnv); name != "" {
		os.Exit(dialAbstract(name))
	}
	if port := os.Getenv(listenEnv); port != "" {
		os.Exit(listenBoth(port))
	}
	os.Exit(m.Run())
}

// requireKernel skips unless the tests can create sandboxes here.
func requireKernel(t *testing.T) {
	t.Helper()
	if abi := LandlockABIVersion(); abi < MinLandlockABI() {
		t.Skipf("needs Landlock ABI >= %d, have %d", MinLandlockABI(), abi)
	}
}

// hostPolicy can run the usual tools and write only to the test's own directory.
func hostPolicy(t *testing.T) (spec.Policy, string) {
	dir := t.TempDir()
	return spec.Policy{
		FSReadable: []string{"/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/proc", "/dev"},
		FSWritable: []string{dir},
	}, dir
}

func newSandbox(t *testing.T, p spec.Policy) *Sandbox {
	return New(p, WithStateRoot(filepath.Join(t.TempDir(), "state")))
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestRun(t *testing.T) {
	requireKernel(t)
	p, dir := hostPolicy(t)
	outside := filepath.Join(t.TempDir(), "outside") // another t.TempDir: not writable
	cases := []struct {
		name     string
		cmd      []string
		wantCode int
		wantOut  string
		wantErr  string // substring of stderr
	}{
		{"echo", []string{"echo", "hello"}, 0, "hello\n", ""},
		{"exit code", []string{"sh", "-c", "exit 7"}, 7, "", ""},
		{"stderr", []string{"sh", "-c", "echo oops >&2; exit 1"}, 1, "", "oops"},
		{"write inside fs_writable", []string{"sh", "-c", "echo x > " + dir + "/f && cat " + dir + "/f"}, 0, "x\n", ""},
		{"write outside fs_writable", []string{"sh", "-c", "echo x > " + outside}, 2, "", "Permission denied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := newSandbox(t, p).Run(ctxFor(t, 30*time.Second), c.cmd)
			if err != nil {
				t.Fatalf("Run: got error %v, want none", err)
			}
			if res.ExitCode != c.wantCode || string(res.Stdout) != c.wantOut || !strings.Contains(string(res.Stderr), c.wantErr) {
				t.Errorf("got code %d stdout %q stderr %q, want code %d stdout %q stderr containing %q",
					res.ExitCode, res.Stdout, res.Stderr, c.wantCode, c.wantOut, c.wantErr)
			}
			if got, want := res.Success(), c.wantCode == 0; got != want {
				t.Errorf("Success() = %v, want %v", got, want)
			}
		})
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("%s was created outside fs_writable", outside)
	}
}

func TestRunStdin(t *testing.T) {
	requireKernel(t)
	p, _ := hostPolicy(t)
	sb := New(p, WithStateRoot(filepath.Join(t.TempDir(), "state")), WithStdin(strings.NewReader("from stdin\n")))
	res, err := sb.Run(ctxFor(t, 30*time.Second), []string{"cat"})
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	if got, want := string(res.Stdout), "from stdin\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPipeline(t *testing.T) {
	requireKernel(t)
	p, _ := hostPolicy(t)
	a, b := newSandbox(t, p), newSandbox(t, p)
	cases := []struct {
		name string
		pipe *Pipeline
		want string
	}{
		{"stage.Pipe", a.Cmd([]string{"echo", "hello"}).Pipe(b.Cmd([]string{"tr", "a-z", "A-Z"})), "HELLO\n"},
		{"Pipe of three", Pipe(a.Cmd([]string{"echo", "hello"}), b.Cmd([]string{"tr", "a-z", "A-Z"}), a.Cmd([]string{"rev"})), "OLLEH\n"},
		{"one stage", Pipe(a.Cmd([]string{"echo", "solo"})), "solo\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := c.pipe.Run(ctxFor(t, 30*time.Second))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got := string(res.Stdout); got != c.want || !res.Success() {
				t.Errorf("got %q (code %d), want %q (code 0)", got, res.ExitCode, c.want)
			}
		})
	}
}

func TestPauseResume(t *testing.T) {
	requireKernel(t)
	p, dir := hostPolicy(t)
	sb := newSandbox(t, p)
	if err := sb.Pause(); !errors.Is(err, ErrSandbox) {
		t.Errorf("Pause when not running: got %v, want a SandboxError", err)
	}
	if got := sb.Pid(); got != 0 {
		t.Errorf("Pid when not running: got %d, want 0", got)
	}
	tick := filepath.Join(dir, "tick")
	done := make(chan *Result, 1)
	go func() {
		res, _ := sb.Run(ctxFor(t, 60*time.Second), []string{"sh", "-c",
			"i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo $i > " + tick + "; sleep 0.05; done"})
		done <- res
	}()
	waitFor(t, func() bool { return sb.Pid() != 0 && fileSize(tick) > 0 })
	if err := sb.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	before := readFile(tick)
	time.Sleep(300 * time.Millisecond)
	if after := readFile(tick); after != before {
		t.Errorf("paused sandbox kept running: tick %q -> %q", before, after)
	}
	if err := sb.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if res := <-done; !res.Success() {
		t.Errorf("after resume: got code %d err %v, want success", res.ExitCode, res.Err)
	}
	if got := sb.Pid(); got != 0 {
		t.Errorf("Pid after the run: got %d, want 0", got)
	}
}

func TestTimeoutKills(t *testing.T) {
	requireKernel(t)
	p, _ := hostPolicy(t)
	start := time.Now()
	res, err := newSandbox(t, p).Run(ctxFor(t, 300*time.Millisecond), []string{"sleep", "30"})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Run took %v after a 300ms timeout", took)
	}
	var ce *ChildError
	if !errors.As(err, &ce) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a *ChildError wrapping context.DeadlineExceeded", err)
	}
	if res == nil || res.Success() || res.Err == nil {
		t.Errorf("got result %+v, want a failed result carrying the error", res)
	}
}

func TestInvalidPolicy(t *testing.T) {
	requireKernel(t)
	bad := spec.Policy{FSReadable: []string{"relative"}}
	_, err := newSandbox(t, bad).Run(context.Background(), []string{"true"})
	var pe *PolicyError
	var spe *spec.PolicyError
	switch {
	case !errors.As(err, &pe):
		t.Errorf("got %v, want a *sandbox.PolicyError", err)
	case !errors.As(err, &spe) || spe.Key != "fs_readable":
		t.Errorf("got %v, want the cause, a *spec.PolicyError for fs_readable", err)
	case !errors.Is(err, ErrSandlock) || !errors.Is(err, ErrPolicy) || errors.Is(err, ErrSandbox):
		t.Errorf("errors.Is on %v: want ErrSandlock and ErrPolicy, not ErrSandbox", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out waiting")
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(bytes.TrimSpace(b))
}
