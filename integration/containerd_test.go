package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandlock/sandlock-runtime/internal/children"
	"golang.org/x/sys/unix"
)

// containerd through the io.containerd.runc.v2 shim, set up as on this project's machines (no
// systemd, cgroup v1 hybrid, no network): a private containerd (own root, state and sockets under
// a temp dir), an image built offline from the busybox rootfs, and `ctr run --runc-binary`.
//
// containerd 1.6's ctr always sends its own runc options to the shim (--runc-binary becomes
// options.BinaryName, --runc-root options.Root), and --runtime-config-path is ignored for
// io.containerd.runc.v2; only the CRI plugin reads a runtime's `options.BinaryName` from
// containerd's config. That path is covered by TestCRI (cri_test.go).

// ctrd is a private containerd.
type ctrd struct {
	dir      string // everything it makes lives here
	sock     string
	runcRoot string // the shim runs the runtime with --root runcRoot/<namespace>
	cgParent string // cgroup2 parent of the containers ("default" for ctr, the pod's for CRI)
	logPath  string
	t        *testing.T // the test that owns it
}

// ctrdOptions tune startContainerd.
type ctrdOptions struct {
	config   func(dir string) string // extra TOML (CRI plugin settings) given the private dir; nil = CRI disabled
	cgParent string                  // top-level cgroup dir name the containers are made under
	prefix   string                  // temp dir prefix
}

