package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// podman (4.3, daemonless, with conmon) drives the runtime as users would, in both ways of
// choosing it: `--runtime /abs/path` (no configuration: podman reads the runtime's log as text)
// and a containers.conf that names it and lists it in runtime_supports_json (podman decodes the
// log as one JSON object). Every case removes its container and then checks that nothing of it
// is left: no process (init, workload, supervisor, conmon), no runtime state dir, no cgroup, no
// mount. Set up as on this project's machines: no systemd (cgroupfs, file events), private
// storage, never podman's default network (it edits the host's iptables).

// podmanStateRoot is the runtime's --root under podman: as root, conmon and podman pass no
// --root, so the runtime's default is used (podman's --runtime-flag root=... is not carried to
// the `container cleanup` exit command, so a pinned root would leak state dirs: docs/podman.md).
const podmanStateRoot = "/run/sandlock-runtime"

type podmanEnv struct {
	w        string   // scratch: storage, runroot, tmpdir, containers.conf, cid files
	storage  []string // global flags: private storage, cgroupfs, file events
	ulimits  []string // run flags every run gets
	image    string
	conf     string   // containers.conf: [engine.runtimes] sandlock = [runtimeBin], runtime = "sandlock"
	mounts0  []string // mounts under w before any container ran
	home     string   // the storage driver's home, which it may bind-mount onto itself
	selectRT []string // global flags choosing the runtime in the current mode
	rtName   string   // the runtime's name in podman's messages in the current mode
}

func TestPodman(t *testing.T) {
	requireTools(t, "podman", "conmon")
	pm := setupPodman(t)
	modes := []struct {
		name string
		conf bool
	}{{"runtime-path", false}, {"containers-conf", true}}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			if m.conf {
				t.Setenv("CONTAINERS_CONF", pm.conf)
				pm.selectRT, pm.rtName = nil, "sandlock"
				if r := pm.podman(t, "info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}"); r.code != 0 ||
					strings.TrimSpace(r.stdout) != "sandlock "+runtimeBin {
					t.Fatalf("podman info with CONTAINERS_CONF: exit %d, %q, want \"sandlock %s\": %s", r.code, r.stdout, runtimeBin, r.stderr)
				}
			} else {
				pm.selectRT, pm.rtName = []string{"--runtime", runtimeBin}, runtimeBin
			}
			for _, c := range podmanCases {
				t.Run(c.name, func(t *testing.T) { c.fn(t, pm) })
			}
		})
	}
}

// setupPodman makes the private storage and the containers.conf, imports the busybox rootfs
// tarball as localhost/bbimport, and registers the cleanup of everything podman may leave.
func setupPodman(t *testing.T) *podmanEnv {
	t.Helper()
	w, err := os.MkdirTemp("", "slpm-")
	if err != nil {
		t.Fatal(err)
	}
	had := existing("/var/lib/containers", "/run/containers")
	cg0 := cgSnap("libpod_parent")
	driver := os.Getenv("PODMAN_STORAGE_DRIVER")
	if driver == "" {
		driver = "overlay"
	}
	// podman's default rlimits (nofile 1048576, nproc pid_max) exceed what this host allows
	// without CAP_SYS_RESOURCE: pin them to the hard limits.
	var rl unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	pm := &podmanEnv{
		w: w,
		storage: []string{"--root", filepath.Join(w, "root"), "--runroot", filepath.Join(w, "runroot"),
			"--tmpdir", filepath.Join(w, "tmp"), "--storage-driver", driver,
			"--cgroup-manager", "cgroupfs", "--events-backend", "file"},
		ulimits: []string{"--ulimit", fmt.Sprintf("nofile=%d:%d", rl.Max, rl.Max), "--ulimit", "nproc=4096:4096"},
		image:   "localhost/bbimport:latest",
		home:    filepath.Join(w, "root", driver),
		conf:    filepath.Join(w, "containers.conf"),
	}
	conf := fmt.Sprintf(`[engine]
runtime = "sandlock"
runtime_supports_json = ["sandlock", "sandlock-runtime", "crun", "runc"]

[engine.runtimes]
sandlock = [%q]
`, runtimeBin)
	if err := os.WriteFile(pm.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Containers made in either mode: the conf names the runtime of the containers-conf ones.
		old, set := os.LookupEnv("CONTAINERS_CONF")
		os.Setenv("CONTAINERS_CONF", pm.conf)
		runTool(t, "podman", append(pm.storage, "rm", "-a", "-f", "-t", "0")...)
		runTool(t, "podman", append(pm.storage, "rmi", "-a", "-f")...)
		if set {
			os.Setenv("CONTAINERS_CONF", old)
		} else {
			os.Unsetenv("CONTAINERS_CONF")
		}
		if left := waitNoOrphans(); len(left) > 0 { // conmon processes are reparented to us
			t.Errorf("processes left after podman rm -a: %v", left)
		}
		unmountUnder(t, w)
		if err := os.RemoveAll(w); err != nil {
			t.Errorf("remove %s: %v", w, err)
		}
		for _, p := range []string{"/var/lib/containers", "/run/containers"} {
			if !had[p] {
				_ = os.RemoveAll(p)
			}
		}
		cgClean(t, "libpod_parent", cg0)
	})
	tarball := filepath.Join(w, "rootfs.tar")
	if r := runTool(t, "tar", "-C", filepath.Join(templateDir, "rootfs"), "-cf", tarball, "."); r.code != 0 {
		t.Fatalf("tar: %s", r.stderr)
	}
	if r := pm.podman(t, "import", "-q", tarball, pm.image); r.code != 0 {
		t.Fatalf("podman import: exit %d: %s", r.code, r.stderr)
	}
	pm.mounts0 = mountsUnder(w)
	return pm
}

