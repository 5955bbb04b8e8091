package lifecycle

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/notifsup"
	"github.com/sandlock/sandlock-runtime/spec"
)

// supervisorConfig is the supervisor's part of the container's plan: one document, computed
// once at create (supervisorFile in the state dir), from which both the filter's trapped
// syscalls and the supervisor's handlers are made, so the two cannot disagree.
type supervisorConfig struct {
	Hostname string                `json:"hostname,omitempty"`
	FS       notifsup.FSMetaConfig `json:"fs"`
	// Hosts, where the root is the host's and net_allow_hosts is set: the /etc/hosts the
	// supervisor shows the process (its opens of /etc/hosts are answered with it).
	Hosts string `json:"hosts,omitempty"`
	// Pinned is net_allow_hosts as resolved at create (for `state` and the audit's reader).
	Pinned []pinnedHost `json:"pinned,omitempty"`
	// PortRemap: port_remap, the TCP ports the container binds are virtual (notifsup.PortMap).
	PortRemap bool `json:"portRemap,omitempty"`

	dir string // the state dir, where the supervisor records the port map (not saved)
}

const supervisorFile = "supervisor.json"

// supervisorPlan derives the supervisor's configuration from the plan and records what it
// traps in the plan's seccomp options.
func supervisorPlan(pol spec.Policy, plan *confine.Plan, hostname, rootfs string, pinned []pinnedHost) supervisorConfig {
	c := supervisorConfig{Hostname: hostname, FS: notifsup.FSMetaConfig{Reads: readsRestricted(pol, plan.Landlock.Paths)}}
	restrict, addrs, hosts := netHostsConfig(pol, pinned)
	c.PortRemap = pol.PortRemapEnabled()
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
	plan.Seccomp.Notify, plan.Seccomp.NotifyIoctls = notifsup.Trapped(c.features())
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
	var extra []notifsup.Feature
	if c.PortRemap {
		pm := notifsup.NewPortMap(c.recordPorts)
		c.FS.Ports = pm
		extra = append(extra, notifsup.ProcNetFiles(pm))
	}
	fs := []notifsup.Feature{notifsup.UnameFeature(c.Hostname), notifsup.FSMeta(c.FS)}
	if c.Hosts != "" {
		fs = append(fs, notifsup.HostsFile(c.Hosts))
	}
	return append(fs, extra...)
}

func saveSupervisorConfig(dir string, c supervisorConfig) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, supervisorFile), b, 0o600)
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
