package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRunTrue(t *testing.T) {
	b := newBundle(t, "/bin/true")
	id := newID()
	track(t, id)
	if _, stderr, code := rt(t, "run", "--bundle", b, id); code != 0 {
		t.Fatalf("run /bin/true: exit %d, want 0: %s%s", code, stderr, lastLogMsg(t))
	}
	if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
		t.Errorf("run: state dir left after the container exited (run deletes it)")
	}
}

func TestRunStdout(t *testing.T) {
	b := newBundle(t, "/bin/echo", "hello from the container")
	id := newID()
	track(t, id)
	out, stderr, code := rt(t, "run", "--bundle", b, id)
	if code != 0 || out != "hello from the container\n" {
		t.Fatalf("run echo: exit %d, stdout %q, want 0 and %q: %s", code, out, "hello from the container\n", stderr)
	}
}

func TestRunExitCode(t *testing.T) {
	b := newBundle(t, "sh", "-c", "exit 3")
	id := newID()
	track(t, id)
	if _, stderr, code := rt(t, "run", "--bundle", b, id); code != 3 {
		t.Fatalf("run sh -c 'exit 3': exit %d, want 3: %s", code, stderr)
	}
}

func TestRunKilledBySignal(t *testing.T) {
	t.Run("self", func(t *testing.T) {
		b := newBundle(t, "sh", "-c", "kill -KILL $$")
		id := newID()
		track(t, id)
		if _, stderr, code := rt(t, "run", "--bundle", b, id); code != 128+9 {
			t.Fatalf("run of a container killed by SIGKILL: exit %d, want %d: %s", code, 128+9, stderr)
		}
	})
	t.Run("kill-command", func(t *testing.T) {
		b := newBundle(t, "sleep", "100")
		id := newID()
		track(t, id)
		wait := rtBackground(t, "run", "--bundle", b, id)
		waitExists(t, id)
		waitStatus(t, id, "running")
		if _, stderr, code := rt(t, "kill", id, "TERM"); code != 0 {
			t.Fatalf("kill %s TERM: exit %d: %s", id, code, stderr)
		}
		if r := wait(); r.code != 128+int(unix.SIGTERM) {
			t.Fatalf("run of a container killed by SIGTERM: exit %d, want %d: %s", r.code, 128+int(unix.SIGTERM), r.stderr)
		}
	})
}

// A signal sent to `run` in the foreground goes to the container's process (runc's
// behaviour): here a shell that exits 7 on SIGTERM, so the run's exit code says it got it.
func TestRunForwardsSignals(t *testing.T) {
	b := newBundle(t, "sh", "-c", "trap 'exit 7' TERM; touch /tmp/trapped; while :; do sleep 0.05; done")
	id := newID()
	track(t, id)
	wait := rtBackground(t, "run", "--bundle", b, id)
	waitExists(t, id)
	st := waitStatus(t, id, "running")
	pid, _ := st["pid"].(float64)
	rootfs := filepath.Join(b, "rootfs")
	deadline := time.Now().Add(waitTimeout)
	for { // the trap is set once the shell made the file
		if _, err := os.Stat(filepath.Join(rootfs, "tmp", "trapped")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the container's shell never set its trap")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// `run` is the parent of the container's init.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", int(pid)))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	var ppid int
	if _, err := fmt.Sscan(f[1], &ppid); err != nil || ppid <= 1 {
		t.Fatalf("parent of init %d: %q", int(pid), f)
	}
	if err := unix.Kill(ppid, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if r := wait(); r.code != 7 {
		t.Fatalf("run after a SIGTERM to it: exit %d, want 7 (the container's trap): %s", r.code, r.stderr)
	}
}

func TestCreateStartState(t *testing.T) {
	b := newBundle(t, "sh", "-c", "touch /tmp/started; exec sleep 100")
	id := newID()
	pid := create(t, id, b)
	st := mustState(t, id)
	if st["status"] != "created" {
		t.Errorf("after create: status %v, want created", st["status"])
	}
	if got, _ := st["pid"].(float64); int(got) != pid {
		t.Errorf("state pid %v, pid-file pid %d: want equal", st["pid"], pid)
	}
	if st["id"] != id {
		t.Errorf("state id %v, want %s", st["id"], id)
	}
	if st["bundle"] != b {
		t.Errorf("state bundle %v, want %s", st["bundle"], b)
	}
	if v, _ := st["ociVersion"].(string); v == "" {
		t.Errorf("state has no ociVersion: %v", st)
	}
	if !alive(pid) {
		t.Errorf("init pid %d from the pid file is not alive after create", pid)
	}
	started := filepath.Join(b, "rootfs/tmp/started")
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(started); err == nil {
		t.Fatalf("the user program ran before start")
	}
	start(t, id)
	waitStatus(t, id, "running")
	if !waitFile(started) {
		t.Errorf("the user program did not run after start")
	}
	if _, stderr, code := rt(t, "kill", id, "KILL"); code != 0 {
		t.Fatalf("kill %s KILL: exit %d: %s", id, code, stderr)
	}
	waitStatus(t, id, "stopped")
	if _, stderr, code := rt(t, "delete", id); code != 0 {
		t.Fatalf("delete of a stopped container: exit %d: %s%s", code, stderr, lastLogMsg(t))
	}
	if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
		t.Errorf("state dir left after delete")
	}
	_, stderr, code := rt(t, "state", id)
	if code == 0 || !strings.Contains(stderr+lastLogMsg(t), "does not exist") {
		t.Errorf("state after delete: exit %d, stderr %q: want non-zero and \"does not exist\"", code, stderr)
	}
}

func waitFile(path string) bool {
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return true
		}
		time.Sleep(pollEvery)
	}
	return false
}

