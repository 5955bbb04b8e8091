package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/notifsup"
	"github.com/sandlock/sandlock-runtime/spec"
)

// supervisorConfig is the supervisor's part of the container's plan: one document, computed
// once at create (supervisorFile in the state dir), from which both the filter's trapped
// syscalls and the supervisor's handlers are made, so the two cannot disagree.
type supervisorConfig struct {
	Hostname string                  `json:"hostname,omitempty"`
	FS       notifsup.FSMetaConfig   `json:"fs"`
	Proc     notifsup.ProcViewConfig `json:"proc"`
	// Hosts, where the root is the host's and net_allow_hosts is set: the /etc/hosts the
	// supervisor shows the process (its opens of /etc/hosts are answered with it).
	Hosts string `json:"hosts,omitempty"`
	// Pinned is net_allow_hosts as resolved at create (for `state` and the audit's reader).
	Pinned []pinnedHost `json:"pinned,omitempty"`
	// PortRemap: port_remap, the TCP ports the container binds are virtual (notifsup.PortMap).
	PortRemap bool `json:"portRemap,omitempty"`
	// ListenBound: net_bind is a list, so listen(2) on an unbound TCP socket (an ephemeral
	// port no list can name) is refused (notifsup.ListenBound).
	ListenBound bool `json:"listenBound,omitempty"`
	// RandomSeed: random_seed, the seed of the randomness the process reads (notifsup.RandomSeed).
	RandomSeed *int64 `json:"randomSeed,omitempty"`
	// SortDirs: deterministic_dirs, every listing sorted by name (notifsup.SortedDirs).
	SortDirs bool `json:"sortDirs,omitempty"`
	// TimeStart: time_start, in unix nanoseconds (notifsup.TimeShift).
	TimeStart *int64 `json:"timeStart,omitempty"`

	dir string // the state dir, where the supervisor records the port map (not saved)
}

// memView is what /proc/meminfo shows of the container's memory limit: the limit and the
// cgroup file that has its usage ("" limit 0: none).
type memView struct {
	limit            int64
	usage, limitFile string
}

const supervisorFile = "supervisor.json"

// supervisorPlan derives the supervisor's configuration from the plan and records what it
// traps in the plan's seccomp options.
func supervisorPlan(pol spec.Policy, plan *confine.Plan, hostname, rootfs string, mem memView, pinned []pinnedHost) (supervisorConfig, error) {
	c := supervisorConfig{Hostname: hostname, FS: notifsup.FSMetaConfig{Reads: readsRestricted(pol, plan.Landlock.Paths)}}
	restrict, addrs, hosts := netHostsConfig(pol, pinned)
	c.PortRemap = pol.PortRemapEnabled()
	c.ListenBound = len(plan.Landlock.BindTCP) > 0
	if seed, ok := pol.Seed(); ok {
		c.RandomSeed = &seed
	}
	c.SortDirs = pol.DirsSorted()
	if t, ok := pol.StartTime(); ok {
		if !notifsup.VDSOPatched {
			return c, errors.New("time_start: the vDSO's clocks are rewritten on x86_64 only: here they would read the host's time")
		}
		ns := t.UnixNano()
		c.TimeStart = &ns
	}
	if rootfs == "/" || restrict || c.PortRemap {
		// The host's file system (direct mode, host mode): its listening unix sockets are a
		// path away, and Landlock does not govern reaching them. net_allow_hosts: every IP
		// destination is decided by the supervisor.
		ll := plan.Landlock
		c.FS.Connect = &notifsup.ConnectConfig{DenyTCP: ll.DenyTCP, ConnectTCP: ll.ConnectTCP, AbstractScoped: ll.ScopeAbstractUnix,
			ImageRoot: rootfs != "/", RestrictHosts: restrict, AllowHosts: addrs, BindTCP: ll.BindTCP}
	}
	if restrict {
		c.Pinned = pinned
		if rootfs == "/" {
			c.Hosts = hosts
		}
	}
	for _, r := range plan.Landlock.Paths {
		if strings.HasPrefix(r.Path, "/proc/self/fd/") {
			continue // init's own open file (the direct mode's terminal): no path for the supervisor
		}
		c.FS.Rules = append(c.FS.Rules, notifsup.FSRule{Path: r.Path, Write: r.Write, ListOnly: r.ListOnly})
	}
	c.FS.Carve = carveConfig(plan.Landlock.Carved)
	c.Proc = notifsup.ProcViewConfig{NumCPUs: pol.VisibleCPUs(), MemLimit: mem.limit, MemUsage: mem.usage, MemLimitFile: mem.limitFile, MetaReads: c.FS.Reads}
	if rootfs == "/" {
		// The host's /proc and /etc: the supervisor shows them as the container's.
		c.Proc.EtcHostname = hostname
		if pol.PIDsIsolated() {
			// After FS.Rules: the metadata feature still decides on /proc by its rules.
			if err := hideProc(plan, &c.Proc); err != nil {
				return c, err
			}
		}
	}
	plan.Seccomp.Notify, plan.Seccomp.NotifyIoctls = notifsup.Trapped(c.features())
	return c, nil
}

