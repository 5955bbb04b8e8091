package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/children"
	"github.com/sandlock/sandlock-runtime/internal/mountinfo"
	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

const (
	cmdTimeout  = 60 * time.Second // one runtime or client command
	waitTimeout = 10 * time.Second // a status change, processes going away
	pollEvery   = 20 * time.Millisecond
)

// requireSetup skips when not root and fails when the binary or the template could not be made.
func requireSetup(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testreq.Missing(t, "not root: integration tests create containers, mounts and cgroups")
	}
	if setupErr != nil {
		t.Fatalf("integration setup: %v", setupErr)
	}
}

// ---- per-test state root and log ----

type testEnv struct {
	dir  string // scratch dir for this test
	root string // --root (not created in advance: the runtime creates it)
	log  string // --log, JSON lines
}

var envs sync.Map // top-level test name -> *testEnv

// envFor returns the test's --root and --log, shared by a test and its subtests. Its cleanup is
// registered at first use, so call it before registering container cleanups: it then runs after
// them and checks the root is empty.
func envFor(t *testing.T) *testEnv {
	t.Helper()
	key, _, _ := strings.Cut(t.Name(), "/")
	if v, ok := envs.Load(key); ok {
		return v.(*testEnv)
	}
	dir, err := os.MkdirTemp("", "slrt-") // short: sockets live under root
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{dir: dir, root: filepath.Join(dir, "root"), log: filepath.Join(dir, "log.json")}
	envs.Store(key, e)
	t.Cleanup(func() {
		envs.Delete(key)
		if ents, err := os.ReadDir(e.root); err == nil {
			for _, ent := range ents {
				t.Errorf("state root: %s left behind", filepath.Join(e.root, ent.Name()))
			}
		}
		for _, m := range mountsUnder(dir) {
			t.Errorf("mount left under the state root: %s", m)
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
		_ = os.RemoveAll(dir)
	})
	return e
}

var idSeq atomic.Int64

// newID returns a container ID unique within the run.
func newID() string { return fmt.Sprintf("it%d-%d", os.Getpid(), idSeq.Add(1)) }

// ---- child processes: owned ones (children.Start) are waited by os/exec, the rest are reaped by children.Reap ----

// waitNoOrphans waits until no process that os/exec does not own is our child (a daemon's
// shims or conmons reparented to us); it returns those still there after waitTimeout.
func waitNoOrphans() []int {
	deadline := time.Now().Add(waitTimeout)
	for {
		left := children.Orphans()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(pollEvery)
	}
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	st, ok := children.ReadStat(pid)
	return ok && st.State != 'Z'
}

// waitGone waits until none of pids exists (reaping our zombies on the way); returns the survivors.
func waitGone(pids []int) []int {
	deadline := time.Now().Add(waitTimeout)
	for {
		children.Reap()
		var left []int
		for _, p := range pids {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(pollEvery)
	}
}

// waitChild waits (bounded) for our child pid and returns its wait status.
func waitChild(t *testing.T, pid int) unix.WaitStatus {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err != nil {
			t.Fatalf("wait4(%d): %v (the pid must be a child of the caller: reparented to its subreaper)", pid, err)
		}
		if got == pid {
			return ws
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d did not exit within %v", pid, waitTimeout)
		}
		time.Sleep(pollEvery)
	}
}

// exitStatus is the shell's view of a wait status: the exit code, or 128+signal.
func exitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// ---- running the runtime ----

type result struct {
	stdout, stderr string
	code           int // exit code; 128+N if the runtime itself died by signal N; -1 if it hung
}

// rt runs the runtime with the test's --root and --log (JSON) before args.
func rt(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	r := rtWith(t, nil, args...)
	return r.stdout, r.stderr, r.code
}

// rtWith is rt with a hook to adjust the command (extra fds, stdin) before it starts.
// stdout and stderr are files, not pipes: a created container inherits them and may hold them
// open long after the runtime exits.
func rtWith(t *testing.T, adjust func(*exec.Cmd), args ...string) result {
	t.Helper()
	cmd, files := rtCommand(t, args...)
	if adjust != nil {
		adjust(cmd)
	}
	r := finish(t, cmd, files, children.Start(cmd), cmdTimeout)
	msg := fmt.Sprintf("$ sandlock-runtime %s -> %d", strings.Join(args, " "), r.code)
	if r.stderr != "" {
		msg += "; stderr: " + strings.TrimSpace(r.stderr)
	}
	t.Log(msg)
	return r
}

func rtCommand(t *testing.T, args ...string) (*exec.Cmd, [2]*os.File) {
	t.Helper()
	e := envFor(t)
	full := append([]string{"--root", e.root, "--log", e.log, "--log-format", "json"}, args...)
	cmd := exec.Command(runtimeBin, full...)
	var files [2]*os.File
	for i := range files {
		f, err := os.CreateTemp(e.dir, "stdio-*")
		if err != nil {
			t.Fatal(err)
		}
		files[i] = f
	}
	cmd.Stdout, cmd.Stderr = files[0], files[1]
	return cmd, files
}

// finish waits (bounded) for a started command and collects its output.
func finish(t *testing.T, cmd *exec.Cmd, files [2]*os.File, startErr error, timeout time.Duration) result {
	t.Helper()
	defer func() {
		for _, f := range files {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if startErr != nil {
		t.Fatalf("start %s: %v", cmd.Path, startErr)
	}
	defer children.Disown(cmd.Process.Pid)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	code := 0
	select {
	case <-done:
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		code = ws.ExitStatus()
		if ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		if !t.Failed() {
			t.Errorf("%s %s: no exit within %v (killed)", cmd.Path, strings.Join(cmd.Args[1:], " "), timeout)
		}
		code = -1
	}
	out, _ := os.ReadFile(files[0].Name())
	errb, _ := os.ReadFile(files[1].Name())
	return result{stdout: string(out), stderr: string(errb), code: code}
}

// rtBackground starts the runtime and returns a function that waits for it (for `run`).
// If the test ends first, its cleanup gives the command a few seconds, then kills it.
func rtBackground(t *testing.T, args ...string) (wait func() result) {
	t.Helper()
	cmd, files := rtCommand(t, args...)
	err := children.Start(cmd)
	var once sync.Once
	var r result
	waitFor := func(timeout time.Duration) result {
		once.Do(func() { r = finish(t, cmd, files, err, timeout) })
		return r
	}
	t.Cleanup(func() { waitFor(3 * time.Second) })
	return func() result { return waitFor(cmdTimeout) }
}

// waitExists polls `state` until the container exists (a background `run` is creating it).
func waitExists(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if _, _, code := rt(t, "state", id); code == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s does not exist %v after run started", id, waitTimeout)
		}
		time.Sleep(pollEvery)
	}
}

// ---- bundles and containers ----

// newBundle makes a bundle: a copy of the template rootfs and the runtime's own `spec` config,
// with process.terminal=false, process.args=args and a writable root.
func newBundle(t *testing.T, args ...string) string {
	t.Helper()
	return newBundleWith(t, nil, args...)
}

// newBundleWith is newBundle with a callback that edits the config before it is written.
func newBundleWith(t *testing.T, mutate func(*specs.Spec), args ...string) string {
	t.Helper()
	requireSetup(t)
	b := t.TempDir()
	// Registered after TempDir, so it runs before the dir is removed: RemoveAll must never
	// descend into something still mounted under the bundle.
	t.Cleanup(func() { checkNoMounts(t, b) })
	if err := copyTree(filepath.Join(templateDir, "rootfs"), filepath.Join(b, "rootfs")); err != nil {
		t.Fatal(err)
	}
	s, err := loadSpec(filepath.Join(templateDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = false
	s.Process.Args = args
	s.Root.Readonly = false
	if mutate != nil {
		mutate(s)
	}
	writeSpec(t, b, s)
	return b
}

func writeSpec(t *testing.T, bundle string, s *specs.Spec) {
	t.Helper()
	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// withHostname sets the hostname (and the UTS namespace that the spec requires for it).
func withHostname(name string) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Hostname = name
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.UTSNamespace {
				return
			}
		}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UTSNamespace})
	}
}

