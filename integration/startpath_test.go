package integration

import (
	"os"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// initCommand is the command word of a created container's init (it has not exec'd yet).
func initCommand(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		t.Fatalf("init %d: %v", pid, err)
	}
	args := strings.Split(string(b), "\x00")
	if len(args) < 2 {
		t.Fatalf("init %d: command line %q", pid, b)
	}
	return args[1]
}

// A plain container gets the C init (no Go runtime between create and start); one with a
// startContainer hook the Go init, which runs hooks. Both wait for start confined, and run
// the program in the container's domain after it.
func TestStartPathInit(t *testing.T) {
	requireSetup(t)
	cases := []struct {
		name   string
		mutate func(*specs.Spec)
		want   string
	}{
		{"C init", nil, "init-c"},
		{"Go init for a startContainer hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}}
		}, "init"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBundleWith(t, c.mutate, "sh", "-c", "echo x > /f && grep -c Seccomp_filters /proc/self/status")
			id := newID()
			pid := create(t, id, b)
			if got := initCommand(t, pid); got != c.want {
				t.Errorf("init runs %q, want %q", got, c.want)
			}
			if st := mustState(t, id); st["status"] != "created" {
				t.Errorf("after create: status %v, want created", st["status"])
			}
			start(t, id)
			waitStatus(t, id, "stopped")
			if b, err := os.ReadFile(b + "/rootfs/f"); err != nil || string(b) != "x\n" {
				t.Errorf("the program did not run: %q, %v", b, err)
			}
		})
	}
}

// The C init finds the program and checks cwd at create, with the Go init's errors (the same
// cases with a startContainer hook go through the Go init).
func TestStartPathCInitCreateErrors(t *testing.T) {
	requireSetup(t)
	cases := []struct {
		name   string
		mutate func(*specs.Spec)
		args   []string
		want   string
	}{
		{"missing program", nil, []string{"nosuchprogram"}, `exec: "nosuchprogram": executable file not found in $PATH`},
		{"missing path", nil, []string{"/bin/nosuch"}, `exec: "/bin/nosuch": stat /bin/nosuch: no such file or directory`},
		{"missing cwd", func(s *specs.Spec) { s.Process.Cwd = "/nosuchdir" }, []string{"true"},
			"process.cwd /nosuchdir: stat /nosuchdir: no such file or directory"},
	}
	goInit := func(mutate func(*specs.Spec)) func(*specs.Spec) {
		return func(s *specs.Spec) {
			if mutate != nil {
				mutate(s)
			}
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}}
		}
	}
	for _, c := range cases {
		for _, init := range []string{"C", "Go"} {
			mutate := c.mutate
			if init == "Go" {
				mutate = goInit(c.mutate)
			}
			t.Run(init+" init "+c.name, func(t *testing.T) { checkCreateFails(t, mutate, c.args, c.want) })
		}
	}
}

// checkCreateFails: create of args fails with want and leaves no state dir.
func checkCreateFails(t *testing.T, mutate func(*specs.Spec), args []string, want string) {
	t.Helper()
	b := newBundleWith(t, mutate, args...)
	id := newID()
	track(t, id)
	_, stderr, code := rt(t, "create", "--bundle", b, id)
	if code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("create: exit %d, stderr %q; want a failure containing %q", code, stderr, want)
	}
	if _, err := os.Stat(envFor(t).root + "/" + id); err == nil {
		t.Errorf("failed create left its state dir")
	}
}
