package spec

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// errNoNamespaces is the reason given for everything that only makes sense inside a namespace
// sandlock-runtime does not create.
const errNoNamespaces = "sandlock-runtime creates no namespaces"

// checkRequired refuses a spec that cannot describe a container to run. The runtime spec makes
// process optional, but create has nothing to start without it, as with runc.
func checkRequired(s *specs.Spec) error {
	switch {
	case s.Process == nil:
		return errors.New("process: missing")
	case len(s.Process.Args) == 0:
		return errors.New("process.args: empty: nothing to run")
	case s.Process.Cwd != "" && !path.IsAbs(s.Process.Cwd): // "" is "/", as it always was here
		return fmt.Errorf("process.cwd: %q: not an absolute path; accepted: an absolute path in the container, such as \"/\" (the runtime spec requires one)", s.Process.Cwd)
	case s.Root == nil:
		return errors.New("root: missing")
	case s.Root.Path == "":
		return errors.New("root.path: empty")
	}
	return nil
}

// checkVersion accepts any 1.x ociVersion: minor versions only add optional fields, which are
// validated one by one below, while another major version may change meanings silently.
func checkVersion(v string) error {
	major, _, _ := strings.Cut(v, ".")
	if major != "1" {
		return fmt.Errorf("ociVersion: %q: only major version 1 is supported", v)
	}
	return nil
}

// checkProcess refuses process settings that would need kernel features sandlock-runtime does
// not drive: another LSM's label would be silently ignored, weakening what the caller asked.
func checkProcess(p *specs.Process) error {
	if p.ApparmorProfile != "" {
		return fmt.Errorf("process.apparmorProfile: %q: AppArmor profiles are not supported: sandlock-runtime confines with Landlock", p.ApparmorProfile)
	}
	if p.SelinuxLabel != "" {
		return fmt.Errorf("process.selinuxLabel: %q: SELinux labels are not supported: sandlock-runtime confines with Landlock", p.SelinuxLabel)
	}
	if err := checkRlimits(p.Rlimits); err != nil {
		return err
	}
	return checkCaps(p.Capabilities)
}