// podman runs podman with the private storage and the current mode's runtime selection.
func (pm *podmanEnv) podman(t *testing.T, args ...string) cmdResult {
	t.Helper()
	full := append(append(slices.Clone(pm.storage), pm.selectRT...), args...)
	return runTool(t, "podman", full...)
}

// run is `podman run` with the rlimit pins and --network none unless args choose a network.
func (pm *podmanEnv) run(t *testing.T, args ...string) cmdResult {
	t.Helper()
	full := append([]string{"run"}, pm.ulimits...)
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--network") }) {
		full = append(full, "--network", "none")
	}
	return pm.podman(t, append(full, args...)...)
}

// runCID is run with --cidfile: it also returns the container's ID (empty if none was made).
func (pm *podmanEnv) runCID(t *testing.T, args ...string) (cmdResult, string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "cid")
	r := pm.run(t, append([]string{"--cidfile", f}, args...)...)
	b, _ := os.ReadFile(f)
	return r, strings.TrimSpace(string(b))
}

// podCtr is what a running container is made of, recorded to check that none of it outlives rm.
type podCtr struct {
	name, id string
	pids     []int // init, workload processes, supervisor, conmon
}

// started records a running container: its ID, its processes (the runtime's `ps` and `state`
// with podman's state root, the supervisor from state.json, conmon from podman inspect). It
// also checks the runtime state dir is where the leftover check looks for it.
func (pm *podmanEnv) started(t *testing.T, name string) *podCtr {
	t.Helper()
	c := &podCtr{name: name}
	r := pm.podman(t, "inspect", "--format", "{{.Id}} {{.State.ConmonPid}}", name)
	f := strings.Fields(r.stdout)
	if r.code != 0 || len(f) != 2 {
		t.Fatalf("podman inspect %s: exit %d, %q: %s", name, r.code, r.stdout, r.stderr)
	}
	c.id = f[0]
	if p, err := strconv.Atoi(f[1]); err == nil && p > 0 {
		c.pids = append(c.pids, p)
	}
	t.Cleanup(func() { pm.checkGone(t, c.id, c.pids) })
	stateDir := filepath.Join(podmanStateRoot, c.id)
	if _, err := os.Stat(filepath.Join(stateDir, "state.json")); err != nil {
		t.Fatalf("runtime state of %s not at %s: %v", name, stateDir, err)
	}
	if r := runTool(t, runtimeBin, "--root", podmanStateRoot, "ps", "--format", "json", c.id); r.code == 0 {
		var pids []int
		if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil {
			t.Errorf("runtime ps %s: %q: %v", c.id, r.stdout, err)
		}
		c.pids = append(c.pids, pids...)
	}
	var st struct {
		Pid           int `json:"pid"`
		SupervisorPid int `json:"supervisorPid"`
	}
	if b, err := os.ReadFile(filepath.Join(stateDir, "state.json")); err == nil && json.Unmarshal(b, &st) == nil {
		for _, p := range []int{st.Pid, st.SupervisorPid} {
			if p > 0 && !slices.Contains(c.pids, p) {
				c.pids = append(c.pids, p)
			}
		}
	}
	t.Logf("container %s (%.12s): processes %v", name, c.id, c.pids)
	return c
}

// runDetached starts a container with -d --name and records it.
func (pm *podmanEnv) runDetached(t *testing.T, name string, args ...string) *podCtr {
	t.Helper()
	if r := pm.run(t, append([]string{"-d", "--name", name}, args...)...); r.code != 0 {
		t.Fatalf("podman run -d %s: exit %d: %s", name, r.code, r.stderr)
	}
	return pm.started(t, name)
}

