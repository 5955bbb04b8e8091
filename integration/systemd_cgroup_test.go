package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandlock/sandlock-runtime/internal/mountinfo"
)

// The systemd cgroup driver (--systemd-cgroup, cgroupsPath "slice:prefix:name"): the container
// is the scope <prefix>-<name>.scope in its slice, expanded as systemd nests slices, in cgroup2
// and in every v1 hierarchy, so a pod's limits set on its slice hold for its containers. This
// project's machines run no systemd: create makes the layout itself (docs/design.md).

// hierarchyRoots are the cgroup2 mount and each mounted v1 hierarchy's, keyed by a name.
func hierarchyRoots(t *testing.T) map[string]string {
	t.Helper()
	roots := map[string]string{}
	if m, err := mountinfo.Cgroup2(); err == nil {
		roots["cgroup2"] = m
	}
	for _, c := range []string{"memory", "pids", "cpu", "cpuacct", "cpuset"} {
		if m := v1Mount(t, c); m != "" {
			roots[c] = m
		}
	}
	return roots
}

// cgroupLines maps each hierarchy of /proc/pid/cgroup to pid's path there ("cgroup2" for 0::).
func cgroupLines(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			out["cgroup2"] = f[2]
		}
		for _, c := range strings.Split(f[1], ",") {
			out[c] = f[2]
		}
	}
	return out
}

func systemdRunning() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// podSlice is a pod slice name no other test uses ("kubepods-burstable-pod<uid>.slice").
func podSlice(id string) string {
	return "kubepods-burstable-pod" + strings.ReplaceAll(id, "-", "_") + ".slice"
}

// A container placed by the driver: the expanded path in every hierarchy, its limit written
// there, and delete removes the scope and (without systemd) the slices create made.
func TestSystemdCgroupPlacement(t *testing.T) {
	id := newID()
	pod := podSlice(id)
	rel := "/kubepods.slice/kubepods-burstable.slice/" + pod + "/cri-containerd-" + id + ".scope"
	roots := hierarchyRoots(t)
	kubepodsBefore := map[string]bool{}
	for h, r := range roots {
		_, err := os.Stat(filepath.Join(r, "kubepods.slice"))
		kubepodsBefore[h] = err == nil
	}
	b := newBundleWith(t, func(s *specs.Spec) {
		s.Linux.CgroupsPath = pod + ":cri-containerd:" + id
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(64 << 20), Swap: i64p(64 << 20)}}
	}, "sleep", "100")
	track(t, id)
	pidFile := filepath.Join(t.TempDir(), "pid")
	if _, stderr, code := rt(t, "--systemd-cgroup", "create", "--bundle", b, "--pid-file", pidFile, id); code != 0 {
		t.Fatalf("--systemd-cgroup create: exit %d: %s", code, stderr)
	}
	pid := readPidFile(t, pidFile)
	got := cgroupLines(t, pid)
	for h := range roots {
		if got[h] != rel {
			t.Errorf("%s: init is in %q, want %q", h, got[h], rel)
		}
	}
	if v := readCgroupFile(t, filepath.Join(roots["memory"], rel), "memory.limit_in_bytes"); v != strconv.Itoa(64<<20) {
		t.Errorf("memory.limit_in_bytes in the scope = %s, want %d", v, 64<<20)
	}
	if _, stderr, code := rt(t, "delete", "--force", id); code != 0 {
		t.Fatalf("delete: exit %d: %s", code, stderr)
	}
	for h, r := range roots {
		if _, err := os.Stat(filepath.Join(r, rel)); err == nil {
			t.Errorf("%s: the container's scope %s is left after delete", h, rel)
		}
		if systemdRunning() {
			continue // the slices are systemd's
		}
		if _, err := os.Stat(filepath.Join(r, "kubepods.slice/kubepods-burstable.slice", pod)); err == nil {
			t.Errorf("%s: the pod slice create made is left after delete", h)
		}
		if _, err := os.Stat(filepath.Join(r, "kubepods.slice")); err == nil && !kubepodsBefore[h] && onlySubdirs(filepath.Join(r, "kubepods.slice")) == 0 {
			t.Errorf("%s: the empty kubepods.slice create made is left after delete", h)
		}
	}
}

// onlySubdirs counts the child cgroups of dir (another test's, if any).
func onlySubdirs(dir string) int {
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if e.IsDir() {
			n++
		}
	}
	return n
}

