package lifecycle

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats is what `events --stats` prints as an event's data: the JSON runc prints (the names
// containerd's go-runc and podman decode), read from the container's controllers.
type Stats struct {
	CPU     CPUStats               `json:"cpu"`
	Memory  MemoryStats            `json:"memory"`
	Pids    PidsStats              `json:"pids"`
	Blkio   BlkioStats             `json:"blkio"`
	Hugetlb map[string]HugetlbStat `json:"hugetlb"`
}

// CPUStats: nanoseconds.
type CPUStats struct {
	Usage      CPUUsage   `json:"usage,omitempty"`
	Throttling Throttling `json:"throttling,omitempty"`
}

type CPUUsage struct {
	Total  uint64   `json:"total,omitempty"`
	Percpu []uint64 `json:"percpu,omitempty"`
	Kernel uint64   `json:"kernel"`
	User   uint64   `json:"user"`
}

type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type MemoryStats struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage,omitempty"`
	Swap      MemoryEntry       `json:"swap,omitempty"`
	Kernel    MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
}

type PidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

type BlkioStats struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
}

type HugetlbStat struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// ContainerStats reads the statistics of a created, running or paused container.
func ContainerStats(o *Options, id string) (*Stats, error) {
	c, err := Load(o.Root, id)
	if err != nil {
		return nil, err
	}
	if c.State == nil {
		return nil, check("events", id, Creating)
	}
	if err := check("events", id, c.Status()); err != nil {
		return nil, err
	}
	rec, ok := loadCgroupRecord(c.dir)
	if !ok {
		return nil, errors.New("events: this container has no cgroup, where its statistics are read (it was created without a writable cgroup: without root); --denied works")
	}
	if len(rec.V1.Dirs) > 0 {
		return v1Stats(rec.V1.Dirs), nil
	}
	return v2Stats(rec.Dir), nil
}

func v1Stats(d map[string]string) *Stats {
	s := &Stats{Hugetlb: map[string]HugetlbStat{}}
	if m := d["memory"]; m != "" {
		s.Memory = MemoryStats{
			Usage: v1MemEntry(m, "memory."), Swap: v1MemEntry(m, "memory.memsw."),
			Kernel: v1MemEntry(m, "memory.kmem."), KernelTCP: v1MemEntry(m, "memory.kmem.tcp."),
			Raw: readKeyed(filepath.Join(m, "memory.stat")),
		}
		s.Memory.Cache = s.Memory.Raw["cache"]
	}
	if p := d["pids"]; p != "" {
		s.Pids = PidsStats{Current: readUint(p, "pids.current"), Limit: readUint(p, "pids.max")}
	}
	if a := d["cpuacct"]; a != "" {
		st := readKeyed(filepath.Join(a, "cpuacct.stat"))
		s.CPU.Usage = CPUUsage{
			Total: readUint(a, "cpuacct.usage"), Percpu: readUints(a, "cpuacct.usage_percpu"),
			User: st["user"] * nsPerTick, Kernel: st["system"] * nsPerTick,
		}
	}
	if c := d["cpu"]; c != "" {
		st := readKeyed(filepath.Join(c, "cpu.stat"))
		s.CPU.Throttling = Throttling{st["nr_periods"], st["nr_throttled"], st["throttled_time"]}
	}
	if b := d["blkio"]; b != "" {
		s.Blkio = BlkioStats{
			IoServiceBytesRecursive: readBlkio(filepath.Join(b, "blkio.throttle.io_service_bytes_recursive")),
			IoServicedRecursive:     readBlkio(filepath.Join(b, "blkio.throttle.io_serviced_recursive")),
		}
	}
	if h := d["hugetlb"]; h != "" {
		for _, size := range hugePageSizes(h) {
			p := "hugetlb." + size + "."
			s.Hugetlb[size] = HugetlbStat{readUint(h, p+"usage_in_bytes"), readUint(h, p+"max_usage_in_bytes"), readUint(h, p+"failcnt")}
		}
	}
	return s
}

// nsPerTick converts cpuacct.stat's USER_HZ ticks (100 a second on every Linux ABI) to ns.
const nsPerTick = 1e9 / 100

func v1MemEntry(dir, prefix string) MemoryEntry {
	return MemoryEntry{
		Limit: readUint(dir, prefix+"limit_in_bytes"), Usage: readUint(dir, prefix+"usage_in_bytes"),
		Max: readUint(dir, prefix+"max_usage_in_bytes"), Failcnt: readUint(dir, prefix+"failcnt"),
	}
}

func v2Stats(dir string) *Stats {
	s := &Stats{Hugetlb: map[string]HugetlbStat{}}
	raw := readKeyed(filepath.Join(dir, "memory.stat"))
	ev := readKeyed(filepath.Join(dir, "memory.events"))
	s.Memory = MemoryStats{
		Cache: raw["file"], Raw: raw,
		Usage: MemoryEntry{Limit: readUint(dir, "memory.max"), Usage: readUint(dir, "memory.current"),
			Max: readUint(dir, "memory.peak"), Failcnt: ev["max"]},
		Swap: MemoryEntry{Limit: readUint(dir, "memory.swap.max"), Usage: readUint(dir, "memory.swap.current")},
	}
	s.Pids = PidsStats{Current: readUint(dir, "pids.current"), Limit: readUint(dir, "pids.max")}
	st := readKeyed(filepath.Join(dir, "cpu.stat"))
	s.CPU = CPUStats{
		Usage:      CPUUsage{Total: st["usage_usec"] * 1000, User: st["user_usec"] * 1000, Kernel: st["system_usec"] * 1000},
		Throttling: Throttling{st["nr_periods"], st["nr_throttled"], st["throttled_usec"] * 1000},
	}
	return s
}

// readUint reads a one-number control file; "max", -1 and missing files are 0 ("no value"),
// as runc reports them.
func readUint(dir, file string) uint64 {
	b, _ := os.ReadFile(filepath.Join(dir, file))
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if n >= 1<<62 { // v1's "unlimited" (page-rounded LONG_MAX)
		return 0
	}
	return n
}

func readUints(dir, file string) []uint64 {
	b, _ := os.ReadFile(filepath.Join(dir, file))
	var out []uint64
	for _, f := range strings.Fields(string(b)) {
		n, _ := strconv.ParseUint(f, 10, 64)
		out = append(out, n)
	}
	return out
}

// readKeyed reads "key value" lines (memory.stat, cpu.stat, ...).
func readKeyed(path string) map[string]uint64 {
	out := map[string]uint64{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			out[k] = n
		}
	}
	return out
}

// readBlkio reads "MAJ:MIN Op value" lines (the "Total" line is left out).
func readBlkio(path string) []BlkioEntry {
	b, _ := os.ReadFile(path)
	var out []BlkioEntry
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		maj, min, ok := strings.Cut(f[0], ":")
		if !ok {
			continue
		}
		e := BlkioEntry{Op: f[1]}
		e.Major, _ = strconv.ParseUint(maj, 10, 64)
		e.Minor, _ = strconv.ParseUint(min, 10, 64)
		e.Value, _ = strconv.ParseUint(f[2], 10, 64)
		out = append(out, e)
	}
	return out
}

// hugePageSizes lists the sizes the hugetlb controller has files for ("2MB", "1GB").
func hugePageSizes(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "hugetlb.*.limit_in_bytes"))
	var out []string
	for _, p := range m {
		s := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "hugetlb."), ".limit_in_bytes")
		if !strings.Contains(s, ".") {
			out = append(out, s)
		}
	}
	return out
}