// rm removes a stopped container (podman rm must succeed).
func (pm *podmanEnv) rm(t *testing.T, c *podCtr) {
	t.Helper()
	if r := pm.podman(t, "rm", c.name); r.code != 0 {
		t.Errorf("podman rm %s: exit %d: %s", c.name, r.code, r.stderr)
	}
}

// checkGone fails the test for anything of container id left once podman removed it: pids,
// the runtime's state dir, its cgroup, mounts under podman's storage, orphans of ours (conmon,
// podman's exit command). It cleans up what it reports.
func (pm *podmanEnv) checkGone(t *testing.T, id string, pids []int) {
	t.Helper()
	if id == "" {
		return
	}
	if r := pm.podman(t, "ps", "-a", "-q", "--no-trunc", "--filter", "id="+id); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("container %.12s still listed by podman ps -a: removing it", id)
		pm.podman(t, "rm", "-f", "-t", "0", id)
	}
	if left := waitGone(pids); len(left) > 0 {
		t.Errorf("container %.12s: processes %v still alive after podman rm", id, left)
	}
	stateDir := filepath.Join(podmanStateRoot, id)
	deadline := time.Now().Add(waitTimeout) // --rm: podman's exit command may still be deleting
	for _, err := os.Stat(stateDir); err == nil && time.Now().Before(deadline); _, err = os.Stat(stateDir) {
		time.Sleep(pollEvery)
	}
	if _, err := os.Stat(stateDir); err == nil {
		t.Errorf("container %.12s: runtime state dir %s left after podman rm", id, stateDir)
		runTool(t, runtimeBin, "--root", podmanStateRoot, "delete", "--force", id)
	}
	checkNoCgroup(t, "libpod-"+id)
	for _, m := range mountsUnder(pm.w) {
		if m != pm.home && !slices.Contains(pm.mounts0, m) {
			t.Errorf("container %.12s: mount left after podman rm: %s", id, m)
		}
	}
	if left := waitNoOrphans(); len(left) > 0 {
		t.Errorf("container %.12s: processes left reparented to us after podman rm: %v", id, left)
	}
}

// waitState polls podman inspect until the container's status is want; it returns the exit code.
func (pm *podmanEnv) waitState(t *testing.T, name, want string) int {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		r := pm.podman(t, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name)
		f := strings.Fields(r.stdout)
		if len(f) == 2 && f[0] == want {
			code, _ := strconv.Atoi(f[1])
			return code
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: state %q, want %s after %v", name, r.stdout, want, waitTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pmWantOut checks a command's exit code and trimmed stdout.
func pmWantOut(t *testing.T, what string, r cmdResult, code int, stdout string) {
	t.Helper()
	if r.code != code || strings.TrimSpace(r.stdout) != stdout {
		t.Errorf("%s: exit %d, stdout %q; want exit %d, stdout %q; stderr: %s", what, r.code, r.stdout, code, stdout, r.stderr)
	}
}

// pmWantReadableError checks podman shows the runtime's own message, not a decoding failure.
func pmWantReadableError(t *testing.T, pm *podmanEnv, what string, r cmdResult, phrase string) {
	t.Helper()
	if r.code != 127 {
		t.Errorf("%s: exit %d, want 127 (as crun and runc give): %s", what, r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, phrase) || !strings.Contains(r.stderr, pm.rtName+":") {
		t.Errorf("%s: stderr %q, want the runtime's message (%q) after %q", what, r.stderr, phrase, pm.rtName+":")
	}
	for _, bad := range []string{"invalid character", "cannot unmarshal", "unexpected end of JSON", "no logs from conmon"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("%s: stderr %q: podman could not read the runtime's error (%q)", what, r.stderr, bad)
		}
	}
}

// pmListener listens on 127.0.0.1 and collects what each connection sends.
type pmListener struct {
	ln   net.Listener
	mu   sync.Mutex
	got  []string
	done chan struct{}
}

func pmListen(t *testing.T) *pmListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &pmListener{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			h.mu.Lock()
			h.got = append(h.got, strings.TrimSpace(line))
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-h.done })
	return h
}

func (h *pmListener) port() int { return h.ln.Addr().(*net.TCPAddr).Port }

func (h *pmListener) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