// The pid in the pid file is the caller's child (a subreaper) and dies as the program does.
func TestInitIsCallersChild(t *testing.T) {
	id, pid, _ := running(t, nil, "sleep", "100")
	if _, stderr, code := rt(t, "kill", id, "TERM"); code != 0 {
		t.Fatalf("kill TERM: exit %d: %s", code, stderr)
	}
	ws := waitChild(t, pid)
	if !ws.Signaled() || ws.Signal() != unix.SIGTERM {
		t.Errorf("init wait status: exit %d signaled %v (%v), want killed by SIGTERM", ws.ExitStatus(), ws.Signaled(), ws.Signal())
	}
	waitStatus(t, id, "stopped")
}

func TestStartTwice(t *testing.T) {
	id, _, _ := running(t, nil, "sleep", "100")
	_, stderr, code := rt(t, "start", id)
	if code == 0 {
		t.Fatalf("second start: exit 0, want an error")
	}
	checkErrorLog(t, "second start", stderr)
	if st := mustState(t, id); st["status"] != "running" {
		t.Errorf("after a refused second start: status %v, want running", st["status"])
	}
}

func TestDeleteRunningNeedsForce(t *testing.T) {
	id, _, _ := running(t, nil, "sleep", "100")
	_, stderr, code := rt(t, "delete", id)
	if code == 0 {
		t.Fatalf("delete of a running container without --force: exit 0, want an error")
	}
	msg := strings.ToLower(stderr + lastLogMsg(t))
	if !strings.Contains(msg, "not stopped") && !strings.Contains(msg, "running") {
		t.Errorf("delete running: message %q, want it to say the container is running / not stopped", msg)
	}
	if st := mustState(t, id); st["status"] != "running" {
		t.Errorf("after a refused delete: status %v, want running", st["status"])
	}
}

func TestKillSignalSpellings(t *testing.T) {
	for _, sig := range []string{"9", "KILL", "SIGKILL", "15", "TERM", "SIGTERM"} {
		t.Run(sig, func(t *testing.T) {
			id, _, _ := running(t, nil, "sleep", "100")
			if _, stderr, code := rt(t, "kill", id, sig); code != 0 {
				t.Fatalf("kill %s %s: exit %d: %s%s", id, sig, code, stderr, lastLogMsg(t))
			}
			waitStatus(t, id, "stopped")
		})
	}
}