// checkNoMounts fails the test for anything mounted under dir, and unmounts it.
func checkNoMounts(t *testing.T, dir string) {
	t.Helper()
	left := mountsUnder(dir)
	for _, m := range left {
		t.Errorf("mount left under %s: %s", dir, m)
	}
	slices.Reverse(left)
	for _, m := range left {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
}

// track registers the cleanup every container gets: `delete --force`, then no state dir and no
// process left. Call it before the command that may create the container.
func track(t *testing.T, id string) {
	t.Helper()
	e := envFor(t)
	t.Cleanup(func() { checkNoCgroup(t, id) }) // runs after the delete below; also after a failed create
	t.Cleanup(func() {
		stateDir := filepath.Join(e.root, id)
		if _, err := os.Stat(stateDir); err != nil {
			return // never created, or already deleted
		}
		pids := statePids(t, id)
		_, _, _ = rt(t, "delete", "--force", id)
		if left := waitGone(pids); len(left) > 0 {
			t.Errorf("container %s: processes %v still alive after delete --force", id, left)
		}
		if _, err := os.Stat(stateDir); err == nil {
			t.Errorf("container %s: state dir %s left after delete --force", id, stateDir)
			_ = os.RemoveAll(stateDir)
		}
	})
}

// checkNoCgroup fails the test for a cgroup2 directory named id, and removes it.
func checkNoCgroup(t *testing.T, id string) {
	t.Helper()
	for _, d := range cgroupDirsNamed(id) {
		procs, _ := procsInCgroup(d)
		t.Errorf("container %s: cgroup %s left behind (procs %v)", id, d, procs)
		_ = os.Remove(d)
	}
}

// cgroupDirsNamed finds directories named name in the cgroup2 tree (3 levels deep).
func cgroupDirsNamed(name string) []string {
	mnt, err := mountinfo.Cgroup2()
	if err != nil || name == "" {
		return nil
	}
	var out []string
	for _, pat := range []string{"/", "/*/", "/*/*/"} {
		m, _ := filepath.Glob(mnt + pat + name)
		out = append(out, m...)
	}
	return out
}

// statePids is best effort: the container's pids from ps, or its init pid from state.
func statePids(t *testing.T, id string) []int {
	t.Helper()
	if out, _, code := rt(t, "ps", "--format", "json", id); code == 0 {
		var pids []int
		if json.Unmarshal([]byte(out), &pids) == nil && len(pids) > 0 {
			return pids
		}
	}
	if out, _, code := rt(t, "state", id); code == 0 {
		var st struct{ Pid int }
		if json.Unmarshal([]byte(out), &st) == nil && st.Pid > 0 {
			return []int{st.Pid}
		}
	}
	return nil
}

// create runs `create --bundle B --pid-file P ID` and returns the pid from the pid file.
func create(t *testing.T, id, bundle string, extra ...string) int {
	t.Helper()
	track(t, id)
	pidFile := filepath.Join(t.TempDir(), "init.pid")
	args := append([]string{"create", "--bundle", bundle, "--pid-file", pidFile}, extra...)
	if _, stderr, code := rt(t, append(args, id)...); code != 0 {
		t.Fatalf("create %s: exit %d: %s%s", id, code, stderr, lastLogMsg(t))
	}
	return readPidFile(t, pidFile)
}

func readPidFile(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if len(b) == 0 || strings.TrimSpace(string(b)) != string(b) {
		t.Errorf("pid file %q: want a bare number (callers Atoi it: no newline, no spaces)", b)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file %q: not a pid", b)
	}
	return pid
}

func start(t *testing.T, id string) {
	t.Helper()
	if _, stderr, code := rt(t, "start", id); code != 0 {
		t.Fatalf("start %s: exit %d: %s%s", id, code, stderr, lastLogMsg(t))
	}
}

// running creates and starts a container running args; it returns its id, init pid and bundle.
func running(t *testing.T, mutate func(*specs.Spec), args ...string) (id string, pid int, bundle string) {
	t.Helper()
	bundle = newBundleWith(t, mutate, args...)
	id = newID()
	pid = create(t, id, bundle)
	start(t, id)
	waitStatus(t, id, "running")
	return id, pid, bundle
}

// mustState runs `state ID`, which must succeed with nothing on stderr, and decodes it.
func mustState(t *testing.T, id string) map[string]any {
	t.Helper()
	out, stderr, code := rt(t, "state", id)
	if code != 0 {
		t.Fatalf("state %s: exit %d: %s%s", id, code, stderr, lastLogMsg(t))
	}
	if stderr != "" {
		t.Errorf("state %s wrote on stderr (callers merge it into stdout): %q", id, stderr)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("state %s: not JSON: %v: %q", id, err, out)
	}
	return st
}

// waitStatus polls `state` until status is want (reaping exited processes as a shim would).
func waitStatus(t *testing.T, id, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		children.Reap()
		st := mustState(t, id)
		if st["status"] == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: status %v, want %q after %v", id, st["status"], want, waitTimeout)
		}
		time.Sleep(pollEvery)
	}
}