// startContainerd starts a containerd whose cleanup (registered on t) stops every task, stops
// the daemon, and checks that no process, mount, runtime state or cgroup is left behind.
func startContainerd(t *testing.T, o ctrdOptions) *ctrd {
	t.Helper()
	d, err := os.MkdirTemp("", o.prefix) // short: sockets live here
	if err != nil {
		t.Fatal(err)
	}
	c := &ctrd{dir: d, sock: filepath.Join(d, "c.sock"), runcRoot: filepath.Join(d, "runc-root"),
		cgParent: o.cgParent, logPath: filepath.Join(d, "containerd.log"), t: t}
	runDirs := []string{"/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc/default",
		"/run/containerd/runc/k8s.io", "/run/containerd/runc", "/run/containerd"}
	had := existing(append(runDirs, "/var/lib/containers")...)
	cg0 := cgSnap(o.cgParent)

	disabled, extra := `disabled_plugins = ["io.containerd.grpc.v1.cri"]`, ""
	if o.config != nil {
		disabled, extra = "", o.config(d)
	}
	cfg := fmt.Sprintf(`version = 2
root = "%[1]s/root"
state = "%[1]s/state"
%[3]s
[grpc]
  address = "%[2]s"
[ttrpc]
  address = "%[2]s.ttrpc"
%[4]s`, d, c.sock, disabled, extra)
	if err := os.WriteFile(filepath.Join(d, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(c.logPath)
	if err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command("containerd", "--config", filepath.Join(d, "config.toml"))
	daemon.Stdout, daemon.Stderr = logf, logf
	daemon.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := children.Start(daemon); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = daemon.Wait(); close(exited) }()

	t.Cleanup(func() {
		for _, ns := range []string{"default", "k8s.io"} {
			for _, id := range strings.Fields(c.ctrNS(t, ns, "task", "ls", "-q").stdout) {
				c.ctrNS(t, ns, "task", "kill", "-s", "SIGKILL", id)
				for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(pollEvery) {
					if st, _ := c.taskStatus(t, ns, id); st != "RUNNING" && st != "PAUSED" {
						break // the kill has landed
					}
				}
				c.ctrNS(t, ns, "task", "delete", "--force", id)
			}
			for _, id := range strings.Fields(c.ctrNS(t, ns, "container", "ls", "-q").stdout) {
				c.ctrNS(t, ns, "container", "delete", id)
			}
		}
		_ = daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = daemon.Process.Kill()
			<-exited
		}
		children.Disown(daemon.Process.Pid)
		logf.Close()
		if left := waitNoOrphans(); len(left) > 0 { // shims were reparented to us
			t.Errorf("processes left after containerd stopped: %v", left)
		}
		for _, ns := range []string{"default", "k8s.io"} {
			if ents, _ := os.ReadDir(filepath.Join(c.runcRoot, ns)); len(ents) > 0 {
				t.Errorf("runtime state left under the shim's --root %s: %d entries", filepath.Join(c.runcRoot, ns), len(ents))
			}
		}
		unmountUnder(t, d)
		if ents, _ := os.ReadDir("/run/containerd/fifo"); !had["/run/containerd/fifo"] && len(ents) > 0 {
			t.Errorf("left under /run/containerd/fifo: %d entries (ctr without --fifo-dir?)", len(ents))
		}
		for _, p := range runDirs {
			if !had[p] {
				_ = os.Remove(p) // only if empty
			}
		}
		if !had["/var/lib/containers"] {
			_ = os.RemoveAll("/var/lib/containers") // skopeo's blob-info cache
		}
		cgClean(t, o.cgParent, cg0)
		if err := os.RemoveAll(d); err != nil {
			t.Errorf("remove %s: %v", d, err)
		}
	})

	deadline := time.Now().Add(waitTimeout)
	for exec.Command("ctr", "-a", c.sock, "version").Run() != nil {
		select {
		case <-exited:
			b, _ := os.ReadFile(c.logPath)
			t.Fatalf("containerd exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(c.logPath)
			t.Fatalf("containerd did not come up within %v:\n%s", waitTimeout, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

// ctr runs ctr against this containerd in its "default" namespace; ctrNS in namespace ns.
func (c *ctrd) ctr(t *testing.T, args ...string) cmdResult {
	t.Helper()
	return c.ctrNS(t, "default", args...)
}

func (c *ctrd) ctrNS(t *testing.T, ns string, args ...string) cmdResult {
	t.Helper()
	return runTool(t, "ctr", append([]string{"-a", c.sock, "-n", ns}, args...)...)
}

// importImage imports a docker-archive into namespace ns.
func (c *ctrd) importImage(t *testing.T, ns, archive string) {
	t.Helper()
	if r := c.ctrNS(t, ns, "image", "import", archive); r.code != 0 {
		t.Fatalf("ctr image import %s: exit %d: %s", archive, r.code, r.stderr)
	}
}

// fifoDir keeps ctr's stdio fifos under the private dir (the default is /run/containerd/fifo,
// and `ctr task exec --detach` leaves its fifos behind there).
func (c *ctrd) fifoDir() string { return filepath.Join(c.dir, "fifo") }

// runFlags are the `ctr run` flags that select sandlock-runtime and keep the shim's runtime
// root and fifos under the private dir.
func (c *ctrd) runFlags() []string {
	return []string{"--runc-root", c.runcRoot, "--fifo-dir", c.fifoDir(), "--runc-binary", runtimeBin}
}

// taskStatus is the STATUS column of `ctr task ls` for id ("" if not listed); pid its PID.
func (c *ctrd) taskStatus(t *testing.T, ns, id string) (status string, pid int) {
	t.Helper()
	for _, line := range strings.Split(c.ctrNS(t, ns, "task", "ls").stdout, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == id {
			pid, _ = strconv.Atoi(f[1])
			return f[2], pid
		}
	}
	return "", 0
}

// waitTask waits until the task's status is want.
func (c *ctrd) waitTask(t *testing.T, ns, id, want string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got, _ := c.taskStatus(t, ns, id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: status %q, want %q after %v", id, got, want, waitTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runtimeState reads the runtime's state.json for id under the shim's --root.
func (c *ctrd) runtimeState(t *testing.T, ns, id string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.runcRoot, ns, id, "state.json"))
	if err != nil {
		t.Fatalf("runtime state of %s: %v", id, err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("runtime state of %s: %v", id, err)
	}
	return st
}

// containerPids lists the processes in the cgroup2 dir of pid (the container's), minus the
// runtime's zygote (the same set `sandlock-runtime ps` reports).
func containerPids(t *testing.T, pid, zygote int) []int {
	t.Helper()
	dir, err := cgroupDirOf(pid)
	if err != nil {
		t.Fatalf("cgroup of %d: %v", pid, err)
	}
	pids, err := procsInCgroup(dir)
	if err != nil {
		t.Fatalf("cgroup.procs of %s: %v", dir, err)
	}
	pids = slices.DeleteFunc(pids, func(p int) bool { return p == zygote })
	slices.Sort(pids)
	return pids
}

// shimPids are the containerd-shim-runc-v2 processes serving id (-id ID on their command line).
func shimPids(id string) []int {
	return pidsByCmdline(func(args []string) bool {
		i := slices.Index(args, "-id")
		return strings.HasSuffix(args[0], "containerd-shim-runc-v2") && i >= 0 && i+1 < len(args) && args[i+1] == id
	})
}

// pidsByCmdline lists the host's processes whose command line (its NUL-separated words)
// match says yes to.
func pidsByCmdline(match func(args []string) bool) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(b) == 0 {
			continue
		}
		if match(strings.Split(string(b), "\x00")) {
			out = append(out, pid)
		}
	}
	return out
}

// checkGone asserts that nothing of container id is left once it was deleted: no process (the
// given pids, the shim), no mount and no bundle under containerd's state dir, no runtime state
// dir under the shim's --root, no cgroup named id.
func (c *ctrd) checkGone(t *testing.T, ns, id string, pids []int) {
	t.Helper()
	if left := waitGone(append(pids, shimPids(id)...)); len(left) > 0 {
		t.Errorf("container %s: processes %v still alive after delete", id, left)
	}
	bundle := filepath.Join(c.dir, "state", "io.containerd.runtime.v2.task", ns, id)
	for _, m := range mountsUnder(bundle) {
		t.Errorf("container %s: mount left: %s", id, m)
	}
	if _, err := os.Stat(bundle); err == nil {
		t.Errorf("container %s: bundle %s left", id, bundle)
	}
	if _, err := os.Stat(filepath.Join(c.runcRoot, ns, id)); err == nil {
		t.Errorf("container %s: runtime state dir %s left", id, filepath.Join(c.runcRoot, ns, id))
	}
	deadline := time.Now().Add(waitTimeout)
	for len(cgroupDirsNamed(id)) > 0 && time.Now().Before(deadline) {
		time.Sleep(pollEvery)
	}
	for _, d := range cgroupDirsNamed(id) {
		procs, _ := procsInCgroup(d)
		t.Errorf("container %s: cgroup %s left behind (procs %v)", id, d, procs)
	}
}

// makeOCIImage builds an image from the busybox rootfs with umoci and writes it as a
// docker-archive tagged localhost/NAME:latest (skopeo), as the recipes do. config replaces the
// default command (/bin/sh) with umoci config flags (--config.entrypoint, --config.cmd: lists
// that append).
func makeOCIImage(t *testing.T, w, name string, config ...string) string {
	t.Helper()
	if len(config) == 0 {
		config = []string{"--config.cmd", "/bin/sh"}
	}
	rootfs := filepath.Join(w, "rootfs")
	if err := copyTree(filepath.Join(templateDir, "rootfs"), rootfs); err != nil {
		t.Fatal(err)
	}
	layout, unpacked := filepath.Join(w, "oci"), filepath.Join(w, "ub")
	steps := [][]string{
		{"umoci", "init", "--layout", layout},
		{"umoci", "new", "--image", layout + ":latest"},
		{"umoci", "unpack", "--image", layout + ":latest", unpacked},
		{"cp", "-a", rootfs + "/.", unpacked + "/rootfs/"},
		{"umoci", "repack", "--image", layout + ":latest", unpacked},
		append([]string{"umoci", "config", "--image", layout + ":latest",
			"--config.workingdir", "/", "--config.env", "PATH=/bin:/sbin"}, config...),
		{"umoci", "gc", "--layout", layout},
	}
	archive := filepath.Join(w, name+"-docker.tar")
	steps = append(steps, []string{"skopeo", "copy", "-q", "oci:" + layout + ":latest",
		"docker-archive:" + archive + ":localhost/" + name + ":latest"})
	for _, s := range steps {
		if r := runTool(t, s[0], s[1:]...); r.code != 0 {
			t.Fatalf("image build: %s: exit %d: %s", strings.Join(s, " "), r.code, r.stderr)
		}
	}
	return archive
}

func TestContainerd(t *testing.T) {
	requireTools(t, "containerd", "ctr", "containerd-shim-runc-v2", "umoci", "skopeo")
	c := startContainerd(t, ctrdOptions{prefix: "slctd-", cgParent: "default"})
	archive := makeOCIImage(t, filepath.Join(c.dir, "img"), "busybox")
	c.importImage(t, "default", archive)
	const image = "localhost/busybox:latest"
	ids := 0
	newCtrID := func(name string) string { ids++; return fmt.Sprintf("%s-%d-%d", name, os.Getpid(), ids) }
	ctrRun := func(t *testing.T, opt, id string, args ...string) cmdResult {
		t.Helper()
		return c.ctr(t, append(append(append([]string{"run", opt}, c.runFlags()...), image, id), args...)...)
	}
	// detached starts a long-running task and returns its init pid.
	detached := func(t *testing.T, id string, args ...string) int {
		t.Helper()
		if r := ctrRun(t, "-d", id, args...); r.code != 0 {
			t.Fatalf("ctr run -d %s: exit %d: %s", id, r.code, r.stderr)
		}
		status, pid := c.taskStatus(t, "default", id)
		if status != "RUNNING" || pid <= 0 {
			t.Fatalf("task %s: status %q pid %d after ctr run -d, want RUNNING", id, status, pid)
		}
		return pid
	}
	// remove deletes a stopped task and its container, checks nothing is left, and returns the
	// task's exit status (ctr task delete warns "exit with non-zero exit code N").
	remove := func(t *testing.T, id string, pids []int) int {
		t.Helper()
		r := c.ctr(t, "task", "delete", id)
		if r.code != 0 {
			t.Errorf("ctr task delete %s: exit %d: %s", id, r.code, r.stderr)
		}
		if r := c.ctr(t, "container", "delete", id); r.code != 0 {
			t.Errorf("ctr container delete %s: exit %d: %s", id, r.code, r.stderr)
		}
		c.checkGone(t, "default", id, pids)
		status := 0
		if _, after, ok := strings.Cut(r.stderr, "exit with non-zero exit code "); ok {
			status, _ = strconv.Atoi(strings.TrimRight(strings.Fields(after)[0], `"`))
		}
		return status
	}

	t.Run("run-echo", func(t *testing.T) {
		id := newCtrID("echo")
		r := ctrRun(t, "--rm", id, "/bin/echo", "hi")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "hi" {
			t.Errorf("ctr run --rm echo hi: exit %d, stdout %q, want 0 and hi: %s", r.code, r.stdout, r.stderr)
		}
		c.checkGone(t, "default", id, nil)
	})
	t.Run("exit-code", func(t *testing.T) {
		id := newCtrID("exit")
		if r := ctrRun(t, "--rm", id, "sh", "-c", "exit 7"); r.code != 7 {
			t.Errorf("ctr run --rm sh -c 'exit 7': exit %d, want 7: %s", r.code, r.stderr)
		}
		c.checkGone(t, "default", id, nil)
	})
	t.Run("exec", func(t *testing.T) {
		id := newCtrID("exec")
		pid := detached(t, id, "sleep", "100")
		if r := c.ctr(t, "task", "exec", "--fifo-dir", c.fifoDir(), "--exec-id", "e1", id, "echo", "exec-ok"); r.code != 0 || strings.TrimSpace(r.stdout) != "exec-ok" {
			t.Errorf("ctr task exec echo: exit %d, stdout %q, want 0 and exec-ok: %s", r.code, r.stdout, r.stderr)
		}
		if r := c.ctr(t, "task", "exec", "--fifo-dir", c.fifoDir(), "--exec-id", "e2", id, "sh", "-c", "exit 5"); r.code != 5 {
			t.Errorf("ctr task exec sh -c 'exit 5': exit %d, want 5: %s", r.code, r.stderr)
		}
		if r := c.ctr(t, "task", "kill", "-s", "SIGKILL", id); r.code != 0 {
			t.Errorf("ctr task kill: exit %d: %s", r.code, r.stderr)
		}
		c.waitTask(t, "default", id, "STOPPED")
		if code := remove(t, id, []int{pid}); code != 137 {
			t.Errorf("task exit status %d after SIGKILL, want 137", code)
		}
	})
	t.Run("kill-sigterm", func(t *testing.T) {
		id := newCtrID("term")
		pid := detached(t, id, "sleep", "100") // no trap: SIGTERM's default action ends it
		if r := c.ctr(t, "task", "kill", id); r.code != 0 {
			t.Errorf("ctr task kill (SIGTERM): exit %d: %s", r.code, r.stderr)
		}
		c.waitTask(t, "default", id, "STOPPED")
		if code := remove(t, id, []int{pid}); code != 143 {
			t.Errorf("task exit status %d after SIGTERM, want 143", code)
		}
	})
	t.Run("resources", func(t *testing.T) {
		// ctr run --memory-limit reaches the memory controller and ctr task metrics reads it (the
		// shim reads the cgroups of init itself); past the limit the task is OOM-killed: 137.
		// (ctr 1.6 has no task update; the shim's update is `update --resources -`, tested
		// in TestResourcesUpdate.)
		id := newCtrID("res")
		r := c.ctr(t, append(append([]string{"run", "-d", "--memory-limit", strconv.Itoa(64 << 20)}, c.runFlags()...), image, id, "sleep", "100")...)
		if r.code != 0 {
			t.Fatalf("ctr run --memory-limit: exit %d: %s", r.code, r.stderr)
		}
		_, pid := c.taskStatus(t, "default", id)
		if m := c.ctr(t, "task", "metrics", id); m.code != 0 || !strings.Contains(m.stdout, strconv.Itoa(64<<20)) {
			t.Errorf("ctr task metrics: exit %d, %q; want the 64M limit (%d): %s", m.code, m.stdout, 64<<20, m.stderr)
		}
		events := c.events(t)
		c.ctr(t, "task", "kill", "-s", "SIGKILL", id)
		c.waitTask(t, "default", id, "STOPPED")
		remove(t, id, []int{pid})
		waitFor(t, "ctr events to show the delete (it is subscribed)", func() bool { return strings.Contains(events(), "/containers/delete") })
		oom := newCtrID("oom")
		o := c.ctr(t, append(append([]string{"run", "--rm", "--memory-limit", strconv.Itoa(32 << 20)}, c.runFlags()...), image, oom, "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1")...)
		if o.code != 137 {
			t.Errorf("ctr run allocating past --memory-limit 32M: exit %d, want 137: %s", o.code, o.stderr)
		}
		c.checkGone(t, "default", oom, nil)
		// The shim watches the memory cgroup of init itself: the OOM is containerd's event.
		waitFor(t, "a /tasks/oom event from ctr events", func() bool {
			return strings.Contains(events(), "/tasks/oom") && strings.Contains(events(), oom)
		})
	})
	t.Run("pause-resume", func(t *testing.T) {
		id := newCtrID("pause")
		pid := detached(t, id, "sh", "-c", "while :; do sleep 0.1; done")
		if r := c.ctr(t, "task", "pause", id); r.code != 0 {
			t.Fatalf("ctr task pause: exit %d: %s", r.code, r.stderr)
		}
		c.waitTask(t, "default", id, "PAUSED")
		if st, _ := children.ReadStat(pid); st.State != 'S' && st.State != 'D' {
			t.Errorf("init %d state %q while paused, want frozen (S/D)", pid, st.State)
		}
		if dir, err := cgroupDirOf(pid); err == nil {
			if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.freeze")); strings.TrimSpace(string(b)) != "1" {
				t.Errorf("%s/cgroup.freeze = %q while paused, want 1", dir, b)
			}
		}
		if r := c.ctr(t, "task", "resume", id); r.code != 0 {
			t.Fatalf("ctr task resume: exit %d: %s", r.code, r.stderr)
		}
		c.waitTask(t, "default", id, "RUNNING")
		if r := c.ctr(t, "task", "exec", "--fifo-dir", c.fifoDir(), "--exec-id", "e1", id, "echo", "resumed"); r.code != 0 || strings.TrimSpace(r.stdout) != "resumed" {
			t.Errorf("ctr task exec after resume: exit %d, stdout %q: %s", r.code, r.stdout, r.stderr)
		}
		c.ctr(t, "task", "kill", "-s", "SIGKILL", id)
		c.waitTask(t, "default", id, "STOPPED")
		remove(t, id, []int{pid})
	})
	t.Run("checkpoint-restore", func(t *testing.T) {
		// the counter appends to a file on a bind mount: the restored task writes to the same
		id := newCtrID("cr")
		out := t.TempDir()
		count := filepath.Join(out, "count")
		counter := []string{"sh", "-c", "i=0; while :; do echo $i >> /out/count; i=$((i+1)); sleep 0.05; done"}
		args := append([]string{"run", "-d", "--mount", "type=bind,src=" + out + ",dst=/out,options=rbind:rw"}, c.runFlags()...)
		if r := c.ctr(t, append(append(args, image, id), counter...)...); r.code != 0 {
			t.Fatalf("ctr run -d: exit %d: %s", r.code, r.stderr)
		}
		waitCount(t, count, -1, 3)
		ref := "localhost/" + id + "-ckpt:latest"
		if r := c.ctr(t, "containers", "checkpoint", "--task", id, ref); r.code != 0 {
			t.Fatalf("ctr containers checkpoint --task: exit %d: %s", r.code, r.stderr)
		}
		c.ctr(t, "task", "kill", "-s", "SIGKILL", id)
		c.waitTask(t, "default", id, "STOPPED")
		remove(t, id, nil)
		last := waitCount(t, count, -1, 0) // what it wrote before it was killed
		if r := c.ctr(t, "containers", "restore", "--live", id, ref); r.code != 0 {
			t.Fatalf("ctr containers restore --live: exit %d: %s", r.code, r.stderr)
		}
		if st, _ := c.taskStatus(t, "default", id); st != "RUNNING" {
			if r := c.ctr(t, "task", "start", "-d", id); r.code != 0 {
				t.Fatalf("ctr task start: exit %d: %s", r.code, r.stderr)
			}
		}
		// containerd's checkpoint leaves the task running: it wrote up to last, the restored
		// one goes on from where the checkpoint was (after 3, at most last), never from 0
		waitFor(t, "the restored counter to write 5 numbers", func() bool {
			b, _ := os.ReadFile(count)
			return len(strings.Fields(string(b))) >= last+6
		})
		b, _ := os.ReadFile(count)
		ns := strings.Fields(string(b))[last+1:]
		first, _ := strconv.Atoi(ns[0])
		if first < 4 || first > last+1 {
			t.Fatalf("the restored counter wrote %v after %d: want it to go on from the checkpoint (4..%d)", ns, last, last+1)
		}
		for i, n := range ns {
			if v, err := strconv.Atoi(n); err != nil || v != first+i {
				t.Fatalf("the restored counter wrote %v", ns)
			}
		}
		c.ctr(t, "task", "kill", "-s", "SIGKILL", id)
		c.waitTask(t, "default", id, "STOPPED")
		remove(t, id, nil)
	})
	t.Run("ps", func(t *testing.T) {
		id := newCtrID("ps")
		pid := detached(t, id, "sh", "-c", "sleep 100 & sleep 100 & wait")
		zygote := 0
		if z, ok := c.runtimeState(t, "default", id)["zygotePid"].(float64); ok {
			zygote = int(z)
		}
		var want, got []int
		for deadline := time.Now().Add(waitTimeout); ; {
			want = containerPids(t, pid, zygote)
			got = nil
			for _, line := range strings.Split(c.ctr(t, "task", "ps", id).stdout, "\n")[1:] {
				if f := strings.Fields(line); len(f) > 0 {
					if p, err := strconv.Atoi(f[0]); err == nil {
						got = append(got, p)
					}
				}
			}
			slices.Sort(got)
			if (len(want) == 3 && slices.Equal(got, want)) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if len(want) != 3 || !slices.Equal(got, want) {
			t.Errorf("ctr task ps %s: pids %v, want the container's 3 processes %v (init %d)", id, got, want, pid)
		}
		if !slices.Contains(got, pid) {
			t.Errorf("ctr task ps %s: %v lacks the init pid %d", id, got, pid)
		}
		c.ctr(t, "task", "kill", "-s", "SIGKILL", id)
		c.waitTask(t, "default", id, "STOPPED")
		remove(t, id, want)
	})
	t.Run("long-running-with-exec-killed-deleted", func(t *testing.T) {
		id := newCtrID("long")
		pid := detached(t, id, "sleep", "1000")
		if r := c.ctr(t, "task", "exec", "--fifo-dir", c.fifoDir(), "--detach", "--exec-id", "bg", id, "sleep", "1000"); r.code != 0 {
			t.Fatalf("ctr task exec --detach: exit %d: %s", r.code, r.stderr)
		}
		zygote := 0
		if z, ok := c.runtimeState(t, "default", id)["zygotePid"].(float64); ok {
			zygote = int(z)
		}
		var pids []int
		for deadline := time.Now().Add(waitTimeout); len(pids) < 2 && time.Now().Before(deadline); {
			pids = containerPids(t, pid, zygote)
			time.Sleep(pollEvery)
		}
		if len(pids) < 2 {
			t.Fatalf("container processes %v: want init and the exec'd sleep", pids)
		}
		// delete --force: containerd kills the task (and `kill --all` reaches the exec'd process)
		if r := c.ctr(t, "task", "delete", "--force", id); r.code != 137 && r.code != 0 {
			t.Errorf("ctr task delete --force: exit %d: %s", r.code, r.stderr)
		}
		if r := c.ctr(t, "container", "delete", id); r.code != 0 {
			t.Errorf("ctr container delete: exit %d: %s", r.code, r.stderr)
		}
		c.checkGone(t, "default", id, append(pids, zygote))
	})
	t.Run("supervisor-crash", func(t *testing.T) {
		id := newCtrID("crash")
		pid := detached(t, id, "sh", "-c", "sleep 1000 & wait")
		st := c.runtimeState(t, "default", id)
		sup, _ := st["supervisorPid"].(float64)
		zygote, _ := st["zygotePid"].(float64)
		if sup <= 0 || !alive(int(sup)) {
			t.Fatalf("supervisorPid %v in %s/default/%s/state.json: not a live process", sup, c.runcRoot, id)
		}
		var pids []int
		for deadline := time.Now().Add(waitTimeout); len(pids) < 2 && time.Now().Before(deadline); {
			pids = containerPids(t, pid, int(zygote))
			time.Sleep(pollEvery)
		}
		if err := unix.Kill(int(sup), unix.SIGKILL); err != nil {
			t.Fatalf("kill -9 supervisor %d: %v", int(sup), err)
		}
		c.waitTask(t, "default", id, "STOPPED")
		if left := waitGone(append(pids, int(zygote))); len(left) > 0 {
			t.Errorf("container processes %v still alive after their supervisor died", left)
		}
		if code := remove(t, id, append(pids, int(sup), int(zygote))); code != 137 {
			t.Errorf("task exit status %d after the supervisor died, want 137 (killed by cgroup.kill)", code)
		}
	})
}

// events starts `ctr events` into a file and returns what it printed so far; the process (this
// test's own) is ended at cleanup.
func (c *ctrd) events(t *testing.T) func() string {
	t.Helper()
	f, err := os.CreateTemp(c.dir, "events-*")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ctr", "-a", c.sock, "events")
	cmd.Stdout = f
	if err := children.Start(cmd); err != nil {
		t.Fatalf("ctr events: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		children.Disown(cmd.Process.Pid)
		f.Close()
	})
	return func() string { b, _ := os.ReadFile(f.Name()); return string(b) }
}

// waitCount reads a counter's log until its last number reaches min, checking that the numbers
// go up by one from after (-1: from the first line); it returns the last number.
func waitCount(t *testing.T, path string, after, min int) int {
	t.Helper()
	var last int
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		last = after
		for i, l := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(l)
			if err != nil || ((i > 0 || after >= 0) && n != last+1) {
				t.Fatalf("%s: %q after %d: the count did not continue where it stopped", path, l, last)
			}
			last = n
		}
		if last >= min && (after < 0 || last > after) {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: the counter stopped at %d, want at least %d", path, last, min)
	return 0
}