// kill --all reaches processes that left the process group and session of init.
func TestKillAll(t *testing.T) {
	id, _, _ := running(t, nil, "sh", "-c", "setsid sleep 100 & (sleep 100 &) ; sleep 100")
	pids := waitPsSleeps(t, id, 3)
	if _, stderr, code := rt(t, "kill", "--all", id, "KILL"); code != 0 {
		t.Fatalf("kill --all %s KILL: exit %d: %s%s", id, code, stderr, lastLogMsg(t))
	}
	if left := waitGone(pids); len(left) > 0 {
		t.Errorf("kill --all: processes %v of the container still exist", left)
	}
	waitStatus(t, id, "stopped")
}

// waitPsSleeps waits until ps lists at least n "sleep" processes and returns all listed pids.
func waitPsSleeps(t *testing.T, id string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		pids := psPids(t, id)
		sleeps := 0
		for _, p := range pids {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); strings.TrimSpace(string(comm)) == "sleep" {
				sleeps++
			}
		}
		if sleeps >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("ps %s: %v has %d sleep processes, want %d", id, pids, sleeps, n)
		}
		time.Sleep(pollEvery)
	}
}

func TestDeleteForceRunning(t *testing.T) {
	id, pid, b := running(t, nil, "sh", "-c", "setsid sleep 100 & sleep 100")
	pids := waitPsSleeps(t, id, 2)
	cg, err := cgroupDirOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	if own, _ := cgroupDirOf(os.Getpid()); own == cg {
		t.Errorf("init is in the caller's cgroup %s, want a cgroup of its own", cg)
		cg = ""
	}
	t.Logf("pids %v, cgroup %s, mounts under the bundle %v", pids, cg, mountsUnder(b))
	if _, stderr, code := rt(t, "delete", "--force", id); code != 0 {
		t.Fatalf("delete --force of a running container: exit %d: %s%s", code, stderr, lastLogMsg(t))
	}
	if left := waitGone(pids); len(left) > 0 {
		t.Errorf("delete --force: processes %v still exist", left)
	}
	if m := mountsUnder(b); len(m) > 0 {
		t.Errorf("delete --force: mounts left under the bundle: %v", m)
	}
	if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
		t.Errorf("delete --force: state dir left")
	}
	if cg != "" {
		if _, err := os.Stat(cg); err == nil {
			procs, _ := procsInCgroup(cg)
			t.Errorf("delete --force: cgroup %s left (procs %v)", cg, procs)
		}
	}
}

func TestPauseResume(t *testing.T) {
	id, _, b := running(t, nil, "sh", "-c", "while :; do echo x >> /tmp/ticks; sleep 0.05; done")
	ticks := filepath.Join(b, "rootfs/tmp/ticks")
	size := func() int64 {
		fi, err := os.Stat(ticks)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	if !waitGrow(size, size()) {
		t.Fatalf("the counter loop is not running")
	}
	if _, stderr, code := rt(t, "pause", id); code != 0 {
		t.Fatalf("pause: exit %d: %s%s", code, stderr, lastLogMsg(t))
	}
	waitStatus(t, id, "paused")
	time.Sleep(100 * time.Millisecond) // a write in flight may still land
	before := size()
	time.Sleep(500 * time.Millisecond)
	if after := size(); after != before {
		t.Errorf("paused container kept running: ticks %d -> %d", before, after)
	}
	if _, stderr, code := rt(t, "resume", id); code != 0 {
		t.Fatalf("resume: exit %d: %s%s", code, stderr, lastLogMsg(t))
	}
	waitStatus(t, id, "running")
	if !waitGrow(size, size()) {
		t.Errorf("resumed container does not run")
	}
}

func waitGrow(size func() int64, from int64) bool {
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if size() > from {
			return true
		}
		time.Sleep(pollEvery)
	}
	return false
}

func TestPs(t *testing.T) {
	id, pid, _ := running(t, nil, "sh", "-c", "sleep 100 & wait")
	pids := waitPsSleeps(t, id, 1)
	if !slices.Contains(pids, pid) {
		t.Errorf("ps %v does not list init %d", pids, pid)
	}
	if len(pids) < 2 {
		t.Errorf("ps %v: want init and its child", pids)
	}
}

