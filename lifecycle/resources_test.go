package lifecycle

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandlock/sandlock-runtime/spec"
)

func p[T any](v T) *T { return &v }

func writesText(ws []cgWrite) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.ctrl + "/" + w.file + "=" + w.val + "\n")
	}
	return b.String()
}

func TestV1Writes(t *testing.T) {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: p(int64(64 << 20)), Swap: p(int64(-1)), Reservation: p(int64(32 << 20))},
		CPU:    &specs.LinuxCPU{Shares: p(uint64(512)), Quota: p(int64(50000)), Period: p(uint64(100000)), Cpus: "0"},
		Pids:   &specs.LinuxPids{Limit: p(int64(0))},
		BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1048576}}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
	}
	ws, err := v1Writes(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `memory/memory.limit_in_bytes=67108864
memory/memory.memsw.limit_in_bytes=-1
memory/memory.soft_limit_in_bytes=33554432
cpu/cpu.shares=512
cpu/cpu.cfs_period_us=100000
cpu/cpu.cfs_quota_us=50000
cpuset/cpuset.cpus=0
pids/pids.max=max
blkio/blkio.throttle.read_bps_device=8:0 1048576
hugetlb/hugetlb.2MB.limit_in_bytes=4194304
`
	if got := writesText(ws); got != want {
		t.Errorf("v1Writes:\n%s\nwant:\n%s", got, want)
	}
	if _, err := v1Writes(&specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}); err == nil {
		t.Error("unified keys on a v1 host: no error")
	}
}

func TestV2Writes(t *testing.T) {
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: p(int64(64 << 20)), Swap: p(int64(96 << 20))},
		CPU:     &specs.LinuxCPU{Shares: p(uint64(1024)), Quota: p(int64(25000))},
		BlockIO: &specs.LinuxBlockIO{Weight: p(uint16(500))},
		Unified: map[string]string{"memory.high": "50000000"},
	}
	ws, err := v2Writes(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `memory/memory.max=67108864
memory/memory.swap.max=33554432
cpu/cpu.weight=39
cpu/cpu.max=25000 100000
io/io.weight=default 4950
memory/memory.high=50000000
`
	if got := writesText(ws); got != want {
		t.Errorf("v2Writes:\n%s\nwant:\n%s", got, want)
	}
	for name, bad := range map[string]*specs.LinuxResources{
		"swap below limit": {Memory: &specs.LinuxMemory{Limit: p(int64(64)), Swap: p(int64(32))}},
		"oom killer off":   {Memory: &specs.LinuxMemory{DisableOOMKiller: p(true)}},
		"realtime":         {CPU: &specs.LinuxCPU{RealtimeRuntime: p(int64(1000))}},
		"unified path":     {Unified: map[string]string{"../memory.max": "1"}},
	} {
		if _, err := v2Writes(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The policy's limits override linux.resources only where they say something the spec did not.
func TestResourcesFor(t *testing.T) {
	s := &specs.Spec{Version: specs.Version, Root: &specs.Root{Path: "rootfs"}, Process: &specs.Process{Cwd: "/", Args: []string{"sh"}}, Linux: &specs.Linux{Resources: &specs.LinuxResources{
		CPU:  &specs.LinuxCPU{Quota: p(int64(200000)), Period: p(uint64(100000))},
		Pids: &specs.LinuxPids{Limit: p(int64(100))},
	}}}
	oci, err := spec.OCIPolicy(s)
	if err != nil {
		t.Fatal(err)
	}
	r := resourcesFor(s, oci) // the policy as merged from the spec alone: nothing changes
	if *r.CPU.Quota != 200000 || *r.Pids.Limit != 100 || r.Memory != nil {
		t.Errorf("spec-only policy changed the resources: quota %d, pids %d, memory %v", *r.CPU.Quota, *r.Pids.Limit, r.Memory)
	}
	pol := oci
	pol.MaxCPU, pol.MaxProcesses, pol.MaxMemory = p(25), p(10), p(spec.Size(1<<20))
	r = resourcesFor(s, pol)
	if *r.CPU.Quota != 25000 || *r.CPU.Period != 100000 || *r.Pids.Limit != 10 || *r.Memory.Limit != 1<<20 || *r.Memory.Swap != 1<<20 {
		t.Errorf("policy limits not applied: %+v %+v %+v", r.CPU, r.Pids, r.Memory)
	}
	if *s.Linux.Resources.CPU.Quota != 200000 {
		t.Error("resourcesFor changed the spec")
	}
}

func TestMergeResources(t *testing.T) {
	old := &specs.LinuxResources{
		Memory:         &specs.LinuxMemory{Limit: p(int64(64 << 20)), Swap: p(int64(128 << 20))},
		CPU:            &specs.LinuxCPU{Quota: p(int64(50000)), Period: p(uint64(100000)), Cpus: "0"},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}, {Pagesize: "1GB", Limit: 2}},
		Devices:        []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}
	upd := &specs.LinuxResources{
		Memory:         &specs.LinuxMemory{Limit: p(int64(32 << 20))},
		Pids:           &specs.LinuxPids{Limit: p(int64(20))},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 3}},
	}
	m, err := mergeResources(old, upd)
	if err != nil {
		t.Fatal(err)
	}
	if *m.Memory.Limit != 32<<20 || *m.Memory.Swap != 128<<20 || *m.Pids.Limit != 20 ||
		*m.CPU.Quota != 50000 || m.CPU.Cpus != "0" || len(m.Devices) != 1 {
		t.Errorf("merged: %+v %+v %+v %+v", m.Memory, m.CPU, m.Pids, m.Devices)
	}
	if len(m.HugepageLimits) != 2 || m.HugepageLimits[0].Pagesize != "1GB" || m.HugepageLimits[1].Limit != 3 {
		t.Errorf("hugepage limits merged by page size: %+v", m.HugepageLimits)
	}
	if *old.Memory.Limit != 64<<20 {
		t.Error("mergeResources changed its input")
	}
	// cgroup2: a swap-only update is completed with the limit in force (memory.swap.max is
	// their difference), a period-only one with the quota in force.
	d := v2Delta(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: p(int64(96 << 20))}, CPU: &specs.LinuxCPU{Period: p(uint64(200000))}}, m)
	ws, err := v2Writes(d)
	if err != nil {
		t.Fatal(err)
	}
	want := "memory/memory.max=33554432\nmemory/memory.swap.max=67108864\ncpu/cpu.max=50000 200000\n"
	if got := writesText(ws); got != want {
		t.Errorf("v2 writes of a partial update:\n%s\nwant:\n%s", got, want)
	}
}