// A pod-level memory limit on the pod's slice (as the kubelet sets it) holds for a container
// that sets none itself, and delete leaves the slices that existed before create alone.
func TestSystemdCgroupPodLimit(t *testing.T) {
	if systemdRunning() {
		t.Skip("systemd runs here: the pod's slices would be its units, not dirs the test may make")
	}
	mem := v1Mount(t, "memory")
	if mem == "" {
		t.Skip("no v1 memory hierarchy on this host (the pod limit would be cgroup2's memory.max)")
	}
	id := newID()
	pod := podSlice(id)
	slices := []string{"kubepods.slice", "kubepods.slice/kubepods-burstable.slice", "kubepods.slice/kubepods-burstable.slice/" + pod}
	var made []string
	for _, s := range slices {
		d := filepath.Join(mem, s)
		if err := os.Mkdir(d, 0o755); err == nil {
			made = append(made, d)
		} else if !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for i := len(made) - 1; i >= 0; i-- {
			_ = os.Remove(made[i])
		}
	})
	podDir := filepath.Join(mem, slices[2])
	for _, f := range []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"} {
		if err := os.WriteFile(filepath.Join(podDir, f), []byte(strconv.Itoa(48<<20)), 0); err != nil && f == "memory.limit_in_bytes" {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		alloc string
		want  int
	}{{"16M", 0}, {"200M", 137}} {
		cid := newID()
		b := newBundleWith(t, func(s *specs.Spec) {
			s.Linux.CgroupsPath = pod + ":cri-containerd:" + cid
		}, "dd", "if=/dev/zero", "of=/dev/null", "bs="+c.alloc, "count=1")
		track(t, cid)
		r := rtWith(t, nil, "--systemd-cgroup", "run", "--bundle", b, cid)
		if r.code != c.want {
			t.Errorf("allocating %s in a pod limited to 48M: exit %d, want %d; stderr %q", c.alloc, r.code, c.want, r.stderr)
		}
		scope := filepath.Join(podDir, "cri-containerd-"+cid+".scope")
		if _, err := os.Stat(scope); err == nil {
			t.Errorf("the container's scope %s is left after run", scope)
		}
	}
	if _, err := os.Stat(podDir); err != nil {
		t.Errorf("the pod slice that existed before create is gone after delete: %v", err)
	}
}

// Without the slice form the driver refuses the cgroupsPath, naming it; nothing is left.
func TestSystemdCgroupBadPath(t *testing.T) {
	for _, p := range []string{"/default/x", "kube--pods.slice:p:n", "kubepods:p:n"} {
		id := newID()
		b := newBundleWith(t, func(s *specs.Spec) { s.Linux.CgroupsPath = p }, "true")
		track(t, id)
		_, stderr, code := rt(t, "--systemd-cgroup", "create", "--bundle", b, id)
		if code == 0 || !strings.Contains(stderr, "cgroupsPath") {
			t.Errorf("cgroupsPath %q with --systemd-cgroup: exit %d, stderr %q; want a refusal naming cgroupsPath", p, code, stderr)
		}
		if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
			t.Errorf("cgroupsPath %q: state dir left after the refused create", p)
		}
	}
}

// Two containers of one pod, without systemd: the first makes the pod's slices, the second
// finds them; deleting the first leaves them to the second, and deleting the second (the last
// container out) removes them, although it did not make them.
func TestSystemdCgroupSharedSlice(t *testing.T) {
	if systemdRunning() {
		t.Skip("systemd runs here: the slices are its units")
	}
	pod := podSlice(newID())
	podRel := "/kubepods.slice/kubepods-burstable.slice/" + pod
	roots := hierarchyRoots(t)
	var ids []string
	for range 2 {
		id := newID()
		b := newBundleWith(t, func(s *specs.Spec) { s.Linux.CgroupsPath = pod + ":cri-containerd:" + id }, "sleep", "100")
		track(t, id)
		if _, stderr, code := rt(t, "--systemd-cgroup", "create", "--bundle", b, id); code != 0 {
			t.Fatalf("create %s: exit %d: %s", id, code, stderr)
		}
		ids = append(ids, id)
	}
	podLeft := func() []string {
		var left []string
		for h, r := range roots {
			if _, err := os.Stat(r + podRel); err == nil {
				left = append(left, h)
			}
		}
		return left
	}
	if _, stderr, code := rt(t, "delete", "--force", ids[0]); code != 0 {
		t.Fatalf("delete: exit %d: %s", code, stderr)
	}
	if left := podLeft(); len(left) != len(roots) {
		t.Errorf("after the first container's delete the pod slice is in %v, want every hierarchy (the second container is in it)", left)
	}
	if _, stderr, code := rt(t, "delete", "--force", ids[1]); code != 0 {
		t.Fatalf("delete: exit %d: %s", code, stderr)
	}
	if left := podLeft(); len(left) > 0 {
		t.Errorf("after the last container's delete the pod slice the runtime made is left in %v", left)
	}
}