// psPids runs `ps --format json ID`, which must succeed with nothing on stderr.
func psPids(t *testing.T, id string) []int {
	t.Helper()
	out, stderr, code := rt(t, "ps", "--format", "json", id)
	if code != 0 {
		t.Fatalf("ps %s: exit %d: %s%s", id, code, stderr, lastLogMsg(t))
	}
	if stderr != "" {
		t.Errorf("ps %s wrote on stderr (callers merge it into stdout): %q", id, stderr)
	}
	var pids []int
	if err := json.Unmarshal([]byte(out), &pids); err != nil {
		t.Fatalf("ps --format json %s: want a JSON array of pids, got %q: %v", id, out, err)
	}
	return pids
}

// ---- the JSON log ----

type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Time  string `json:"time"`
}

// lastLogLine decodes the last line of the test's --log file.
func lastLogLine(t *testing.T) (logLine, error) {
	t.Helper()
	b, err := os.ReadFile(envFor(t).log)
	if err != nil {
		return logLine{}, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	last := lines[len(lines)-1]
	var l logLine
	if err := json.Unmarshal([]byte(last), &l); err != nil {
		return logLine{}, fmt.Errorf("last log line %q: %w", last, err)
	}
	return l, nil
}

// lastLogMsg is for failure messages: "; log: MSG" or "".
func lastLogMsg(t *testing.T) string {
	t.Helper()
	if l, err := lastLogLine(t); err == nil && l.Msg != "" {
		return "; log: " + l.Msg
	}
	return ""
}

// ---- mounts and cgroups ----

// mountsUnder lists mount points at or under path, in mount order, from /proc/self/mountinfo.
func mountsUnder(path string) []string {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	m, _ := mountinfo.Under(path)
	return m
}

// cgroupDirOf is the cgroup2 directory of pid.
func cgroupDirOf(pid int) (string, error) {
	mnt, err := mountinfo.Cgroup2()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(mnt, rel), nil
		}
	}
	return "", fmt.Errorf("pid %d: no cgroup2 entry in /proc/%d/cgroup", pid, pid)
}