func TestList(t *testing.T) {
	created := newID()
	create(t, created, newBundle(t, "sleep", "100"))
	run, _, _ := running(t, nil, "sleep", "100")

	out, stderr, code := rt(t, "list", "-q")
	if code != 0 {
		t.Fatalf("list -q: exit %d: %s", code, stderr)
	}
	ids := strings.Fields(out)
	for _, id := range []string{created, run} {
		if !slices.Contains(ids, id) {
			t.Errorf("list -q %q: %s missing", out, id)
		}
	}

	out, stderr, code = rt(t, "list", "--format", "json")
	if code != 0 {
		t.Fatalf("list --format json: exit %d: %s", code, stderr)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("list --format json: %v: %q", err, out)
	}
	want := map[string]string{created: "created", run: "running"}
	for _, c := range list {
		id, _ := c["id"].(string)
		if w, ok := want[id]; ok {
			if c["status"] != w {
				t.Errorf("list: %s status %v, want %s", id, c["status"], w)
			}
			if c["owner"] != "root" { // runc's list: the user owning the state dir
				t.Errorf("list: %s owner %q, want root", id, c["owner"])
			}
			delete(want, id)
		}
	}
	for id := range want {
		t.Errorf("list --format json: %s missing from %s", id, out)
	}
}

// state and ps are read with stderr merged into stdout by callers.
func TestStateAndPsQuiet(t *testing.T) {
	id, pid, _ := running(t, nil, "sleep", "100")
	st := mustState(t, id) // fails on stderr output
	if got, _ := st["pid"].(float64); int(got) != pid {
		t.Errorf("state pid %v, want %d", st["pid"], pid)
	}
	pids := psPids(t, id) // fails on stderr output
	if !slices.Contains(pids, pid) {
		t.Errorf("ps %v does not list init %d", pids, pid)
	}
}

func TestVersionAndFeatures(t *testing.T) {
	requireSetup(t)
	out, stderr, code := rt(t, "--version")
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	out, stderr, code = rt(t, "features")
	if code != 0 {
		t.Fatalf("features: exit %d: %s", code, stderr)
	}
	var f struct {
		OCIVersionMin string `json:"ociVersionMin"`
		OCIVersionMax string `json:"ociVersionMax"`
		Linux         struct {
			Namespaces []string `json:"namespaces"`
		} `json:"linux"`
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("features: not JSON: %v: %q", err, out)
	}
	if f.OCIVersionMin == "" || f.OCIVersionMax == "" {
		t.Errorf("features: ociVersionMin/Max missing: %s", out)
	}
	if slices.Contains(f.Linux.Namespaces, "user") {
		t.Errorf("features advertises user namespaces, which are refused: %v", f.Linux.Namespaces)
	}
}

// TestSecondContainerSameBundle: runc runs two containers from one bundle (each in its own
// mount namespace); here the first one's mounts are on the rootfs, in the host's mount table,
// so the second is refused saying why, and leaves nothing behind.
func TestSecondContainerSameBundle(t *testing.T) {
	_, _, bundle := running(t, nil, "sleep", "100")
	id := newID()
	track(t, id)
	r := rtWith(t, nil, "run", "-d", "--bundle", bundle, id)
	if r.code == 0 || !strings.Contains(r.stderr, "another container running from this bundle") {
		t.Errorf("second run -d from the same bundle: exit %d, stderr %q; want a refusal naming the shared bundle", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
		t.Errorf("the refused container left its state dir")
	}
}

// TestConsoleSocketWithoutTerminal: as runc, a console socket for a process without a
// terminal is refused (create and exec), and the refused create leaves nothing.
func TestConsoleSocketWithoutTerminal(t *testing.T) {
	const want = "cannot use console socket if runc will not detach or allocate tty"
	b := newBundle(t, "sleep", "100")
	id := newID()
	track(t, id)
	sock := filepath.Join(t.TempDir(), "console.sock")
	if r := rtWith(t, nil, "create", "--bundle", b, "--console-socket", sock, id); r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("create --console-socket, terminal false: exit %d, stderr %q; want %q", r.code, r.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
		t.Errorf("the refused create left its state dir")
	}
	rid, _, _ := running(t, nil, "sleep", "100")
	if r := rtWith(t, nil, "exec", "--console-socket", sock, rid, "true"); r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("exec --console-socket without --tty: exit %d, stderr %q; want %q", r.code, r.stderr, want)
	}
}
