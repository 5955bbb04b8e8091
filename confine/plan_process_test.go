package confine

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/spec"
)

func ptrTo[T any](v T) *T { return &v }

// TestProcessApply applies every per-process field in a subprocess and checks each took,
// and that the limits cannot be raised again (this host has no CAP_SYS_RESOURCE to spare:
// the helper drops it first, as the container's capabilities would).
func TestProcessApply(t *testing.T) {
	requireRoot(t)
	res, out := runHelper(t, "TestHelperProcessApply", "apply", "")
	want := map[string]string{
		"affinity": "ok", "personality": "ok", "thp": "ok", "core": "ok", "nofile": "ok",
		"raise-nofile": "EPERM", "raise-core": "EPERM", "widen": "EPERM",
	}
	for k, w := range want {
		if got := res[k]; got != w {
			t.Errorf("%s: got %q, want %q", k, got, w)
		}
	}
	if t.Failed() {
		t.Logf("helper output:\n%s", out)
	}
}

func TestHelperProcessApply(t *testing.T) {
	if name, _ := helperCase(t); name != "apply" {
		t.Skip()
	}
	runtime.LockOSThread()
	p := spec.Policy{CPUCores: []int{0}, NoRandomizeMemory: ptrTo(true), NoHugePages: ptrTo(true),
		NoCoredump: ptrTo(true), MaxOpenFiles: ptrTo(40)}
	pl, err := PlanFor(p, LandlockConfig{}, "/")
	if err != nil {
		t.Fatal(err)
	}
	// Without CAP_SYS_RESOURCE in the bounding set the hard limits cannot go up again.
	_ = unix.Prctl(unix.PR_CAPBSET_DROP, unix.CAP_SYS_RESOURCE, 0, 0, 0)
	if err := pl.Process.Apply(); err != nil {
		t.Fatal(err)
	}
	var set unix.CPUSet
	_ = unix.SchedGetaffinity(0, &set)
	report("affinity", check(set.Count() == 1 && set.IsSet(0), "affinity %d CPUs", set.Count()))
	pers, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	report("personality", check(pers&addrNoRandomize != 0, "personality %#x", pers))
	thp, _ := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
	report("thp", check(thp == 1, "THP disable %d", thp))
	report("core", limitIs(unix.RLIMIT_CORE, 0))
	report("nofile", limitIs(unix.RLIMIT_NOFILE, 40))
	report("raise-nofile", unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 41, Max: 41}))
	report("raise-core", unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 1, Max: 1}))
	loadForTest(t, nil, pl.Seccomp)
	set.Set(1)
	report("widen", unix.SchedSetaffinity(0, &set))
	os.Exit(0)
}

func limitIs(res, n int) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(res, &l); err != nil {
		return err
	}
	return check(l.Cur == uint64(n) && l.Max == uint64(n), "rlimit %d: %d/%d", res, l.Cur, l.Max)
}

func check(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func TestProcessPlan(t *testing.T) {
	// privileged is the user namespace lifecycle clones init into: nothing per process here.
	if _, err := processPlan(spec.Policy{Privileged: ptrTo(true)}); err != nil {
		t.Errorf("privileged: got %v, want no per-process refusal", err)
	}
	if _, err := processPlan(spec.Policy{CPUCores: []int{maxCPUs}}); err == nil {
		t.Errorf("cpu_cores beyond the CPU set: accepted")
	}
	s, err := processPlan(spec.Policy{NoCoredump: ptrTo(true), MaxOpenFiles: ptrTo(8)})
	if err != nil || !s.SetsRlimit(unix.RLIMIT_CORE) || !s.SetsRlimit(unix.RLIMIT_NOFILE) || s.SetsRlimit(unix.RLIMIT_AS) {
		t.Errorf("rlimits: %+v %v", s, err)
	}
	if s, _ := processPlan(spec.Policy{}); len(s.Rlimits) != 0 || s.NoASLR || s.NoTHP || s.CPUs != nil {
		t.Errorf("empty policy sets %+v", s)
	}
}

// TestCPUCoresNoSuchCPU: cpu_cores naming only CPUs the host does not have says so, not a
// bare EINVAL. The thread is locked and its affinity put back, in case the host has CPU 1000.
func TestCPUCoresNoSuchCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.SchedSetaffinity(0, &before) }()
	if before.IsSet(1000) {
		t.Skip("this host has a CPU 1000")
	}
	err := ProcessSettings{CPUs: []int{1000}}.applyCPUs()
	if err == nil || !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "none of these CPUs is online here") {
		t.Errorf("got %v; want EINVAL saying none of the CPUs is online", err)
	}
}