var podmanCases = []struct {
	name string
	fn   func(t *testing.T, pm *podmanEnv)
}{
	{"run-echo", func(t *testing.T, pm *podmanEnv) {
		r, id := pm.runCID(t, "--name", "echo1", pm.image, "echo", "hi")
		defer pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run echo hi", r, 0, "hi")
		if code := pm.waitState(t, "echo1", "exited"); code != 0 {
			t.Errorf("podman inspect echo1: exit code %d, want 0", code)
		}
		if r := pm.podman(t, "rm", "echo1"); r.code != 0 {
			t.Errorf("podman rm echo1: exit %d: %s", r.code, r.stderr)
		}
	}},
	{"rm-flag", func(t *testing.T, pm *podmanEnv) {
		// No PID namespace: $$ is the workload's host pid, and it must be gone.
		r, id := pm.runCID(t, "--rm", pm.image, "sh", "-c", "echo $$; exit 7")
		pid, _ := strconv.Atoi(strings.TrimSpace(r.stdout))
		pm.checkGone(t, id, []int{pid})
		if r.code != 7 || pid <= 0 {
			t.Errorf("podman run --rm sh -c 'echo $$; exit 7': exit %d, stdout %q; want 7 and a pid: %s", r.code, r.stdout, r.stderr)
		}
		if id == "" {
			t.Errorf("podman run --rm --cidfile: no container ID written")
		}
	}},
	{"detach-logs", func(t *testing.T, pm *podmanEnv) {
		pm.runDetached(t, "logs1", pm.image, "sh", "-c", "echo to-out; echo to-err >&2; exec sleep 100")
		var r cmdResult
		for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if r = pm.podman(t, "logs", "logs1"); strings.Contains(r.stdout, "to-out") && strings.Contains(r.stderr, "to-err") {
				break
			}
		}
		if r.code != 0 || strings.TrimSpace(r.stdout) != "to-out" || strings.TrimSpace(r.stderr) != "to-err" {
			t.Errorf("podman logs: exit %d, stdout %q, stderr %q; want to-out on stdout and to-err on stderr", r.code, r.stdout, r.stderr)
		}
		if r := pm.podman(t, "rm", "-f", "-t", "1", "logs1"); r.code != 0 {
			t.Errorf("podman rm -f: exit %d: %s", r.code, r.stderr)
		}
	}},
	{"exec", func(t *testing.T, pm *podmanEnv) {
		c := pm.runDetached(t, "exec1", pm.image, "sleep", "100")
		pmWantOut(t, "podman exec echo", pm.podman(t, "exec", "exec1", "echo", "exec-ok"), 0, "exec-ok")
		pmWantOut(t, "podman exec sh -c 'exit 5'", pm.podman(t, "exec", "exec1", "sh", "-c", "exit 5"), 5, "")
		pmWantOut(t, "podman exec --user --workdir --env", pm.podman(t, "exec", "--user", "65534:65534", "--workdir", "/tmp",
			"--env", "X=y", "exec1", "sh", "-c", `echo "$(id -u):$(id -g) $(pwd) $X"`), 0, "65534:65534 /tmp y")
		pmWantReadableError(t, pm, "podman exec /nonexistent", pm.podman(t, "exec", "exec1", "/nonexistent"), "no such file or directory")
		pmWantReadableError(t, pm, "podman exec nonexistent", pm.podman(t, "exec", "exec1", "nonexistent"), "executable file not found")
		// The failed execs must not have hurt the container.
		pmWantOut(t, "podman exec after failed execs", pm.podman(t, "exec", "exec1", "echo", "still"), 0, "still")
		if r := pm.podman(t, "kill", "exec1"); r.code != 0 {
			t.Errorf("podman kill: exit %d: %s", r.code, r.stderr)
		}
		pm.waitState(t, "exec1", "exited")
		pm.rm(t, c)
	}},
	{"stop-ignores-term", func(t *testing.T, pm *podmanEnv) {
		c := pm.runDetached(t, "stop1", pm.image, "sh", "-c", "trap '' TERM; echo ready; sleep 100")
		pmWaitLog(t, pm, "stop1", "ready")
		t0 := time.Now()
		if r := pm.podman(t, "stop", "-t", "1", "stop1"); r.code != 0 {
			t.Errorf("podman stop -t 1: exit %d: %s", r.code, r.stderr)
		}
		if d := time.Since(t0); d < time.Second {
			t.Errorf("podman stop -t 1 of a container ignoring TERM took %v: want the 1s grace period, then SIGKILL", d)
		}
		if code := pm.waitState(t, "stop1", "exited"); code != 137 {
			t.Errorf("container ignoring TERM: exit code %d after stop, want 137 (SIGKILL)", code)
		}
		pm.rm(t, c)
	}},
	{"stop-handles-term", func(t *testing.T, pm *podmanEnv) {
		c := pm.runDetached(t, "stop2", pm.image, "sh", "-c", "trap 'exit 3' TERM; echo ready; sleep 100 & wait")
		pmWaitLog(t, pm, "stop2", "ready")
		t0 := time.Now()
		if r := pm.podman(t, "stop", "-t", "10", "stop2"); r.code != 0 {
			t.Errorf("podman stop: exit %d: %s", r.code, r.stderr)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("podman stop of a container exiting on TERM took %v", d)
		}
		if code := pm.waitState(t, "stop2", "exited"); code != 3 {
			t.Errorf("container handling TERM with exit 3: exit code %d after stop, want 3", code)
		}
		pm.rm(t, c)
	}},
	{"kill", func(t *testing.T, pm *podmanEnv) {
		c := pm.runDetached(t, "kill1", pm.image, "sh", "-c", "trap 'exit 9' HUP; echo ready; sleep 100 & wait")
		pmWaitLog(t, pm, "kill1", "ready")
		if r := pm.podman(t, "kill", "--signal", "HUP", "kill1"); r.code != 0 {
			t.Errorf("podman kill --signal HUP: exit %d: %s", r.code, r.stderr)
		}
		if code := pm.waitState(t, "kill1", "exited"); code != 9 {
			t.Errorf("after kill --signal HUP: exit code %d, want 9 (the HUP trap)", code)
		}
		pm.rm(t, c)
		c2 := pm.runDetached(t, "kill2", pm.image, "sleep", "100")
		if r := pm.podman(t, "kill", "kill2"); r.code != 0 {
			t.Errorf("podman kill: exit %d: %s", r.code, r.stderr)
		}
		if code := pm.waitState(t, "kill2", "exited"); code != 137 {
			t.Errorf("after podman kill: exit code %d, want 137", code)
		}
		pm.rm(t, c2)
	}},
	{"checkpoint-restore", func(t *testing.T, pm *podmanEnv) {
		if _, err := exec.LookPath("criu"); err != nil {
			// podman asks criu for its version before it calls the runtime (docs/checkpoint.md)
			testreq.Missing(t, "podman checkpoint needs a criu binary to answer its version check (apt-get install criu)")
		}
		pm.runDetached(t, "cr1", pm.image, "sh", "-c", "i=0; while :; do echo $i; i=$((i+1)); sleep 0.05; done")
		counted := func(min int) int {
			t.Helper()
			var last int
			for range 600 {
				r := pm.podman(t, "logs", "cr1")
				ls := strings.Fields(r.stdout)
				for i, l := range ls {
					n, err := strconv.Atoi(l)
					if err != nil || (i > 0 && n != last+1) {
						t.Fatalf("podman logs: %q after %d: the count did not continue where it stopped", l, last)
					}
					last = n
				}
				if last >= min {
					return last
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatalf("the counter stopped at %d, want at least %d", last, min)
			return 0
		}
		n := counted(3)
		if r := pm.podman(t, "container", "checkpoint", "cr1"); r.code != 0 {
			t.Fatalf("podman container checkpoint: exit %d: %s", r.code, r.stderr)
		}
		if r := pm.podman(t, "ps", "-a", "--filter", "name=cr1", "--format", "{{.Status}}"); !strings.HasPrefix(strings.TrimSpace(r.stdout), "Exited") {
			t.Errorf("after checkpoint: %q, want Exited", r.stdout)
		}
		if r := pm.podman(t, "container", "restore", "cr1"); r.code != 0 {
			t.Fatalf("podman container restore: exit %d: %s", r.code, r.stderr)
		}
		n = counted(n + 5)
		export := filepath.Join(t.TempDir(), "cr1.tar.gz")
		if r := pm.podman(t, "container", "checkpoint", "--export", export, "cr1"); r.code != 0 {
			t.Fatalf("podman container checkpoint --export: exit %d: %s", r.code, r.stderr)
		}
		if r := pm.podman(t, "rm", "cr1"); r.code != 0 {
			t.Fatalf("podman rm: exit %d: %s", r.code, r.stderr)
		}
		if r := pm.podman(t, "container", "restore", "--import", export); r.code != 0 {
			t.Fatalf("podman container restore --import: exit %d: %s", r.code, r.stderr)
		}
		counted(n + 5)
		if r := pm.podman(t, "rm", "-f", "-t", "0", "cr1"); r.code != 0 {
			t.Errorf("podman rm -f: exit %d: %s", r.code, r.stderr)
		}
	}},
	{"pause-unpause", func(t *testing.T, pm *podmanEnv) {
		c := pm.runDetached(t, "pause1", pm.image, "sleep", "100")
		if r := pm.podman(t, "pause", "pause1"); r.code != 0 {
			t.Fatalf("podman pause: exit %d: %s", r.code, r.stderr)
		}
		// podman 4.3 lists paused containers only with -a (with crun too).
		r := pm.podman(t, "ps", "-a", "--filter", "name=pause1", "--format", "{{.Status}}")
		if !strings.HasPrefix(strings.TrimSpace(r.stdout), "Paused") {
			t.Errorf("podman ps -a after pause: %q, want Paused", r.stdout)
		}
		if b, err := os.ReadFile(filepath.Join(pmCgroupOf(c.id), "cgroup.events")); err != nil || !strings.Contains(string(b), "frozen 1") {
			t.Errorf("container cgroup after pause: cgroup.events %q (%v), want frozen 1", b, err)
		}
		if r := pm.podman(t, "unpause", "pause1"); r.code != 0 {
			t.Errorf("podman unpause: exit %d: %s", r.code, r.stderr)
		}
		r = pm.podman(t, "ps", "--filter", "name=pause1", "--format", "{{.Status}}")
		if !strings.HasPrefix(strings.TrimSpace(r.stdout), "Up") {
			t.Errorf("podman ps after unpause: %q, want Up", r.stdout)
		}
		pmWantOut(t, "podman exec after unpause", pm.podman(t, "exec", "pause1", "echo", "thawed"), 0, "thawed")
		if r := pm.podman(t, "rm", "-f", "-t", "0", "pause1"); r.code != 0 {
			t.Errorf("podman rm -f: exit %d: %s", r.code, r.stderr)
		}
	}},
	{"init", func(t *testing.T, pm *podmanEnv) {
		if _, err := os.Stat("/usr/libexec/podman/catatonit"); err != nil {
			testreq.Missing(t, "/usr/libexec/podman/catatonit missing (apt-get install catatonit)")
		}
		// No PID namespace: the workload's parent, not pid 1, is podman's init.
		r, id := pm.runCID(t, "--rm", "--init", pm.image, "sh", "-c", `tr '\0' ' ' < /proc/$PPID/cmdline; exit 4`)
		defer pm.checkGone(t, id, nil)
		if r.code != 4 || !strings.HasPrefix(r.stdout, "/run/podman-init -- sh -c") {
			t.Errorf("podman run --init: exit %d, parent %q; want 4 and /run/podman-init as the parent: %s", r.code, r.stdout, r.stderr)
		}
	}},
	{"read-only", func(t *testing.T, pm *podmanEnv) {
		// A plain tmpfs instead of podman's default (tmpcopyup) ones.
		r, id := pm.runCID(t, "--rm", "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,notmpcopyup", pm.image,
			"sh", "-c", "touch /x 2>/dev/null && echo root-writable; touch /tmp/x && echo tmp-ok")
		defer pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run --read-only --tmpfs /tmp", r, 0, "tmp-ok")
	}},
	{"read-only-default-tmpfs", func(t *testing.T, pm *podmanEnv) {
		r, id := pm.runCID(t, "--rm", "--read-only", pm.image,
			"sh", "-c", "touch /x 2>/dev/null && echo root-writable; touch /tmp/x && echo tmp-ok")
		pm.checkGone(t, id, nil)
		// podman's tmpfs mounts for /tmp, /var/tmp and /run carry tmpcopyup.
		pmWantOut(t, "podman run --read-only", r, 0, "tmp-ok")
	}},
	{"volumes", func(t *testing.T, pm *podmanEnv) {
		host := t.TempDir()
		if err := os.WriteFile(filepath.Join(host, "in"), []byte("from-host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, id := pm.runCID(t, "--rm", "-v", host+":/data", pm.image, "sh", "-c", "cat /data/in; echo from-ctr > /data/out")
		pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run -v DIR:/data", r, 0, "from-host")
		if b, err := os.ReadFile(filepath.Join(host, "out")); err != nil || string(b) != "from-ctr\n" {
			t.Errorf("write through -v: host file %q (%v), want from-ctr", b, err)
		}
		r, id = pm.runCID(t, "--rm", "-v", host+":/data:ro", pm.image, "sh", "-c", "cat /data/in; echo x > /data/ro-out")
		pm.checkGone(t, id, nil)
		if r.code == 0 || strings.TrimSpace(r.stdout) != "from-host" || !strings.Contains(r.stderr, "Read-only file system") {
			t.Errorf("write to a :ro volume: exit %d, stdout %q, stderr %q; want a failure with Read-only file system", r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(host, "ro-out")); err == nil {
			t.Errorf("write to a :ro volume reached the host dir")
		}
		for _, m := range mountsUnder(host) {
			t.Errorf("volume source still has a mount: %s", m)
		}
	}},
	{"network-none", func(t *testing.T, pm *podmanEnv) {
		h := pmListen(t)
		r, id := pm.runCID(t, "--rm", "--network", "none", pm.image, "sh", "-c",
			fmt.Sprintf("echo leaked | nc -w 2 127.0.0.1 %d && echo connected; echo done", h.port()))
		pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run --network none: nc to a host listener", r, 0, "done")
		if got := h.received(); len(got) > 0 {
			t.Errorf("--network none: the host listener got %q from the container", got)
		}
	}},
	{"network-host", func(t *testing.T, pm *podmanEnv) {
		h := pmListen(t)
		r, id := pm.runCID(t, "--rm", "--network", "host", pm.image, "sh", "-c",
			fmt.Sprintf("echo hello-host | nc -w 2 127.0.0.1 %d", h.port()))
		pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run --network host: nc to a host listener", r, 0, "")
		deadline := time.Now().Add(waitTimeout)
		for len(h.received()) == 0 && time.Now().Before(deadline) {
			time.Sleep(pollEvery)
		}
		if got := h.received(); !slices.Equal(got, []string{"hello-host"}) {
			t.Errorf("--network host: the host listener got %q, want [hello-host]", got)
		}
	}},
	// net_allow_hosts through podman: the host's network, localhost allowed, 127.0.0.2 refused;
	// /etc/hosts is the runtime's (over podman's own).
	{"net-allow-hosts", func(t *testing.T, pm *podmanEnv) {
		h := pmListen(t)
		den, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		var hits atomic.Int64
		go func() {
			for {
				c, err := den.Accept()
				if err != nil {
					return
				}
				hits.Add(1)
				c.Close()
			}
		}()
		t.Cleanup(func() { den.Close() })
		r, id := pm.runCID(t, "--rm", "--network", "host", "--annotation", "io.sandlock.net_allow_hosts=localhost", pm.image, "sh", "-c",
			fmt.Sprintf("echo hello-allowed | nc -w 2 localhost %d; echo x | nc -w 2 127.0.0.2 %d || echo refused; grep -c sandlock-runtime /etc/hosts",
				h.port(), den.Addr().(*net.TCPAddr).Port))
		pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run --network host --annotation io.sandlock.net_allow_hosts=localhost", r, 0, "refused\n1")
		deadline := time.Now().Add(waitTimeout)
		for len(h.received()) == 0 && time.Now().Before(deadline) {
			time.Sleep(pollEvery)
		}
		if got := h.received(); !slices.Equal(got, []string{"hello-allowed"}) {
			t.Errorf("the allowed listener got %q, want [hello-allowed]", got)
		}
		if hits.Load() != 0 {
			t.Errorf("127.0.0.2 accepted %d connections from the container", hits.Load())
		}
	}},
	// port_remap through podman: the container binds a port the host holds and reaches its
	// own listener on it.
	{"port-remap", func(t *testing.T, pm *podmanEnv) {
		h := pmListen(t)
		r, id := pm.runCID(t, "--rm", "--network", "host", "--annotation", "io.sandlock.port_remap=true", pm.image, "sh", "-c",
			fmt.Sprintf("echo inside | nc -l -p %[1]d & for i in $(seq 100); do out=$(nc -w 2 127.0.0.1 %[1]d </dev/null); [ \"$out\" = inside ] && break; usleep 50000; done; echo \"$out\"; kill %%1 2>/dev/null; true", h.port()))
		pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run --network host --annotation io.sandlock.port_remap=true", r, 0, "inside")
		// Before the container's bind, a connect may reach the host's listener (it sends
		// nothing): the virtual port is the container's only once bound.
		if got := slices.DeleteFunc(h.received(), func(s string) bool { return s == "" }); len(got) != 0 {
			t.Errorf("the host's listener on the port got %q from the container", got)
		}
	}},
	{"user", func(t *testing.T, pm *podmanEnv) {
		r, id := pm.runCID(t, "--rm", "--user", "65534:65534", pm.image, "id")
		defer pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run --user 65534:65534 id", r, 0, "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)")
	}},
	{"env", func(t *testing.T, pm *podmanEnv) {
		r, id := pm.runCID(t, "--rm", "--env", "FOO=bar", pm.image, "sh", "-c", "echo $FOO")
		defer pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run --env FOO=bar", r, 0, "bar")
	}},
	{"workdir", func(t *testing.T, pm *podmanEnv) {
		r, id := pm.runCID(t, "--rm", "--workdir", "/tmp", pm.image, "pwd")
		defer pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run --workdir /tmp pwd", r, 0, "/tmp")
	}},
	// time_start through podman: busybox date reads 2000-01-01 (plus the seconds it takes).
	{"time-start", func(t *testing.T, pm *podmanEnv) {
		r, id := pm.runCID(t, "--rm", "--annotation", "io.sandlock.time_start=946684800", pm.image, "sh", "-c",
			"d=$(date +%s); if [ $d -ge 946684800 ] && [ $d -le 946685100 ]; then echo y2k; else echo $d; fi")
		defer pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run --annotation io.sandlock.time_start=946684800 date", r, 0, "y2k")
	}},
	// docs/podman.md, "Passing a sandlock policy": lists with spaces, since --annotation
	// splits at commas; the CSV-quoted JSON spelling works too.
	{"annotations", func(t *testing.T, pm *podmanEnv) {
		r, id := pm.runCID(t, "--rm", "--annotation", "io.sandlock.fs_readable=/bin /lib /etc",
			"--annotation", "io.sandlock.hostname=box", pm.image, "sh", "-c", "hostname; cat /root/x 2>/dev/null || echo refused")
		pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run --annotation lists with spaces", r, 0, "box\nrefused")
		r, id = pm.runCID(t, "--rm", "--annotation", `"io.sandlock.fs_readable=[""/bin"",""/lib"",""/etc""]"`,
			pm.image, "sh", "-c", "ls / >/dev/null 2>&1 || echo refused")
		pm.checkGone(t, id, nil)
		pmWantOut(t, "podman run --annotation CSV-quoted JSON", r, 0, "refused")
	}},
	// io.sandlock.workdir on a volume: the container's writes land in the host directory when
	// it exits 0 (conmon reaps it; the supervisor records the status for delete), not at all
	// when it fails.
	{"cow-workdir", func(t *testing.T, pm *podmanEnv) {
		for _, c := range []struct {
			script string
			code   int
			landed bool
		}{{"echo new > /data/new && rm /data/old", 0, true}, {"echo new > /data/new && rm /data/old; exit 3", 3, false}} {
			dir, storage := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "old"), []byte("old\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r, id := pm.runCID(t, "--rm", "-v", dir+":/data", "--annotation", "io.sandlock.workdir=/data",
				"--annotation", "io.sandlock.fs_storage="+storage, pm.image, "sh", "-c", c.script)
			pm.checkGone(t, id, nil)
			_, errNew := os.Stat(filepath.Join(dir, "new"))
			_, errOld := os.Stat(filepath.Join(dir, "old"))
			if r.code != c.code || (errNew == nil) != c.landed || (errOld != nil) != c.landed {
				t.Errorf("%q: exit %d (want %d), new there %v, old gone %v, want %v: %s", c.script, r.code, c.code, errNew == nil, errOld != nil, c.landed, r.stderr)
			}
		}
	}},
	// ps inside lists the container's processes only (podman asks for a PID namespace).
	{"ps-inside", func(t *testing.T, pm *podmanEnv) {
		r, id := pm.runCID(t, "--rm", pm.image, "sh", "-c", "ls /proc | grep -c '^[0-9]'")
		pm.checkGone(t, id, nil)
		if n, err := strconv.Atoi(strings.TrimSpace(r.stdout)); r.code != 0 || err != nil || n > 4 {
			t.Errorf("processes in the container's /proc: %q (exit %d), want the container's few", r.stdout, r.code)
		}
	}},
	// podman's default network is a namespace made by podman: refused, saying what works.
	{"default-network", func(t *testing.T, pm *podmanEnv) {
		r, id := pm.runCID(t, "--rm", "--network", "bridge", pm.image, "true")
		pm.checkGone(t, id, nil)
		if r.code == 0 || !strings.Contains(r.stderr, "--network host or --network none") {
			t.Errorf("podman run --network bridge: exit %d, stderr %q; want a refusal naming --network host or none", r.code, r.stderr)
		}
	}},
	{"missing-command", func(t *testing.T, pm *podmanEnv) {
		r, id := pm.runCID(t, "--rm", pm.image, "/nonexistent")
		pm.checkGone(t, id, nil)
		pmWantReadableError(t, pm, "podman run /nonexistent", r, "no such file or directory")
		r, id = pm.runCID(t, "--rm", pm.image, "nonexistent")
		pm.checkGone(t, id, nil)
		pmWantReadableError(t, pm, "podman run nonexistent", r, "executable file not found")
	}},
}

// pmWaitLog waits until the container's log has a line want (its traps are set).
func pmWaitLog(t *testing.T, pm *podmanEnv, name, want string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if r := pm.podman(t, "logs", name); slices.Contains(strings.Fields(r.stdout), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: no %q in its log after %v", name, want, waitTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pmCgroupOf is the container's cgroup2 directory: libpod_parent/libpod-ID (podman's cgroupsPath
// under cgroupfs), wherever the unified hierarchy is mounted.
func pmCgroupOf(id string) string {
	if dirs := cgroupDirsNamed("libpod-" + id); len(dirs) > 0 {
		return dirs[0]
	}
	return "/nonexistent-cgroup-libpod-" + id
}
