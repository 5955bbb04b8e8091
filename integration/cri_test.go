package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// The Kubernetes path (docs/kubernetes.md): containerd 1.6 with the CRI plugin and a runtime
// handler `sandlock` (runtime_type io.containerd.runc.v2, options.BinaryName = the runtime), driven
// by crictl as the kubelet would drive it, with a pod that uses the host's network, PID and IPC
// namespaces (the only kind sandlock-runtime can run: it joins no namespace by path).
//
// crictl is built from the Go module proxy by hack/cri-crictl.sh and cached in /tmp. The test
// runs when it is cached (or SANDLOCK_CRICTL names one); SANDLOCK_CRI=1 (make cri-test) builds it
// when missing. Otherwise it skips, saying so.

const envCRI = "SANDLOCK_CRI"

// crictlBinary finds or (with SANDLOCK_CRI=1) builds crictl; "" with the reason when neither.
func crictlBinary(t *testing.T) (string, string) {
	t.Helper()
	if p := os.Getenv("SANDLOCK_CRICTL"); p != "" {
		return p, ""
	}
	script := filepath.Join(repoRoot, "hack", "cri-crictl.sh")
	cache := os.Getenv("CRICTL_CACHE")
	if cache == "" {
		cache = filepath.Join(os.TempDir(), "sandlock-cri-cache")
	}
	version := os.Getenv("CRICTL_VERSION")
	if version == "" {
		version = "v1.34.0"
	}
	cached := filepath.Join(cache, "crictl-"+version, "crictl")
	if _, err := os.Stat(cached); err == nil {
		return cached, ""
	}
	if os.Getenv(envCRI) != "1" {
		return "", fmt.Sprintf("crictl is not built (%s): `make cri-test` or %s=1 builds it from the Go module proxy", cached, envCRI)
	}
	start := time.Now()
	cmd := exec.Command(script)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return "", fmt.Sprintf("crictl could not be built by %s: %v\n%s", script, err, stderr)
	}
	t.Logf("built crictl in %v", time.Since(start).Round(time.Second))
	return strings.TrimSpace(string(out)), ""
}

// criEnv is a private containerd with the CRI handler `sandlock`, and crictl against it.
type criEnv struct {
	c       *ctrd
	crictl  string
	cfgFile string
}

// newCRI starts the containerd; systemd sets the handler's SystemdCgroup option (the shim then
// passes --systemd-cgroup, and cgroup parents are slices).
func newCRI(t *testing.T, cgParent string, systemd bool) *criEnv {
	t.Helper()
	requireTools(t, "containerd", "ctr", "containerd-shim-runc-v2", "umoci", "skopeo")
	crictl, why := crictlBinary(t)
	if crictl == "" {
		testreq.Missing(t, why)
	}
	// The CRI plugin's runtime table is where options.BinaryName is read from a config file:
	// the default runtime stays runc, the pod asks for the handler "sandlock".
	// restrict_oom_score_adj: the sandbox asks for oomScoreAdj -998, which needs CAP_SYS_RESOURCE
	// (these machines don't give it, so runc fails the same way); the option caps it at
	// containerd's own score.
	cfg := func(dir string) string {
		return fmt.Sprintf(`[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:latest"
  disable_cgroup = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "%[1]s/cni/bin"
    conf_dir = "%[1]s/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.sandlock]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.sandlock.options]
        BinaryName = "%[2]s"
        Root = "%[1]s/runc-root"
        SystemdCgroup = %[3]v
`, dir, runtimeBin, systemd)
	}
	c := startContainerd(t, ctrdOptions{prefix: "slcri-", cgParent: cgParent, config: cfg})

	w := filepath.Join(c.dir, "img")
	c.importImage(t, "k8s.io", makeOCIImage(t, filepath.Join(w, "busybox"), "busybox"))
	// The pod's sandbox ("pause") container: busybox sleeping until killed.
	c.importImage(t, "k8s.io", makeOCIImage(t, filepath.Join(w, "pause"), "pause",
		"--config.entrypoint", "/bin/sleep", "--config.cmd", "infinity"))

	e := &criEnv{c: c, crictl: crictl, cfgFile: filepath.Join(c.dir, "crictl.yaml")}
	if err := os.WriteFile(e.cfgFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *criEnv) cri(t *testing.T, args ...string) cmdResult {
	t.Helper()
	ep := "unix://" + e.c.sock
	return runTool(t, e.crictl, append([]string{"-c", e.cfgFile, "-r", ep, "-i", ep, "--timeout", "30s"}, args...)...)
}

func (e *criEnv) inspect(t *testing.T, what, id string) map[string]any {
	t.Helper()
	r := e.cri(t, what, "-o", "json", id)
	var m map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &m) != nil {
		t.Fatalf("crictl %s %s: exit %d: %s", what, id, r.code, r.stderr)
	}
	return m
}

