package lifecycle

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// linux.resources on a cgroup2 host with controllers: written into the container's own cgroup2
// dir (init is cloned into it), after the controllers it needs are delegated down to it through
// each ancestor's cgroup.subtree_control. The conversions (shares -> weight, ...) are the ones
// the OCI runtimes document for cgroup2.

// v2Always are delegated to every container when the host offers them, so that statistics
// and a later `update` work without a limit set at create.
var v2Always = []string{"memory", "pids", "cpu"}

func v2Writes(r *specs.LinuxResources) ([]cgWrite, error) {
	if r == nil {
		return nil, nil
	}
	w, err := v2Memory(r.Memory)
	if err != nil {
		return nil, err
	}
	cw, err := v2CPU(r.CPU)
	if err != nil {
		return nil, err
	}
	w = append(w, cw...)
	if r.Pids != nil && r.Pids.Limit != nil {
		w = append(w, cgWrite{resPrefix + "pids.limit", "pids", "pids.max", pidsMax(*r.Pids.Limit)})
	}
	w = append(w, v2IO(r.BlockIO)...)
	for _, h := range r.HugepageLimits {
		w = append(w, cgWrite{resPrefix + "hugepageLimits", "hugetlb", "hugetlb." + h.Pagesize + ".max", u64(h.Limit)})
	}
	if r.Network != nil && (r.Network.ClassID != nil || len(r.Network.Priorities) > 0) {
		return nil, fmt.Errorf("%snetwork: net_cls and net_prio do not exist in cgroup2; accepted: no network resources on this host", resPrefix)
	}
	for dev, l := range r.Rdma {
		w = append(w, cgWrite{resPrefix + "rdma", "rdma", "rdma.max", rdmaLine(dev, l)})
	}
	for k, v := range r.Unified {
		ctrl, _, ok := strings.Cut(k, ".")
		if !ok || strings.Contains(k, "/") || ctrl == "cgroup" {
			return nil, fmt.Errorf("%sunified: %q: not a controller file; accepted: <controller>.<file>, e.g. memory.high", resPrefix, k)
		}
		w = append(w, cgWrite{resPrefix + "unified." + k, ctrl, k, v})
	}
	return w, nil
}

func v2Max(v int64) string {
	if v < 0 {
		return "max"
	}
	return i64(v)
}

func v2Memory(m *specs.LinuxMemory) ([]cgWrite, error) {
	if m == nil {
		return nil, nil
	}
	f := resPrefix + "memory."
	var w []cgWrite
	if m.Limit != nil {
		w = append(w, cgWrite{f + "limit", "memory", "memory.max", v2Max(*m.Limit)})
	}
	if m.Reservation != nil {
		w = append(w, cgWrite{f + "reservation", "memory", "memory.low", v2Max(*m.Reservation)})
	}
	if m.Swap != nil {
		sw, err := v2Swap(*m.Swap, m.Limit)
		if err != nil {
			return nil, err
		}
		w = append(w, cgWrite{f + "swap", "memory", "memory.swap.max", sw})
	}
	switch {
	case m.DisableOOMKiller != nil && *m.DisableOOMKiller:
		return nil, fmt.Errorf("%sdisableOOMKiller: cgroup2 cannot disable the OOM killer; accepted: false", f)
	case m.Swappiness != nil && *m.Swappiness <= 100:
		return nil, fmt.Errorf("%sswappiness: cgroup2 has no per-cgroup swappiness; accepted: unset", f)
	case m.KernelTCP != nil:
		return nil, fmt.Errorf("%skernelTCP: cgroup2 has no separate TCP memory limit; accepted: unset", f)
	}
	return w, nil
}

// v2Swap: OCI's swap is memory+swap (v1's memsw); cgroup2's memory.swap.max is swap alone.
func v2Swap(swap int64, limit *int64) (string, error) {
	switch {
	case swap < 0:
		return "max", nil
	case limit == nil || *limit < 0:
		return "", fmt.Errorf("%smemory.swap: a swap limit needs a memory limit (it is memory+swap); accepted: -1 or a limit with it", resPrefix)
	case swap < *limit:
		return "", fmt.Errorf("%smemory.swap: %d is below memory.limit %d (swap is memory+swap)", resPrefix, swap, *limit)
	}
	return i64(swap - *limit), nil
}