// checkRlimits refuses unknown types and duplicates (the runtime spec requires both), and
// soft > hard, which setrlimit would only reject after the container was half set up.
func checkRlimits(rl []specs.POSIXRlimit) error {
	seen := map[string]bool{}
	for _, r := range rl {
		if _, err := RlimitType(r.Type); err != nil {
			return fmt.Errorf("process.rlimits: %w", err)
		}
		if seen[r.Type] {
			return fmt.Errorf("process.rlimits: %s: listed twice", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return fmt.Errorf("process.rlimits: %s: soft limit %d above hard limit %d", r.Type, r.Soft, r.Hard)
		}
	}
	return nil
}

func checkCaps(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	sets := []struct {
		name  string
		names []string
	}{
		{"bounding", c.Bounding}, {"effective", c.Effective}, {"inheritable", c.Inheritable},
		{"permitted", c.Permitted}, {"ambient", c.Ambient},
	}
	for _, set := range sets {
		if _, err := CapMask(set.names); err != nil {
			return fmt.Errorf("process.capabilities.%s: %w", set.name, err)
		}
	}
	return nil
}

// checkLinux refuses linux.* settings that cannot be honoured without namespaces or that
// sandlock-runtime does not implement. linux.resources and cgroupsPath are accepted: every
// caller sends them, and the cgroup is used for membership.
func checkLinux(l *specs.Linux) error {
	checks := []func(*specs.Linux) error{
		checkIDMappings, checkIntelRdt, checkPersonality, checkSeccomp,
		checkTimeOffsets, checkNetDevices,
	}
	for _, check := range checks {
		if err := check(l); err != nil {
			return err
		}
	}
	return nil
}

// checkSysctl refuses sysctls: without namespaces every one of them would change the host. The
// one exception is net.* when the container has no network: seccomp then allows no socket but
// AF_UNIX, so a per-network-namespace setting has nothing to act on and skipping it loses
// nothing. podman sends net.ipv4.ping_group_range by default (containers.conf
// default_sysctls), so refusing it would break every podman run.
func checkSysctl(sysctl map[string]string, iso Isolation) error {
	keys := slices.Sorted(maps.Keys(sysctl))
	for _, k := range keys {
		if iso.NoNetwork && strings.HasPrefix(k, "net.") {
			continue
		}
		return fmt.Errorf("linux.sysctl: %s=%s: setting sysctls would change the host: %s", k, sysctl[k], errNoNamespaces)
	}
	return nil
}

func checkIDMappings(l *specs.Linux) error {
	if len(l.UIDMappings) > 0 {
		return fmt.Errorf("linux.uidMappings: %d entries: id mappings need a user namespace: %s", len(l.UIDMappings), errNoNamespaces)
	}
	if len(l.GIDMappings) > 0 {
		return fmt.Errorf("linux.gidMappings: %d entries: id mappings need a user namespace: %s", len(l.GIDMappings), errNoNamespaces)
	}
	return nil
}

func checkIntelRdt(l *specs.Linux) error {
	if l.IntelRdt != nil {
		return fmt.Errorf("linux.intelRdt: closID %q: Intel RDT is not supported", l.IntelRdt.ClosID)
	}
	return nil
}

// checkPersonality accepts only the default domain: LINUX32 would switch the container to the
// 32-bit syscall ABI, and that is a change to how seccomp sees it that we do not make.
func checkPersonality(l *specs.Linux) error {
	p := l.Personality
	if p == nil || (p.Domain == specs.PerLinux && len(p.Flags) == 0) {
		return nil
	}
	return fmt.Errorf("linux.personality: domain %q flags %v: only the default LINUX domain without flags is supported", p.Domain, p.Flags)
}

// checkSeccomp refuses a listener path: the seccomp listener belongs to sandlock-runtime's own
// supervisor, and handing it out would let another process answer the container's syscalls.
// SCMP_ACT_NOTIFY is refused with it, since it needs a listener.
func checkSeccomp(l *specs.Linux) error {
	sc := l.Seccomp
	if sc == nil {
		return nil
	}
	if sc.ListenerPath != "" {
		return fmt.Errorf("linux.seccomp.listenerPath: %q: the seccomp listener is sandlock-runtime's own supervisor's", sc.ListenerPath)
	}
	if !seccompAction(sc.DefaultAction) {
		return fmt.Errorf("linux.seccomp.defaultAction: %q: unsupported action", sc.DefaultAction)
	}
	for i, sys := range sc.Syscalls {
		if !seccompAction(sys.Action) {
			return fmt.Errorf("linux.seccomp.syscalls[%d].action: %q: unsupported action", i, sys.Action)
		}
	}
	for _, f := range sc.Flags {
		if !slices.Contains(seccompKnownFlags, string(f)) {
			return fmt.Errorf("linux.seccomp.flags: %q: unknown flag", f)
		}
	}
	return nil
}

func seccompAction(a specs.LinuxSeccompAction) bool {
	return slices.Contains(seccompActions, string(a))
}

func checkTimeOffsets(l *specs.Linux) error {
	if len(l.TimeOffsets) > 0 {
		return fmt.Errorf("linux.timeOffsets: %d clocks: time offsets need a time namespace: %s", len(l.TimeOffsets), errNoNamespaces)
	}
	return nil
}

func checkNetDevices(l *specs.Linux) error {
	for name := range l.NetDevices {
		return fmt.Errorf("linux.netDevices: %q: moving a device needs a network namespace: %s", name, errNoNamespaces)
	}
	return nil
}

// rlimits maps the OCI rlimit names to resource numbers; the list is the kernel's complete set.
var rlimits = map[string]int{
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
}

// RlimitType maps an OCI rlimit name such as "RLIMIT_NOFILE" to its resource number.
func RlimitType(name string) (int, error) {
	if n, ok := rlimits[name]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("unknown rlimit type %q", name)
}
