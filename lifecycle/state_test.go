package lifecycle

import (
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckTransitions(t *testing.T) {
	cases := []struct {
		op   string
		st   Status
		want error // nil = allowed; sentinel or *TransitionError
	}{
		{"start", Created, nil},
		{"start", Running, &TransitionError{}},
		{"start", Stopped, &TransitionError{}},
		{"kill", Running, nil},
		{"kill", Created, nil},
		{"kill", Paused, nil},
		{"kill", Stopped, ErrNotRunning},
		{"delete", Stopped, nil},
		{"delete", Created, nil},
		{"delete", Running, &TransitionError{}},
		{"delete", Paused, &TransitionError{}},
		{"exec", Running, nil},
		{"exec", Created, nil},
		{"exec", Stopped, &TransitionError{}},
		{"exec", Paused, &TransitionError{}},
		{"pause", Running, nil},
		{"pause", Created, ErrNotRunning},
		{"pause", Stopped, ErrNotRunning},
		{"resume", Paused, nil},
		{"resume", Running, ErrNotPaused},
	}
	for _, c := range cases {
		err := check(c.op, "c1", c.st)
		var te *TransitionError
		switch want := c.want.(type) {
		case nil:
			if err != nil {
				t.Errorf("%s on %s: got %v, want allowed", c.op, c.st, err)
			}
		case *TransitionError:
			if !errors.As(err, &te) || te.Op != c.op || te.Status != c.st {
				t.Errorf("%s on %s: got %v, want a TransitionError", c.op, c.st, err)
			}
		default:
			if !errors.Is(err, want) {
				t.Errorf("%s on %s: got %v, want %v", c.op, c.st, err, want)
			}
		}
	}
}

func TestTransitionMessagesMatchRunc(t *testing.T) {
	cases := []struct {
		op   string
		st   Status
		want string
	}{
		{"start", Stopped, "cannot start a container that has stopped"},
		{"start", Running, "cannot start an already running container"},
		{"delete", Running, "cannot delete container c1 that is not stopped: running"},
		{"exec", Stopped, "cannot exec in a stopped container"},
	}
	for _, c := range cases {
		if got := check(c.op, "c1", c.st).Error(); got != c.want {
			t.Errorf("%s on %s: got %q, want %q", c.op, c.st, got, c.want)
		}
	}
}

func TestStatusDerivation(t *testing.T) {
	self, ok := procStartTime(os.Getpid())
	if !ok {
		t.Fatal("cannot read our own start time")
	}
	cases := []struct {
		name  string
		state *State
		want  Status
	}{
		{"no state.json", nil, Creating},
		{"init alive, not started", &State{Pid: os.Getpid(), PidStart: self}, Created},
		{"init alive, started", &State{Pid: os.Getpid(), PidStart: self, Started: true}, Running},
		{"pid reused", &State{Pid: os.Getpid(), PidStart: self + 1, Started: true}, Stopped},
		{"init gone", &State{Pid: 1 << 30, Started: true}, Stopped},
	}
	for _, c := range cases {
		cont := &Container{dir: t.TempDir(), State: c.state}
		if got := cont.Status(); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestLoadMissingAndCreating(t *testing.T) {
	root := t.TempDir()
	if _, err := Load(root, "nope"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("missing container: got %v, want ErrNotExist", err)
	}
	if _, err := Load(root, "../x"); err == nil {
		t.Fatal("Load accepted an invalid id")
	}
	if err := os.Mkdir(filepath.Join(root, "c1"), 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := Load(root, "c1")
	if err != nil || c.Status() != Creating {
		t.Fatalf("state dir without state.json: got %v, %v; want creating", c, err)
	}
}

func TestSaveIsAtomicAndRoundTrips(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &Container{dir: dir, State: &State{ID: "c1", Pid: 42, Started: true}}
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	got, err := Load(filepath.Dir(dir), "c1")
	if err != nil || got.State.Pid != 42 || !got.State.Started {
		t.Fatalf("round trip: got %+v, %v", got.State, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp files left behind: %v", ents)
	}
}

func TestCgroupDirFor(t *testing.T) {
	cases := []struct {
		path    string
		systemd bool
		want    string
	}{
		{"", false, "/m/sandlock-runtime/c1"},
		{"/default/c1", false, "/m/default/c1"},
		{"/../../etc", false, "/m/etc"},
		{"machine.slice:libpod:abc", false, "/m/machine.slice/libpod-abc.scope"},
		{"", true, "/m/system.slice/sandlock-runtime-c1.scope"},
		{"kubepods-burstable-pod123.slice:cri-containerd:abc", true,
			"/m/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice/cri-containerd-abc.scope"},
		{":docker:1234", true, "/m/system.slice/docker-1234.scope"},
		{"-.slice:p:n", true, "/m/p-n.scope"},
		{"user-1000.slice::n", true, "/m/user.slice/user-1000.slice/n.scope"},
		{"kubepods.slice:p:kubepods-besteffort.slice", true, "/m/kubepods.slice/kubepods-besteffort.slice"},
	}
	for _, c := range cases {
		got, sd, err := cgroupDirFor("/m", c.path, "c1", c.systemd)
		if err != nil || got != c.want {
			t.Errorf("cgroupDirFor(%q, systemd=%v): got %s, %v; want %s", c.path, c.systemd, got, err, c.want)
		}
		if (sd != nil) != (c.systemd || strings.Contains(c.path, ":")) {
			t.Errorf("cgroupDirFor(%q): systemd unit %+v", c.path, sd)
		}
	}
	for _, bad := range []string{"/a/b", "a:b", "a:b:c:d", "kube--pods.slice:p:n", "-kube.slice:p:n",
		"kubepods:p:n", "a/b.slice:p:n", "x.slice:p:", "x.slice:p/q:n", ".slice:p:n"} {
		if got, _, err := cgroupDirFor("/m", bad, "c1", true); err == nil {
			t.Errorf("cgroupDirFor(%q, systemd): got %s, want an error", bad, got)
		}
	}
}

func TestExitCode(t *testing.T) {
	// raw wait statuses: exit 3 = 3<<8; killed by signal 9 = 9
	if got := exitCode(3 << 8); got != 3 {
		t.Errorf("exit 3: got %d", got)
	}
	if got := exitCode(9); got != 137 {
		t.Errorf("SIGKILL: got %d, want 137", got)
	}
}

// TestWriteFileNewWriteError: a write that fails (here past RLIMIT_FSIZE: EFBIG after the
// first byte) is create's error, not a panic on the -1 write(2) returns.
func TestWriteFileNewWriteError(t *testing.T) {
	signal.Ignore(unix.SIGXFSZ)
	defer signal.Reset(unix.SIGXFSZ)
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 1, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	err := writeFileNew(filepath.Join(t.TempDir(), "config.json"), []byte("{}\n"), 0o600)
	if rerr := unix.Setrlimit(unix.RLIMIT_FSIZE, &old); rerr != nil {
		t.Fatal(rerr)
	}
	if !errors.Is(err, unix.EFBIG) {
		t.Fatalf("writeFileNew past the file size limit: %v, want EFBIG", err)
	}
}