// jsonField walks a decoded JSON document along path (nil when it is not there).
func jsonField(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func TestCRI(t *testing.T) {
	cgParent := fmt.Sprintf("slcri-%d", os.Getpid())
	e := newCRI(t, cgParent, false)
	c, cri, inspect, field := e.c, e.cri, e.inspect, jsonField
	hostNS := `"security_context":{"namespace_options":{"network":2,"pid":2,"ipc":2}}` // NODE
	podJSON := filepath.Join(c.dir, "pod.json")
	pod := fmt.Sprintf(`{"metadata":{"name":"confined","namespace":"default","uid":"sl-%d","attempt":0},
 "log_directory":"%s/logs","linux":{"cgroup_parent":"/%s",%s}}`, os.Getpid(), c.dir, cgParent, hostNS)
	ctrJSON := filepath.Join(c.dir, "ctr.json")
	ctrCfg := fmt.Sprintf(`{"metadata":{"name":"app"},"image":{"image":"localhost/busybox:latest"},
 "command":["sh","-c","echo started; sleep 1000"],"log_path":"app.log",
 "linux":{"resources":{"memory_limit_in_bytes":67108864,"cpu_period":100000,"cpu_quota":50000},%s}}`, hostNS)
	for p, s := range map[string]string{podJSON: pod, ctrJSON: ctrCfg} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// ---- the pod sandbox, through the handler `sandlock` ----
	r := cri(t, "runp", "--runtime", "sandlock", podJSON)
	if r.code != 0 {
		b, _ := os.ReadFile(c.logPath)
		t.Fatalf("crictl runp --runtime sandlock: exit %d: %s\ncontainerd log:\n%s", r.code, r.stderr, b)
	}
	podID := strings.TrimSpace(r.stdout)
	podGone := false
	t.Cleanup(func() {
		if !podGone {
			cri(t, "stopp", podID)
			cri(t, "rmp", "-f", podID)
		}
	})
	pi := inspect(t, "inspectp", podID)
	if st := field(pi, "status", "state"); st != "SANDBOX_READY" {
		t.Errorf("pod %s: state %v, want SANDBOX_READY", podID, st)
	}
	podPid := 0
	if p, ok := field(pi, "info", "pid").(float64); ok {
		podPid = int(p)
	}
	// BinaryName was used: sandlock-runtime's state for the sandbox is under the options' Root,
	// and the pause process is in the cgroup the runtime made under the pod's cgroup parent.
	podState := c.runtimeState(t, "k8s.io", podID)
	if int(podState["pid"].(float64)) != podPid || !alive(podPid) {
		t.Errorf("sandbox: runtime state pid %v, CRI pid %d: want the same live process", podState["pid"], podPid)
	}
	if dir, err := cgroupDirOf(podPid); err != nil || !strings.HasSuffix(dir, "/"+cgParent+"/"+podID) {
		t.Errorf("sandbox process %d: cgroup %s (%v), want .../%s/%s", podPid, dir, err, cgParent, podID)
	}

	// ---- a container in the pod ----
	t.Run("container", func(t *testing.T) {
		r := cri(t, "create", podID, ctrJSON, podJSON)
		if r.code != 0 {
			t.Fatalf("crictl create: exit %d: %s", r.code, r.stderr)
		}
		id := strings.TrimSpace(r.stdout)
		defer func() {
			cri(t, "rm", "-f", id)
			c.checkGone(t, "k8s.io", id, nil)
		}()
		// containerd 1.6 makes every container of a pod join the sandbox's namespaces by path
		// (/proc/<pause pid>/ns/<type>); the runtime translates that (lifecycle/joinns.go).
		if r := cri(t, "start", id); r.code != 0 {
			t.Fatalf("crictl start: exit %d: %s", r.code, r.stderr)
		}
		ci := inspect(t, "inspect", id)
		if st := field(ci, "status", "state"); st != "CONTAINER_RUNNING" {
			t.Errorf("container %s: state %v, want CONTAINER_RUNNING", id, st)
		}
		pid := 0
		if p, ok := field(ci, "info", "pid").(float64); ok {
			pid = int(p)
		}
		if st := c.runtimeState(t, "k8s.io", id); int(st["pid"].(float64)) != pid {
			t.Errorf("container: runtime state pid %v, CRI pid %d", st["pid"], pid)
		}
		if r := cri(t, "exec", "-s", id, "echo", "exec-ok"); r.code != 0 || strings.TrimSpace(r.stdout) != "exec-ok" {
			t.Errorf("crictl exec -s echo exec-ok: exit %d, stdout %q: %s", r.code, r.stdout, r.stderr)
		}
		if r := cri(t, "exec", "-s", id, "sh", "-c", "exit 3"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "exited with 3") {
			t.Errorf("crictl exec -s sh -c 'exit 3': exit %d, want an error naming exit code 3: %s%s", r.code, r.stdout, r.stderr)
		}
		checkCRIResources(t, cri, id, pid)
		if r := cri(t, "stop", "--timeout", "5", id); r.code != 0 {
			t.Errorf("crictl stop: exit %d: %s", r.code, r.stderr)
		}
		ci = inspect(t, "inspect", id)
		if st, code := field(ci, "status", "state"), field(ci, "status", "exitCode"); st != "CONTAINER_EXITED" || code != float64(143) {
			t.Errorf("after crictl stop: state %v exit code %v, want CONTAINER_EXITED 143 (SIGTERM)", st, code)
		}
		if left := waitGone([]int{pid}); len(left) > 0 {
			t.Errorf("container init %d alive after stop", pid)
		}
		if b, err := os.ReadFile(filepath.Join(c.dir, "logs", "app.log")); err != nil || !strings.Contains(string(b), "started") {
			t.Errorf("container log %s: %q (%v), want the container's stdout", filepath.Join(c.dir, "logs", "app.log"), b, err)
		}
		if r := cri(t, "rm", id); r.code != 0 {
			t.Errorf("crictl rm: exit %d: %s", r.code, r.stderr)
		}
		c.checkGone(t, "k8s.io", id, []int{pid})
	})

	// ---- tear the pod down ----
	if r := cri(t, "stopp", podID); r.code != 0 {
		t.Errorf("crictl stopp: exit %d: %s", r.code, r.stderr)
	}
	if r := cri(t, "rmp", podID); r.code != 0 {
		t.Errorf("crictl rmp: exit %d: %s", r.code, r.stderr)
	}
	podGone = true
	c.checkGone(t, "k8s.io", podID, []int{podPid})
}

// checkCRIResources: the pod's limits reach the container's controllers, the kubelet's view of
// them (crictl stats) reads its usage, and crictl update (UpdateContainerResources) changes them.
func checkCRIResources(t *testing.T, cri func(*testing.T, ...string) cmdResult, id string, pid int) {
	t.Helper()
	mem := controllerDir(t, pid, "memory")
	if got := readCgroupFile(t, mem, "memory.limit_in_bytes"); got != "67108864" {
		t.Errorf("CRI memory_limit_in_bytes 64M: memory.limit_in_bytes = %s", got)
	}
	if got := readCgroupFile(t, controllerDir(t, pid, "cpu"), "cpu.cfs_quota_us"); got != "50000" {
		t.Errorf("CRI cpu_quota 50000: cpu.cfs_quota_us = %s", got)
	}
	r := cri(t, "stats", "-o", "json", id)
	nonZero := func(key string) bool {
		return regexp.MustCompile(`"` + key + `":\s*\{\s*"value":\s*"?[1-9]`).MatchString(r.stdout)
	}
	if r.code != 0 || !nonZero("workingSetBytes") || !nonZero("usageCoreNanoSeconds") {
		t.Errorf("crictl stats: exit %d, %.400q; want memory and cpu usage: %s", r.code, r.stdout, r.stderr)
	}
	if r := cri(t, "update", "--memory", "134217728", id); r.code != 0 {
		t.Errorf("crictl update --memory: exit %d: %s", r.code, r.stderr)
	}
	if got := readCgroupFile(t, mem, "memory.limit_in_bytes"); got != "134217728" {
		t.Errorf("after crictl update --memory 128M: memory.limit_in_bytes = %s", got)
	}
}

// TestCRISystemdCgroup: the kubelet's systemd layout through containerd (SystemdCgroup = true,
// the shim passes --systemd-cgroup, the pod's cgroup parent is its slice): the pod's containers
// are scopes under kubepods.slice/kubepods-burstable.slice/<pod>.slice in every hierarchy, a
// memory limit on the pod's slice (made here, as the kubelet makes it) holds for a container
// that sets none, crictl inspect reports the OOM kill, and removing the pod leaves the slice it
// found and takes the ones the runtime made.
func TestCRISystemdCgroup(t *testing.T) {
	if systemdRunning() {
		t.Skip("systemd runs here: the pod's slices would be its units, not dirs the test may make")
	}
	mem := v1Mount(t, "memory")
	if mem == "" {
		t.Skip("no v1 memory hierarchy on this host (the pod limit would be cgroup2's memory.max)")
	}
	pod := fmt.Sprintf("kubepods-burstable-podsl%d.slice", os.Getpid())
	parent := "/kubepods.slice/kubepods-burstable.slice/" + pod
	var made []string
	for _, d := range []string{"/kubepods.slice", "/kubepods.slice/kubepods-burstable.slice", parent} {
		if err := os.Mkdir(mem+d, 0o755); err == nil {
			made = append(made, mem+d)
		} else if !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { // after containerd's cleanup (registered later, run earlier)
		for i := len(made) - 1; i >= 0; i-- {
			_ = os.Remove(made[i])
		}
	})
	for _, f := range []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"} {
		if err := os.WriteFile(filepath.Join(mem+parent, f), []byte(strconv.Itoa(48<<20)), 0); err != nil && f == "memory.limit_in_bytes" {
			t.Fatal(err)
		}
	}
	e := newCRI(t, pod, true)
	hostNS := `"security_context":{"namespace_options":{"network":2,"pid":2,"ipc":2}}`
	podJSON := filepath.Join(e.c.dir, "pod.json")
	podCfg := fmt.Sprintf(`{"metadata":{"name":"sliced","namespace":"default","uid":"sl-%d","attempt":0},
 "log_directory":"%s/logs","linux":{"cgroup_parent":"%s",%s}}`, os.Getpid(), e.c.dir, parent, hostNS)
	if err := os.WriteFile(podJSON, []byte(podCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.cri(t, "runp", "--runtime", "sandlock", podJSON)
	if r.code != 0 {
		b, _ := os.ReadFile(e.c.logPath)
		t.Fatalf("crictl runp: exit %d: %s\ncontainerd log:\n%s", r.code, r.stderr, b)
	}
	podID := strings.TrimSpace(r.stdout)
	podGone := false
	t.Cleanup(func() {
		if !podGone {
			e.cri(t, "stopp", podID)
			e.cri(t, "rmp", "-f", podID)
		}
	})
	podPid := 0
	if p, ok := jsonField(e.inspect(t, "inspectp", podID), "info", "pid").(float64); ok {
		podPid = int(p)
	}
	scope := parent + "/cri-containerd-" + podID + ".scope"
	for h, p := range cgroupLines(t, podPid) {
		if (h == "cgroup2" || h == "memory" || h == "pids") && p != scope {
			t.Errorf("sandbox %d: %s cgroup %s, want %s", podPid, h, p, scope)
		}
	}

	for _, c := range []struct {
		alloc    string
		code     float64
		reasonIs string
	}{{"16M", 0, "Completed"}, {"200M", 137, "OOMKilled"}} {
		ctrJSON := filepath.Join(e.c.dir, "ctr-"+c.alloc+".json")
		ctrCfg := fmt.Sprintf(`{"metadata":{"name":"dd%s"},"image":{"image":"localhost/busybox:latest"},
 "command":["dd","if=/dev/zero","of=/dev/null","bs=%s","count=1"],"log_path":"dd%s.log","linux":{%s}}`, c.alloc, c.alloc, c.alloc, hostNS)
		if err := os.WriteFile(ctrJSON, []byte(ctrCfg), 0o644); err != nil {
			t.Fatal(err)
		}
		r := e.cri(t, "create", podID, ctrJSON, podJSON)
		if r.code != 0 {
			t.Fatalf("crictl create: exit %d: %s", r.code, r.stderr)
		}
		id := strings.TrimSpace(r.stdout)
		if r := e.cri(t, "start", id); r.code != 0 {
			t.Fatalf("crictl start: exit %d: %s", r.code, r.stderr)
		}
		var ci map[string]any
		waitFor(t, "container "+id+" exited", func() bool {
			ci = e.inspect(t, "inspect", id)
			return jsonField(ci, "status", "state") == "CONTAINER_EXITED"
		})
		code, reason := jsonField(ci, "status", "exitCode"), jsonField(ci, "status", "reason")
		if code != c.code || reason != c.reasonIs {
			t.Errorf("dd of %s in a pod limited to 48M: exit code %v, reason %v; want %v, %s", c.alloc, code, reason, c.code, c.reasonIs)
		}
		if r := e.cri(t, "rm", id); r.code != 0 {
			t.Errorf("crictl rm: exit %d: %s", r.code, r.stderr)
		}
		e.c.checkGone(t, "k8s.io", id, nil)
	}

	if r := e.cri(t, "stopp", podID); r.code != 0 {
		t.Errorf("crictl stopp: exit %d: %s", r.code, r.stderr)
	}
	if r := e.cri(t, "rmp", podID); r.code != 0 {
		t.Errorf("crictl rmp: exit %d: %s", r.code, r.stderr)
	}
	podGone = true
	e.c.checkGone(t, "k8s.io", podID, []int{podPid})
	for h, root := range hierarchyRoots(t) {
		if _, err := os.Stat(root + scope); err == nil {
			t.Errorf("%s: the sandbox's scope %s is left after rmp", h, scope)
		}
		_, err := os.Stat(root + parent)
		if h == "memory" && err != nil {
			t.Errorf("the pod slice the test made in memory is gone after rmp: %v", err)
		}
		if h != "memory" && err == nil {
			t.Errorf("%s: the pod slice the runtime made is left after rmp", h)
		}
	}
}