// openProcMounts are the host's procfs mounts other than /proc that show every process (no
// hidepid=ptraceable or invisible: a bind of /proc, a chroot's /proc). Another container's
// /proc of this runtime has hidepid=ptraceable: the sandbox's Landlock domain sees nothing
// foreign there.
func openProcMounts() []string {
	ms, _ := readMountinfo()
	var out []string
	for _, m := range ms {
		if m.fstype != "proc" || m.point == "/proc" || !strings.HasPrefix(m.point, "/") {
			continue
		}
		hidden := false
		for _, o := range strings.Split(m.superOpts, ",") {
			hidden = hidden || o == "hidepid=ptraceable" || o == "hidepid=invisible" || o == "hidepid=2" || o == "hidepid=4"
		}
		if !hidden && !slices.Contains(out, m.point) {
			out = append(out, m.point)
		}
	}
	return out
}

// hideProc takes /proc out of the process's Landlock rules and gives the rules that covered
// it to the supervisor, which opens /proc entries for the process (notifsup.ProcView).
func hideProc(plan *confine.Plan, p *notifsup.ProcViewConfig) error {
	p.HidePIDs = true
	for _, r := range plan.Landlock.Paths {
		if strings.HasPrefix(r.Path, "/proc/self/fd/") {
			continue
		}
		if r.Path == "/" || r.Path == "/proc" || strings.HasPrefix(r.Path, "/proc/") {
			p.ProcRules = append(p.ProcRules, notifsup.FSRule{Path: r.Path, Write: r.Write, ListOnly: r.ListOnly})
		}
	}
	var keep, terminals []confine.PathRule
	for _, r := range plan.Landlock.Paths {
		switch {
		case strings.HasPrefix(r.Path, "/proc/self/fd/"):
			terminals = append(terminals, r) // init's own stdio, opened as a file: not /proc
		case r.ListOnly && r.Path == "/":
			// A list-only rule on "/" (left by an earlier carving) grants READ_DIR beneath,
			// in /proc too: the supervisor lists "/" for the process instead.
		default:
			keep = append(keep, r)
		}
	}
	carved, err := confine.HideProc(keep, openProcMounts()...)
	if err != nil {
		return fmt.Errorf("isolate_pids: %w", err)
	}
	plan.Landlock.Paths = append(carved, terminals...)
	return nil
}

