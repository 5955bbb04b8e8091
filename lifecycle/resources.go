package lifecycle

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// linux.resources as the values to write into controller files, for a cgroup v1 (hybrid) host
// and for a cgroup2 host with controllers. Each write names the OCI field it comes from, so a
// value the host cannot take is reported as that field: the spec says a runtime MUST apply
// linux.resources, so what cannot be applied is an error at create, never a warning.

// cgWrite is one value for one controller file.
type cgWrite struct {
	field string // the OCI field, for errors ("linux.resources.memory.limit")
	ctrl  string // controller (v1: the hierarchy to write in)
	file  string // file name in the controller's dir
	val   string
}

const resPrefix = "linux.resources."

func i64(v int64) string  { return strconv.FormatInt(v, 10) }
func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// v1Limit is a v1 byte limit: -1 (and anything negative) is "no limit".
func v1Limit(v int64) string {
	if v < 0 {
		return "-1"
	}
	return i64(v)
}

// v1Writes maps r onto cgroup v1 files, in the order they must be written.
func v1Writes(r *specs.LinuxResources) ([]cgWrite, error) {
	if r == nil {
		return nil, nil
	}
	if len(r.Unified) > 0 {
		return nil, fmt.Errorf("%sunified: this host's resource controllers are cgroup v1 (hybrid), where cgroup2 files cannot be set; accepted: unified keys on a cgroup2 host, or the v1 fields (memory, cpu, pids, blockIO, hugepageLimits)", resPrefix)
	}
	var w []cgWrite
	w = append(w, v1Memory(r.Memory)...)
	w = append(w, v1CPU(r.CPU)...)
	if r.Pids != nil && r.Pids.Limit != nil {
		w = append(w, cgWrite{resPrefix + "pids.limit", "pids", "pids.max", pidsMax(*r.Pids.Limit)})
	}
	w = append(w, v1BlockIO(r.BlockIO)...)
	for _, h := range r.HugepageLimits {
		w = append(w, cgWrite{resPrefix + "hugepageLimits", "hugetlb", "hugetlb." + h.Pagesize + ".limit_in_bytes", u64(h.Limit)})
	}
	w = append(w, netWrites(r.Network)...)
	for dev, l := range r.Rdma {
		w = append(w, cgWrite{resPrefix + "rdma", "rdma", "rdma.max", rdmaLine(dev, l)})
	}
	dw, err := v1Devices(r.Devices)
	return append(w, dw...), err
}

func pidsMax(l int64) string {
	if l <= 0 {
		return "max"
	}
	return i64(l)
}

// v1Memory: memory.limit before memory.memsw (the kernel keeps memsw >= limit). Kernel memory
// limits are left out as runc leaves them: the kernel no longer supports setting them.
func v1Memory(m *specs.LinuxMemory) []cgWrite {
	if m == nil {
		return nil
	}
	var w []cgWrite
	f := resPrefix + "memory."
	if m.Limit != nil {
		w = append(w, cgWrite{f + "limit", "memory", "memory.limit_in_bytes", v1Limit(*m.Limit)})
	}
	if m.Swap != nil {
		w = append(w, cgWrite{f + "swap", "memory", "memory.memsw.limit_in_bytes", v1Limit(*m.Swap)})
	}
	if m.Reservation != nil {
		w = append(w, cgWrite{f + "reservation", "memory", "memory.soft_limit_in_bytes", v1Limit(*m.Reservation)})
	}
	if m.KernelTCP != nil {
		w = append(w, cgWrite{f + "kernelTCP", "memory", "memory.kmem.tcp.limit_in_bytes", v1Limit(*m.KernelTCP)})
	}
	if m.Swappiness != nil && *m.Swappiness <= 100 {
		w = append(w, cgWrite{f + "swappiness", "memory", "memory.swappiness", u64(*m.Swappiness)})
	}
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		w = append(w, cgWrite{f + "disableOOMKiller", "memory", "memory.oom_control", "1"})
	}
	return w
}