func TestDeviceRules(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{
		Devices: []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229},
			{Path: "/dev/fifo", Type: "p"}, {Path: "/dev/u", Type: "u", Major: 4, Minor: 64}},
		Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: false, Type: "c", Major: p(int64(1)), Minor: p(int64(3))}}},
	}}
	rules := deviceRules(s)
	ws, err := v1Devices(rules)
	if err != nil {
		t.Fatal(err)
	}
	txt := writesText(ws)
	for _, want := range []string{"devices/devices.deny=a\n", "devices/devices.deny=c 1:3 rwm\n", "devices/devices.allow=c 1:3 rwm\n", "devices/devices.allow=c 136:* rwm\n", "devices/devices.allow=c 10:229 rwm\n", "devices/devices.allow=c 4:64 rwm\n"} {
		if !strings.Contains(txt, want) {
			t.Errorf("device writes lack %q:\n%s", want, txt)
		}
	}
	// runc's defaults come after the config's rules: its deny of /dev/null does not hold.
	if !deviceAllowed(rules, "c", 1, 3, 'r') || deviceAllowed(rules, "c", 10, 237, 'r') || !deviceAllowed(rules, "c", 10, 229, 'w') {
		t.Error("deviceAllowed: want /dev/null and the linux.devices node allowed, loop-control denied")
	}
	if deviceRules(&specs.Spec{Linux: &specs.Linux{}}) != nil {
		t.Error("no device list: want no rules (the devices cgroup is not joined)")
	}
	for _, bad := range []specs.LinuxDeviceCgroup{{Type: "x"}, {Type: "c", Access: "rwx"}} {
		if _, err := v1Devices([]specs.LinuxDeviceCgroup{bad}); err == nil {
			t.Errorf("rule %+v: no error", bad)
		}
	}
}

func TestUnitLimits(t *testing.T) {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: p(int64(64 << 20))},
		Pids:   &specs.LinuxPids{Limit: p(int64(0))},
		CPU:    &specs.LinuxCPU{Quota: p(int64(12345)), Period: p(uint64(100000))},
	}
	if len(unitLimits(r, false)) != 2 {
		t.Errorf("unitLimits without pids: %v (TasksMax waits for lateLimits)", unitLimits(r, false))
	}
	props := unitLimits(r, true)
	got := map[string]any{}
	for _, pr := range props {
		got[pr.Name] = pr.Value.Value()
	}
	want := map[string]any{"MemoryMax": uint64(64 << 20), "TasksMax": ^uint64(0), "CPUQuotaPerSecUSec": uint64(130000)}
	if len(got) != len(want) {
		t.Fatalf("unitLimits: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestMemoryUnderSwap: an update raising the memory limit of a max_memory container (memory+swap
// = the limit) without --memory-swap is refused with what to do; with the swap, or below it, not.
func TestMemoryUnderSwap(t *testing.T) {
	created := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(64 << 20)), Swap: p(int64(64 << 20))}}
	for _, c := range []struct {
		upd  specs.LinuxMemory
		want string
	}{
		{specs.LinuxMemory{Limit: p(int64(128 << 20))}, "memory.limit: 134217728 is above the memory+swap limit in force, 67108864"},
		{specs.LinuxMemory{Limit: p(int64(128 << 20)), Swap: p(int64(128 << 20))}, ""},
		{specs.LinuxMemory{Limit: p(int64(128 << 20)), Swap: p(int64(-1))}, ""},
		{specs.LinuxMemory{Limit: p(int64(32 << 20))}, ""},
		{specs.LinuxMemory{Limit: p(int64(-1)), Swap: p(int64(-1))}, ""},
		{specs.LinuxMemory{Limit: p(int64(-1)), Swap: p(int64(64 << 20))}, "memory.limit: none (-1) under the memory+swap limit in force, 67108864"},
	} {
		merged, err := mergeResources(created, &specs.LinuxResources{Memory: &c.upd})
		if err != nil {
			t.Fatal(err)
		}
		err = memoryUnderSwap(merged.Memory)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("update %+v: %v, want %q", c.upd, err, c.want)
		}
	}
}

// TestNoCgroupLimitsNamesPolicyKey: without a writable cgroup, a limit from max_cpu is refused
// naming max_cpu (its first write is cpu.period, which alone would not say which field asked).
func TestNoCgroupLimitsNamesPolicyKey(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{}}
	r := resourcesFor(s, spec.Policy{MaxCPU: p(50)})
	r.Devices = nil
	err := noCgroupLimits(s, r)
	if err == nil || !strings.Contains(err.Error(), "(max_cpu): no writable cgroup controller") {
		t.Errorf("noCgroupLimits(max_cpu 50) = %v, want a refusal naming max_cpu", err)
	}
}