// carveConfig hands fs_denied's carving to the supervisor (notifsup.FSCarve), which then
// traps the path syscalls; nil traps none of them: no carving, or only read-only rules carved
// (nothing can be created there, and the only loss, an entry the host adds later, does not
// justify sending every open of the sandbox to the supervisor).
func carveConfig(cv *confine.Carving) *notifsup.CarveConfig {
	if cv == nil || !slices.ContainsFunc(cv.Rules, func(r confine.CarvedRule) bool { return r.Write }) {
		return nil
	}
	c := &notifsup.CarveConfig{Dirs: cv.Dirs, Present: cv.Present, Inodes: cv.Inodes}
	for _, r := range cv.Rules {
		c.Rules = append(c.Rules, notifsup.FSRule{Path: r.Path, Write: r.Write})
	}
	for _, d := range cv.Denied {
		c.Denied = append(c.Denied, notifsup.DeniedPath{Path: d.Path, Dir: d.Dir})
	}
	return c
}

// readsRestricted: the policy lets the process read less than everything it can name, so
// reading metadata (readlink, getxattr, listxattr) needs the supervisor too.
func readsRestricted(pol spec.Policy, rules []confine.PathRule) bool {
	if len(pol.FSReadable)+len(pol.FSWritable)+len(pol.FSDenied) > 0 {
		return true
	}
	for _, r := range rules {
		if r.ListOnly {
			return true
		}
	}
	return false
}

// features are the supervisor's features for this configuration, in the order they are
// declared to the filter.
func (c supervisorConfig) features() []notifsup.Feature {
	fs := []notifsup.Feature{notifsup.UnameFeature(c.Hostname)}
	if c.RandomSeed != nil {
		// First of the openers: it claims only opens that reach a random source.
		fs = append(fs, notifsup.RandomSeed(*c.RandomSeed, c.FS)...)
	}
	// The synthetic files first: each claims only the exact paths it shows (a wrong answer
	// there shows a file, it grants nothing), so a feature below never opens the real one.
	if c.Hosts != "" {
		fs = append(fs, notifsup.HostsFile(c.Hosts))
	}
	if c.PortRemap {
		pm := notifsup.NewPortMap(c.recordPorts)
		c.FS.Ports = pm
		fs = append(fs, notifsup.ProcNetFiles(pm))
	}
	if c.FS.Carve != nil {
		// Before proc-view: in the directories holding a denied path it performs the opens.
		fs = append(fs, notifsup.FSCarve(c.FS))
	}
	if c.Proc.Active() {
		// Before FSMeta: its readlink answers what reaches /proc, FSMeta's the rest.
		fs = append(fs, notifsup.ProcView(c.Proc))
	}
	if c.ListenBound {
		fs = append(fs, notifsup.ListenBound())
	}
	if c.TimeStart != nil {
		fs = append(fs, notifsup.TimeShift(time.Unix(0, *c.TimeStart)))
	}
	fs = append(fs, notifsup.FSMeta(c.FS))
	if c.SortDirs {
		// First for getdents: it lists every directory, with the others' views applied.
		fs = append([]notifsup.Feature{notifsup.SortedDirs(fs)}, fs...)
	}
	return fs
}

func saveSupervisorConfig(dir string, c supervisorConfig) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return writeFileNew(filepath.Join(dir, supervisorFile), b, 0o600)
}

func loadSupervisorConfig(dir string) (supervisorConfig, error) {
	var c supervisorConfig
	b, err := os.ReadFile(filepath.Join(dir, supervisorFile))
	if err != nil {
		return c, fmt.Errorf("supervisor configuration: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("supervisor configuration %s: %w", filepath.Join(dir, supervisorFile), err)
	}
	return c, nil
}

// portsFile records port_remap's map in the state dir, virtual port -> real port, for `state`
// (annotation io.sandlock.ports) and whoever needs the real port.
const portsFile = "ports.json"

func (c supervisorConfig) recordPorts(m map[uint16]uint16) {
	if c.dir == "" {
		return
	}
	b, err := json.Marshal(m)
	if err == nil {
		err = writeFileAtomic(filepath.Join(c.dir, portsFile), b, 0o644)
	}
	if err != nil {
		logrus.Warnf("port_remap: record the ports: %v", err)
	}
}
