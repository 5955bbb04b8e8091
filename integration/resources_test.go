package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandlock/sandlock-runtime/internal/children"
)

// linux.resources and the policy's limits (max_memory, max_processes, max_cpu) applied through
// the cgroup controllers (docs/design.md "Resource limits"): each with a case under the limit and
// one over it, in a real container. On this project's hybrid hosts the controllers are v1.

// withResources sets linux.resources.
func withResources(r specs.LinuxResources) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Linux.Resources = &r }
}

// withAnnotation sets one io.sandlock.* policy annotation.
func withAnnotation(k, v string) func(*specs.Spec) {
	return func(s *specs.Spec) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations["io.sandlock."+k] = v
	}
}

func i64p(v int64) *int64 { return &v }

// controllerDir is pid's dir in the hierarchy holding controller ctrl: the v1 mount's on a hybrid
// host, the cgroup2 dir on a cgroup2 host.
func controllerDir(t *testing.T, pid int, ctrl string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 && f[1] != "" && (f[1] == ctrl || strings.Contains(","+f[1]+",", ","+ctrl+",")) {
			if f[2] == "/" {
				t.Fatalf("pid %d is in the root %s cgroup: gone, or never joined the container's", pid, ctrl)
			}
			return filepath.Join(v1Mount(t, ctrl), f[2])
		}
	}
	d, err := cgroupDirOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// v1Mount is where the v1 hierarchy with controller ctrl is mounted ("" when none is).
func v1Mount(t *testing.T, ctrl string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		_, after, ok := strings.Cut(l, " - ")
		f := strings.Fields(after)
		if ok && len(f) >= 3 && f[0] == "cgroup" && strings.Contains(","+f[2]+",", ","+ctrl+",") {
			return strings.Fields(l)[4]
		}
	}
	return ""
}

func readCgroupFile(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// checkNoV1Cgroup fails the test for a dir named id left in any v1 hierarchy (and removes it).
func checkNoV1Cgroup(t *testing.T, id string) {
	t.Helper()
	for _, pat := range []string{"/sys/fs/cgroup/*/" + id, "/sys/fs/cgroup/*/*/" + id} {
		m, _ := filepath.Glob(pat)
		for _, d := range m {
			if strings.HasPrefix(d, "/sys/fs/cgroup/unified/") {
				continue // cgroup2: checkNoCgroup's
			}
			t.Errorf("container %s: v1 cgroup %s left behind", id, d)
			_ = os.Remove(d)
		}
	}
}

// runContainer runs args in a new container made with mutate and returns the result of `run`.
func runContainer(t *testing.T, mutate func(*specs.Spec), args ...string) result {
	t.Helper()
	b := newBundleWith(t, mutate, args...)
	id := newID()
	t.Cleanup(func() { checkNoV1Cgroup(t, id) }) // after track's delete
	track(t, id)
	return rtWith(t, nil, "run", "--bundle", b, id)
}

// runningV1 is running, also checking that no v1 cgroup dir of the container is left.
func runningV1(t *testing.T, mutate func(*specs.Spec), args ...string) (id string, pid int, bundle string) {
	t.Helper()
	bundle = newBundleWith(t, mutate, args...)
	id = newID()
	t.Cleanup(func() { checkNoV1Cgroup(t, id) }) // after create's delete --force
	pid = create(t, id, bundle)
	start(t, id)
	waitStatus(t, id, "running")
	return id, pid, bundle
}

func TestResourcesMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*specs.Spec)
	}{
		{"oci", withResources(specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(64 << 20), Swap: i64p(64 << 20)}})},
		{"max_memory", withAnnotation("max_memory", `"64M"`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			// dd's buffer is bs bytes, all of it touched by the read from /dev/zero.
			if r := runContainer(t, c.mutate, "dd", "if=/dev/zero", "of=/dev/null", "bs=16M", "count=2"); r.code != 0 {
				t.Errorf("16M under a 64M limit: exit %d, want 0; stderr %q", r.code, r.stderr)
			}
			if r := runContainer(t, c.mutate, "dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"); r.code != 137 {
				t.Errorf("200M past a 64M limit: exit %d, want 137 (killed by the OOM killer); stderr %q", r.code, r.stderr)
			}
		})
	}
}