func v2CPU(c *specs.LinuxCPU) ([]cgWrite, error) {
	if c == nil {
		return nil, nil
	}
	f := resPrefix + "cpu."
	if (c.RealtimePeriod != nil && *c.RealtimePeriod > 0) || (c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0) {
		return nil, fmt.Errorf("%srealtimeRuntime/realtimePeriod: cgroup2 has no realtime CPU limits; accepted: unset", f)
	}
	var w []cgWrite
	if c.Shares != nil && *c.Shares > 0 {
		w = append(w, cgWrite{f + "shares", "cpu", "cpu.weight", u64(sharesToWeight(*c.Shares))})
	}
	if (c.Quota != nil && *c.Quota != 0) || (c.Period != nil && *c.Period > 0) {
		w = append(w, cgWrite{f + "quota", "cpu", "cpu.max", cpuMax(c.Quota, c.Period)})
	}
	if c.Burst != nil {
		w = append(w, cgWrite{f + "burst", "cpu", "cpu.max.burst", u64(*c.Burst)})
	}
	if c.Idle != nil {
		w = append(w, cgWrite{f + "idle", "cpu", "cpu.idle", i64(*c.Idle)})
	}
	return append(w, cpusetWrites(c)...), nil
}

// sharesToWeight maps cpu.shares [2, 262144] onto cpu.weight [1, 10000].
func sharesToWeight(s uint64) uint64 {
	s = min(max(s, 2), 262144)
	return 1 + ((s-2)*9999)/262142
}

func cpuMax(quota *int64, period *uint64) string {
	q, p := "max", uint64(cpuPeriod)
	if quota != nil && *quota > 0 {
		q = i64(*quota)
	}
	if period != nil && *period > 0 {
		p = *period
	}
	return q + " " + u64(p)
}

func v2IO(b *specs.LinuxBlockIO) []cgWrite {
	if b == nil {
		return nil
	}
	f := resPrefix + "blockIO."
	var w []cgWrite
	if b.Weight != nil && *b.Weight > 0 {
		w = append(w, cgWrite{f + "weight", "io", "io.weight", "default " + u64(blkioToIOWeight(*b.Weight))})
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil {
			w = append(w, cgWrite{f + "weightDevice", "io", "io.weight", devLine(d.Major, d.Minor, u64(blkioToIOWeight(*d.Weight)))})
		}
	}
	for _, t := range []struct {
		name, key string
		devs      []specs.LinuxThrottleDevice
	}{
		{"throttleReadBpsDevice", "rbps", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "wbps", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "riops", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "wiops", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			w = append(w, cgWrite{f + t.name, "io", "io.max", devLine(d.Major, d.Minor, t.key+"="+u64(d.Rate))})
		}
	}
	return w
}

// blkioToIOWeight maps blkio.weight [10, 1000] onto io.weight [1, 10000].
func blkioToIOWeight(w uint16) uint64 {
	v := uint64(min(max(w, 10), 1000))
	return 1 + (v-10)*9999/990
}

// applyV2 delegates the controllers r needs (and v2Always) to dir and writes r there; offered
// is what the cgroup2 root offers.
func applyV2(mnt, dir string, offered []string, r *specs.LinuxResources) error {
	ws, err := v2Writes(r)
	if err != nil {
		return err
	}
	if err := delegateV2(mnt, dir, offered, ws); err != nil {
		return err
	}
	return applyV1(v1Cgroup{Dirs: sameDir(ws, dir)}, ws)
}

// delegateV2 enables the controllers ws writes to (and v2Always, where offered) down to dir.
func delegateV2(mnt, dir string, offered []string, ws []cgWrite) error {
	need := v1Controllers(ws)
	for _, c := range need {
		if !slices.Contains(offered, c) {
			return fmt.Errorf("%s: this host's cgroup2 offers no %s controller (it offers: %s)", firstField(ws, c), c, strings.Join(offered, " "))
		}
	}
	for _, c := range append(need, v2Always...) {
		if !slices.Contains(offered, c) {
			continue
		}
		err := delegate(mnt, dir, c)
		if err != nil && slices.Contains(need, c) {
			return fmt.Errorf("%s: %w", firstField(ws, c), err)
		}
	}
	return nil
}

// delegate enables controller c in the subtree_control of every ancestor of dir below mnt.
func delegate(mnt, dir, c string) error {
	rel := strings.TrimPrefix(dir, mnt)
	p := mnt
	var errs []error
	for _, part := range strings.Split(strings.Trim(rel, "/"), "/") {
		errs = append(errs, writeCgroupFile(p, "cgroup.subtree_control", "+"+c))
		p = filepath.Join(p, part)
	}
	return errors.Join(errs...)
}

func sameDir(ws []cgWrite, dir string) map[string]string {
	m := map[string]string{}
	for _, w := range ws {
		m[w.ctrl] = dir
	}
	return m
}

func firstField(ws []cgWrite, ctrl string) string {
	for _, w := range ws {
		if w.ctrl == ctrl {
			return w.field
		}
	}
	return resPrefix + ctrl
}