// v1CPU: the period before the quota (a quota is checked against the current period).
func v1CPU(c *specs.LinuxCPU) []cgWrite {
	if c == nil {
		return nil
	}
	var w []cgWrite
	f := resPrefix + "cpu."
	if c.Shares != nil && *c.Shares > 0 {
		w = append(w, cgWrite{f + "shares", "cpu", "cpu.shares", u64(*c.Shares)})
	}
	if c.Period != nil && *c.Period > 0 {
		w = append(w, cgWrite{f + "period", "cpu", "cpu.cfs_period_us", u64(*c.Period)})
	}
	if c.Quota != nil && *c.Quota != 0 {
		w = append(w, cgWrite{f + "quota", "cpu", "cpu.cfs_quota_us", v1Limit(*c.Quota)})
	}
	if c.Burst != nil {
		w = append(w, cgWrite{f + "burst", "cpu", "cpu.cfs_burst_us", u64(*c.Burst)})
	}
	if c.RealtimePeriod != nil && *c.RealtimePeriod > 0 {
		w = append(w, cgWrite{f + "realtimePeriod", "cpu", "cpu.rt_period_us", u64(*c.RealtimePeriod)})
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
		w = append(w, cgWrite{f + "realtimeRuntime", "cpu", "cpu.rt_runtime_us", i64(*c.RealtimeRuntime)})
	}
	if c.Idle != nil {
		w = append(w, cgWrite{f + "idle", "cpu", "cpu.idle", i64(*c.Idle)})
	}
	return append(w, cpusetWrites(c)...)
}

func cpusetWrites(c *specs.LinuxCPU) []cgWrite {
	var w []cgWrite
	if c.Cpus != "" {
		w = append(w, cgWrite{resPrefix + "cpu.cpus", "cpuset", "cpuset.cpus", c.Cpus})
	}
	if c.Mems != "" {
		w = append(w, cgWrite{resPrefix + "cpu.mems", "cpuset", "cpuset.mems", c.Mems})
	}
	return w
}

func v1BlockIO(b *specs.LinuxBlockIO) []cgWrite {
	if b == nil {
		return nil
	}
	var w []cgWrite
	f := resPrefix + "blockIO."
	if b.Weight != nil && *b.Weight > 0 {
		w = append(w, cgWrite{f + "weight", "blkio", "blkio.weight", u64(uint64(*b.Weight))})
	}
	if b.LeafWeight != nil && *b.LeafWeight > 0 {
		w = append(w, cgWrite{f + "leafWeight", "blkio", "blkio.leaf_weight", u64(uint64(*b.LeafWeight))})
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil {
			w = append(w, cgWrite{f + "weightDevice", "blkio", "blkio.weight_device", devLine(d.Major, d.Minor, u64(uint64(*d.Weight)))})
		}
	}
	for _, t := range []struct {
		name, file string
		devs       []specs.LinuxThrottleDevice
	}{
		{"throttleReadBpsDevice", "blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			w = append(w, cgWrite{f + t.name, "blkio", t.file, devLine(d.Major, d.Minor, u64(d.Rate))})
		}
	}
	return w
}

func devLine(major, minor int64, v string) string { return fmt.Sprintf("%d:%d %s", major, minor, v) }

func netWrites(n *specs.LinuxNetwork) []cgWrite {
	if n == nil {
		return nil
	}
	var w []cgWrite
	if n.ClassID != nil {
		w = append(w, cgWrite{resPrefix + "network.classID", "net_cls", "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)})
	}
	for _, p := range n.Priorities {
		w = append(w, cgWrite{resPrefix + "network.priorities", "net_prio", "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)})
	}
	return w
}

func rdmaLine(dev string, l specs.LinuxRdma) string {
	parts := []string{dev}
	if l.HcaHandles != nil {
		parts = append(parts, "hca_handle="+strconv.FormatUint(uint64(*l.HcaHandles), 10))
	}
	if l.HcaObjects != nil {
		parts = append(parts, "hca_object="+strconv.FormatUint(uint64(*l.HcaObjects), 10))
	}
	return strings.Join(parts, " ")
}

// v1Controllers lists the controllers ws writes to, each once, in first-use order.
func v1Controllers(ws []cgWrite) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range ws {
		if !seen[w.ctrl] {
			seen[w.ctrl] = true
			out = append(out, w.ctrl)
		}
	}
	return out
}