// TestMemoryLimitTooLowToStart: a memory limit too low for init to start fails create with
// runc's hint (OOM-killed, memory limit too low?) instead of a bare "exited before it was
// ready", in a container and in a sandbox, and leaves nothing behind.
func TestMemoryLimitTooLowToStart(t *testing.T) {
	const want = "OOM-killed (memory limit too low?)"
	r := runContainer(t, withResources(specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(100 << 10)}}), "true")
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("run under a 100K limit: exit %d, stderr %q; want a failure saying %q", r.code, r.stderr, want)
	}
	sr := rtWith(t, nil, "sandbox", "-m", "100K", "--", "true")
	if sr.code != 1 || !strings.Contains(sr.stderr, want) {
		t.Errorf("sandbox -m 100K: exit %d, stderr %q; want 1 and %q", sr.code, sr.stderr, want)
	}
	if left, _ := os.ReadDir(envFor(t).root); len(left) > 0 {
		var names []string
		for _, e := range left {
			if !strings.HasPrefix(e.Name(), "#") { // the runtime's caches
				names = append(names, e.Name())
			}
		}
		if len(names) > 0 {
			t.Errorf("state left under the root: %v", names)
		}
	}
}

// A fork bomb (setsid'd children included) stops at the limit; the host is unharmed: the bomb is
// bounded by the limit under test and by its own loop count, and delete --force ends it. The
// bomb waits for /tmp/go, so the test reads the container's cgroup while init surely lives; it
// runs in a subshell, so that init survives the refused fork and the container keeps running.
func TestResourcesPidsLimit(t *testing.T) {
	const limit = 16
	script := `while [ ! -e /tmp/go ]; do sleep 0.1; done; (i=0; while [ $i -lt %d ]; do setsid sleep 30 & i=$((i+1)); echo $i > /tmp/forked; done); exec sleep 30`
	for _, c := range []struct {
		name   string
		mutate func(*specs.Spec)
	}{
		{"oci", withResources(specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64p(limit)}})},
		{"max_processes", withAnnotation("max_processes", strconv.Itoa(limit))},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, n := range []int{5, 200} {
				_, pid, bundle := runningV1(t, c.mutate, "sh", "-c", fmt.Sprintf(script, n))
				dir := controllerDir(t, pid, "pids")
				if got := readCgroupFile(t, dir, "pids.max"); got != strconv.Itoa(limit) {
					t.Errorf("pids.max = %s, want %d", got, limit)
				}
				if err := os.WriteFile(filepath.Join(bundle, "rootfs/tmp/go"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				forked := filepath.Join(bundle, "rootfs/tmp/forked")
				if n < limit {
					if got := waitFileNumber(t, forked, n); got != n {
						t.Errorf("under the limit: %d of %d forks succeeded", got, n)
					}
					continue
				}
				waitFor(t, "the fork bomb to hit pids.max", func() bool {
					ev := readCgroupFile(t, dir, "pids.events")
					return strings.HasPrefix(ev, "max ") && ev != "max 0"
				})
				if cur, _ := strconv.Atoi(readCgroupFile(t, dir, "pids.current")); cur > limit {
					t.Errorf("pids.current = %d, above the limit %d", cur, limit)
				}
				if got := readNumber(forked); got >= limit {
					t.Errorf("over the limit: %d forks succeeded, the limit is %d", got, limit)
				}
			}
		})
	}
}

// A busy loop under max_cpu=25 gets about a quarter of a core (wide bounds: the host is shared).
func TestResourcesMaxCPU(t *testing.T) {
	_, pid, _ := runningV1(t, withAnnotation("max_cpu", "25"), "sh", "-c", "while :; do :; done")
	cpu := controllerDir(t, pid, "cpu")
	if q := readCgroupFile(t, cpu, "cpu.cfs_quota_us"); q != "25000" {
		t.Errorf("cpu.cfs_quota_us = %s, want 25000 (25%% of a 100ms period)", q)
	}
	acct := controllerDir(t, pid, "cpuacct")
	usage := func() float64 { // seconds
		n, _ := strconv.ParseFloat(readCgroupFile(t, acct, "cpuacct.usage"), 64)
		return n / 1e9
	}
	u0, t0 := usage(), time.Now()
	time.Sleep(2 * time.Second)
	share := (usage() - u0) / time.Since(t0).Seconds()
	t.Logf("busy loop under max_cpu=25: %.2f of a core", share)
	if share < 0.05 || share > 0.40 {
		t.Errorf("busy loop under max_cpu=25 got %.2f of a core, want about 0.25 (0.05-0.40)", share)
	}
	if !strings.Contains(readCgroupFile(t, cpu, "cpu.stat"), "nr_throttled") {
		t.Errorf("cpu.stat has no nr_throttled")
	}
}