// procsInCgroup reads dir/cgroup.procs.
func procsInCgroup(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// withoutNamespace drops the namespace of type typ from the config.
func withoutNamespace(typ specs.LinuxNamespaceType) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == typ })
	}
}

// supervisorPid reads a container's supervisor pid from its state.json.
func supervisorPid(t *testing.T, id string) int {
	t.Helper()
	var st struct {
		SupervisorPid int `json:"supervisorPid"`
	}
	b, err := os.ReadFile(filepath.Join(envFor(t).root, id, "state.json"))
	if err != nil || json.Unmarshal(b, &st) != nil || st.SupervisorPid <= 0 {
		t.Fatalf("state.json: no supervisor pid: %v %s", err, b)
	}
	return st.SupervisorPid
}

// devNull is the host's /dev/null as a test found it; unchanged fails the test (restoring the
// mode the host needs) when a sandbox changed its mode or times.
func devNull(t *testing.T) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/dev/null", &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func devNullUnchanged(t *testing.T, before unix.Stat_t) {
	t.Helper()
	after := devNull(t)
	if after.Mode != before.Mode || after.Mtim != before.Mtim {
		_ = unix.Chmod("/dev/null", 0o666)
		t.Fatalf("the host's /dev/null changed: mode %o -> %o, mtime %v -> %v", before.Mode, after.Mode, before.Mtim, after.Mtim)
	}
}

// binSet is one directory of test programs built once (testBins).
type binSet struct {
	once sync.Once
	dir  string
	err  error
}

var binSets sync.Map // name -> *binSet

// testBins builds, once per test binary, the static x86-64 test programs of name into
// workDir/name (build gets that directory) and returns it; a test skips on another
// architecture (why says what needs x86-64) and fails when gcc is missing or a build fails.
func testBins(t *testing.T, name, why string, build func(dir string) error) string {
	t.Helper()
	requireSetup(t)
	if runtime.GOARCH != "amd64" {
		t.Skip(why)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		testreq.Missing(t, "needs gcc and a static libc (hack/install-deps.sh)")
	}
	v, _ := binSets.LoadOrStore(name, &binSet{})
	b := v.(*binSet)
	b.once.Do(func() {
		b.dir = filepath.Join(workDir, name)
		if b.err = os.MkdirAll(b.dir, 0o755); b.err == nil {
			b.err = build(b.dir)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.dir
}