// What the host cannot apply is an error at create, one line, and nothing is left behind.
func TestResourcesRefusedAtCreate(t *testing.T) {
	classID := uint32(0x100001)
	for _, c := range []struct {
		name, want string
		r          specs.LinuxResources
	}{
		{"unified on v1", "linux.resources.unified", specs.LinuxResources{Unified: map[string]string{"memory.high": "1000000"}}},
		{"net_cls", "linux.resources.network.classID", specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: &classID}}},
		{"bad cpus", "linux.resources.cpu.cpus", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "1000-1001"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name != "bad cpus" && v1Mount(t, "memory") == "" {
				t.Skip("not a hybrid host: these resources are applicable here")
			}
			b := newBundleWith(t, withResources(c.r), "true")
			id := newID()
			t.Cleanup(func() { checkNoV1Cgroup(t, id) })
			track(t, id)
			_, stderr, code := rt(t, "create", "--bundle", b, id)
			if code == 0 {
				t.Fatalf("create with %s succeeded; want an error", c.name)
			}
			msg := strings.TrimSpace(stderr) + lastLogMsg(t)
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not name %s", msg, c.want)
			}
			if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
				t.Errorf("state dir left after the failed create")
			}
		})
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pollEvery)
	}
}

func readNumber(path string) int {
	b, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// waitFileNumber waits until path holds want (or stops changing) and returns what it holds.
func waitFileNumber(t *testing.T, path string, want int) int {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for readNumber(path) != want && time.Now().Before(deadline) {
		time.Sleep(pollEvery)
	}
	return readNumber(path)
}

// update changes the limits of a running container, for its exec'd processes too: runc's flags
// and --resources - (what containerd's shim sends).
func TestResourcesUpdate(t *testing.T) {
	id, pid, _ := runningV1(t, nil, "sleep", "100")
	mem := controllerDir(t, pid, "memory")
	if _, stderr, code := rt(t, "update", "--memory", "32m", "--memory-swap", "32m", "--pids-limit", "20", id); code != 0 {
		t.Fatalf("update: exit %d: %s", code, stderr)
	}
	if got := readCgroupFile(t, mem, "memory.limit_in_bytes"); got != strconv.Itoa(32<<20) {
		t.Errorf("memory.limit_in_bytes after update --memory 32m = %s", got)
	}
	if got := readCgroupFile(t, controllerDir(t, pid, "pids"), "pids.max"); got != "20" {
		t.Errorf("pids.max after update --pids-limit 20 = %s", got)
	}
	if _, _, code := rt(t, "exec", id, "dd", "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1"); code != 0 {
		t.Errorf("exec allocating 8M under the updated 32M limit: exit %d, want 0", code)
	}
	if _, _, code := rt(t, "exec", id, "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"); code != 137 {
		t.Errorf("exec allocating 100M past the updated 32M limit: exit %d, want 137", code)
	}
	// Raising a limit above the current memory+swap one needs the swap written first.
	if _, stderr, code := rt(t, "update", "--memory", "256m", "--memory-swap", "256m", id); code != 0 {
		t.Errorf("update raising memory and swap: exit %d: %s", code, stderr)
	}
	res := `{"cpu":{"quota":20000,"period":100000}}`
	r := rtWith(t, func(c *exec.Cmd) { c.Stdin = strings.NewReader(res) }, "update", "--resources", "-", id)
	if r.code != 0 {
		t.Fatalf("update --resources -: exit %d: %s", r.code, r.stderr)
	}
	if got := readCgroupFile(t, controllerDir(t, pid, "cpu"), "cpu.cfs_quota_us"); got != "20000" {
		t.Errorf("cpu.cfs_quota_us after update --resources = %s, want 20000", got)
	}
	if _, stderr, code := rt(t, "update", "--l3-cache-schema", "L3:0=f", id); code == 0 || !strings.Contains(stderr, "Intel RDT") {
		t.Errorf("update --l3-cache-schema: exit %d, stderr %q; want a refusal naming Intel RDT", code, stderr)
	}
	if _, _, code := rt(t, "update", "--memory", "1m", "nosuch"); code == 0 {
		t.Errorf("update of a missing container succeeded")
	}
}

// TestResourcesUpdateAboveMaxMemory: max_memory sets memory and memory+swap to one value, so
// `update --memory` raising it alone is refused with what to do (not the kernel's bare EINVAL),
// writing nothing; with --memory-swap it is applied.
func TestResourcesUpdateAboveMaxMemory(t *testing.T) {
	id, pid, _ := runningV1(t, withAnnotation("max_memory", `"64M"`), "sleep", "100")
	mem := controllerDir(t, pid, "memory")
	_, stderr, code := rt(t, "update", "--memory", "128m", id)
	if code == 0 || !strings.Contains(stderr, "above the memory+swap limit in force, 67108864") || !strings.Contains(stderr, "--memory-swap") {
		t.Errorf("update --memory 128m over max_memory 64M: exit %d, stderr %q; want a refusal naming memory+swap and --memory-swap", code, stderr)
	}
	if got := readCgroupFile(t, mem, "memory.limit_in_bytes"); got != strconv.Itoa(64<<20) {
		t.Errorf("memory.limit_in_bytes after the refused update = %s, want %d", got, 64<<20)
	}
	if _, stderr, code := rt(t, "update", "--memory", "128m", "--memory-swap", "128m", id); code != 0 {
		t.Fatalf("update --memory 128m --memory-swap 128m: exit %d: %s", code, stderr)
	}
	if got := readCgroupFile(t, mem, "memory.limit_in_bytes"); got != strconv.Itoa(128<<20) {
		t.Errorf("memory.limit_in_bytes after update = %s, want %d", got, 128<<20)
	}
	// -1 alone lifts both, as runc does.
	if _, stderr, code := rt(t, "update", "--memory", "-1", id); code != 0 {
		t.Fatalf("update --memory -1: exit %d: %s", code, stderr)
	}
	if got := readCgroupFile(t, mem, "memory.memsw.limit_in_bytes"); len(got) < 15 {
		t.Errorf("memory.memsw.limit_in_bytes after update --memory -1 = %s, want unlimited", got)
	}
}

type statsEvent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data struct {
		CPU struct {
			Usage struct{ Total uint64 } `json:"usage"`
		} `json:"cpu"`
		Memory struct {
			Usage struct{ Limit, Usage uint64 } `json:"usage"`
		} `json:"memory"`
		Pids struct{ Current, Limit uint64 } `json:"pids"`
	} `json:"data"`
}

// events --stats prints runc's JSON with the container's usage and limits; events streams
// stats and an oom event when the OOM killer acts in the container, and ends with it.
func TestResourcesEvents(t *testing.T) {
	id, _, _ := runningV1(t, withResources(specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64p(32 << 20), Swap: i64p(32 << 20)},
		Pids:   &specs.LinuxPids{Limit: i64p(30)},
	}), "sleep", "100")
	out, stderr, code := rt(t, "events", "--stats", id)
	if code != 0 {
		t.Fatalf("events --stats: exit %d: %s", code, stderr)
	}
	var ev statsEvent
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("events --stats: not JSON: %v: %q", err, out)
	}
	d := ev.Data
	if ev.Type != "stats" || ev.ID != id || d.Memory.Usage.Limit != 32<<20 || d.Memory.Usage.Usage == 0 ||
		d.Pids.Limit != 30 || d.Pids.Current < 1 || d.CPU.Usage.Total == 0 {
		t.Errorf("events --stats = %s; want type stats, id %s, memory limit 32M with some usage, pids limit 30 with current >= 1, cpu usage > 0", out, id)
	}

	cmd, files := rtCommand(t, "events", "--interval", "200ms", id)
	startErr := children.Start(cmd)
	t.Cleanup(func() { // a failed test's stream: ended by the pid this test started
		if startErr == nil && cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	stdout := func() string { b, _ := os.ReadFile(files[0].Name()); return string(b) }
	// The OOM watch is registered before the first stats event.
	waitFor(t, "the first stats event", func() bool { return strings.Contains(stdout(), `"stats"`) })
	if _, _, code := rt(t, "exec", id, "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"); code != 137 {
		t.Errorf("exec past the memory limit: exit %d, want 137", code)
	}
	waitFor(t, "an oom event", func() bool { return strings.Contains(stdout(), `"oom"`) })
	if _, _, code := rt(t, "delete", "--force", id); code != 0 {
		t.Fatal("delete --force failed")
	}
	r := finish(t, cmd, files, startErr, cmdTimeout)
	if r.code != 0 || !strings.Contains(r.stdout, `{"type":"oom","id":"`+id+`"}`) || !strings.Contains(r.stdout, `{"type":"stats"`) {
		t.Errorf("events: exit %d, stdout %.300q...; want stats events and an oom event, ending with the container", r.code, r.stdout)
	}
}

// A limit of 3 (the shell, the runtime's zygote, one child) is usable: pids.max counts threads,
// and init is a multi-threaded Go program until it execs, so the limit must not bind it earlier.
func TestResourcesPidsLimitSmall(t *testing.T) {
	small := withResources(specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64p(3)}})
	for i := 0; i < 3; i++ { // the Go runtime's thread creation is timing-dependent: a few tries
		if r := runContainer(t, small, "sh", "-c", "sleep 0.1 & wait && echo one-child"); r.code != 0 || r.stdout != "one-child\n" {
			t.Fatalf("one child under pids.limit 3: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	}
	r := runContainer(t, small, "sh", "-c", "sleep 1 & sleep 1 & wait")
	if r.code == 0 || !strings.Contains(r.stderr, "fork") {
		t.Errorf("two children under pids.limit 3: exit %d, stderr %q; want the second fork refused", r.code, r.stderr)
	}
}

// A create that crashed before state.json leaves its v1 dirs in the state dir's cgroup record:
// delete --force removes them, as it does the cgroup2 dir and the mounts.
func TestResourcesDeleteForceAfterCrash(t *testing.T) {
	id, pid, _ := runningV1(t, withResources(specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(64 << 20)}}), "sleep", "100")
	mem := controllerDir(t, pid, "memory")
	dir := filepath.Join(envFor(t).root, id)
	sup := supervisorPid(t, id)
	// Killed by the pids of this test's own container: what a crashed create leaves.
	_ = syscall.Kill(sup, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitGone([]int{pid, sup})
	if err := os.Remove(filepath.Join(dir, "state.json")); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := rt(t, "delete", "--force", id); code != 0 {
		t.Fatalf("delete --force after a crash: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(mem); err == nil {
		t.Errorf("v1 memory cgroup %s left after delete --force of a crashed create", mem)
	}
}

// The direct mode's -m (max_memory) is enforced the same way: a host command past it is
// OOM-killed, one under it runs.
func TestResourcesSandboxMaxMemory(t *testing.T) {
	requireSetup(t)
	sb := []string{"sandbox", "-r", "/usr", "-r", "/lib", "-r", "/lib64", "-r", "/bin", "-r", "/etc", "-r", "/proc", "-r", "/dev", "-m", "32M", "--"}
	if _, stderr, code := rt(t, append(sb, "dd", "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1")...); code != 0 {
		t.Errorf("sandbox -m 32M, 8M allocated: exit %d, want 0: %s", code, stderr)
	}
	if _, stderr, code := rt(t, append(sb, "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1")...); code != 137 {
		t.Errorf("sandbox -m 32M, 100M allocated: exit %d, want 137: %s", code, stderr)
	}
}

// stateResources is the linux.resources `state` reports as in force.
func stateResources(t *testing.T, id string) specs.LinuxResources {
	t.Helper()
	out, stderr, code := rt(t, "state", id)
	if code != 0 {
		t.Fatalf("state: exit %d: %s", code, stderr)
	}
	var st struct{ Resources *specs.LinuxResources }
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Resources == nil {
		t.Fatalf("state: no resources in %s (%v)", out, err)
	}
	return *st.Resources
}

// An update is written back, as runc writes it into its state: `state` shows the new values
// with the untouched ones kept, a later partial update keeps the earlier one, events --stats
// and an exec'd process see the new limits, and a device list other than the container's own
// is refused (containerd resends the container's own with each update: accepted).
func TestResourcesUpdateWrittenBack(t *testing.T) {
	res := specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64p(64 << 20), Swap: i64p(64 << 20)},
		CPU:     &specs.LinuxCPU{Quota: i64p(50000), Period: u64p(100000)},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}
	id, pid, _ := runningV1(t, withResources(res), "sleep", "100")
	if got := stateResources(t, id); got.Memory == nil || *got.Memory.Limit != 64<<20 || *got.CPU.Quota != 50000 {
		t.Fatalf("state after create: %+v", got)
	}
	if _, stderr, code := rt(t, "update", "--memory", "16m", "--memory-swap", "16m", id); code != 0 {
		t.Fatalf("update --memory: exit %d: %s", code, stderr)
	}
	if _, stderr, code := rt(t, "update", "--pids-limit", "30", id); code != 0 {
		t.Fatalf("update --pids-limit: exit %d: %s", code, stderr)
	}
	got := stateResources(t, id)
	if *got.Memory.Limit != 16<<20 || *got.Memory.Swap != 16<<20 || got.Pids == nil || *got.Pids.Limit != 30 ||
		*got.CPU.Quota != 50000 || *got.CPU.Period != 100000 || len(got.Devices) == 0 {
		t.Errorf("state after two partial updates: memory %+v pids %+v cpu %+v devices %d; want 16M, 30, the create's cpu and devices",
			got.Memory, got.Pids, got.CPU, len(got.Devices))
	}
	out, stderr, code := rt(t, "events", "--stats", id)
	if code != 0 {
		t.Fatalf("events --stats: exit %d: %s", code, stderr)
	}
	var ev statsEvent
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("events --stats: %v: %s", err, out)
	}
	if ev.Data.Memory.Usage.Limit != 16<<20 || ev.Data.Pids.Limit != 30 {
		t.Errorf("events --stats after the updates: memory limit %d, pids limit %d; want %d, 30", ev.Data.Memory.Usage.Limit, ev.Data.Pids.Limit, 16<<20)
	}
	if _, _, code := rt(t, "exec", id, "dd", "if=/dev/zero", "of=/dev/null", "bs=48M", "count=1"); code != 137 {
		t.Errorf("exec allocating 48M under the updated 16M limit (64M at create): exit %d, want 137", code)
	}
	if v := readCgroupFile(t, controllerDir(t, pid, "memory"), "memory.limit_in_bytes"); v != strconv.Itoa(16<<20) {
		t.Errorf("memory.limit_in_bytes = %s after the updates", v)
	}
	own := `{"devices":[{"allow":false,"access":"rwm"}],"memory":{"limit":8388608}}`
	if r := rtWith(t, func(c *exec.Cmd) { c.Stdin = strings.NewReader(own) }, "update", "--resources", "-", id); r.code != 0 {
		t.Errorf("update resending the container's own device list (as containerd does): exit %d: %s", r.code, r.stderr)
	}
	other := `{"devices":[{"allow":true,"access":"rwm"}]}`
	if r := rtWith(t, func(c *exec.Cmd) { c.Stdin = strings.NewReader(other) }, "update", "--resources", "-", id); r.code == 0 || !strings.Contains(r.stderr, "devices") {
		t.Errorf("update changing the device list: exit %d, stderr %q; want a refusal naming devices", r.code, r.stderr)
	}
	if got := stateResources(t, id); *got.Memory.Limit != 8<<20 || len(got.Devices) == 0 || got.Devices[0].Allow {
		t.Errorf("state after the device updates: memory %d, devices %+v", *got.Memory.Limit, got.Devices)
	}
}

func u64p(v uint64) *uint64 { return &v }

// `check` names what enforces each limit on this host: the v1 controller on a hybrid host, the
// cgroup2 one on a cgroup2 host.
func TestCheckLimits(t *testing.T) {
	out, stderr, code := rt(t, "check")
	if code != 0 {
		t.Fatalf("check: exit %d: %s", code, stderr)
	}
	for field, ctrl := range map[string]string{"max_memory": "memory", "max_processes": "pids", "max_cpu": "cpu"} {
		want := "cgroup2 " + ctrl + " controller"
		if m := v1Mount(t, ctrl); m != "" {
			want = "yes: cgroup v1 " + ctrl + " controller at " + m
		}
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, field+" ") {
				line = l
			}
		}
		if !strings.Contains(line, want) {
			t.Errorf("check: %s line %q does not say %q", field, line, want)
		}
	}
}
