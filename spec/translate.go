package spec

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Isolation is what the runtime applies in place of the namespaces config.json asks for.
type Isolation struct {
	NoNetwork      bool   // network ns without path: AF_UNIX only, TCP bind/connect denied
	IsolateIPC     bool   // ipc ns: abstract-unix scope, SysV/POSIX mq denied
	IsolateSignals bool   // pid ns: Landlock signal scope, ptrace denied
	Hostname       string // uts ns: hostname uname() reports ("" = the host's)
	MountNS        bool   // mount ns: mounts are tracked and undone, chroot
	CgroupNS       bool   // cgroup ns: cgroup2 tree mounted read-only
}

// Translate validates s against what sandlock-runtime can honour and returns the Isolation
// that stands in for its namespaces. The runtime spec requires a runtime that cannot apply a
// property to fail create, so anything not honoured is refused here, with the field, the value
// and the reason, before anything has been set up.
func Translate(s *specs.Spec) (Isolation, error) {
	if err := validate(s); err != nil {
		return Isolation{}, err
	}
	var nss []specs.LinuxNamespace
	var sysctl map[string]string
	if s.Linux != nil {
		nss, sysctl = s.Linux.Namespaces, s.Linux.Sysctl
	}
	iso, hasUTS, err := translateNamespaces(nss)
	if err != nil {
		return Isolation{}, err
	}
	if err := checkSysctl(sysctl, iso); err != nil {
		return Isolation{}, err
	}
	if err := translateHostname(s, hasUTS, &iso); err != nil {
		return Isolation{}, err
	}
	return iso, nil
}

func validate(s *specs.Spec) error {
	if err := checkVersion(s.Version); err != nil {
		return err
	}
	if err := checkRequired(s); err != nil {
		return err
	}
	if err := checkProcess(s.Process); err != nil {
		return err
	}
	if s.Linux != nil {
		return checkLinux(s.Linux)
	}
	return nil
}

// translateNamespaces maps each namespace entry to its stand-in. hasUTS is reported apart from
// the Isolation because a uts namespace without a hostname is valid and leaves Hostname empty.
func translateNamespaces(nss []specs.LinuxNamespace) (iso Isolation, hasUTS bool, err error) {
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range nss {
		if err := checkNamespace(ns, seen); err != nil {
			return Isolation{}, false, err
		}
		seen[ns.Type] = true
		switch ns.Type {
		case specs.NetworkNamespace:
			iso.NoNetwork = true
		case specs.IPCNamespace:
			iso.IsolateIPC = true
		case specs.PIDNamespace:
			iso.IsolateSignals = true
		case specs.UTSNamespace:
			hasUTS = true
		case specs.MountNamespace:
			iso.MountNS = true
		case specs.CgroupNamespace:
			iso.CgroupNS = true
		}
	}
	return iso, hasUTS, nil
}

// translatable are the namespace types with a stand-in; user and time have none, and silently
// running without them would break what the caller relies on (uid mapping, clock offsets).
var translatable = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace: true, specs.NetworkNamespace: true, specs.IPCNamespace: true,
	specs.UTSNamespace: true, specs.MountNamespace: true, specs.CgroupNamespace: true,
}

func checkNamespace(ns specs.LinuxNamespace, seen map[specs.LinuxNamespaceType]bool) error {
	switch {
	case ns.Type == specs.UserNamespace || ns.Type == specs.TimeNamespace:
		return fmt.Errorf("linux.namespaces: %s: not supported: %s and has no substitute for it", ns.Type, errNoNamespaces)
	case !translatable[ns.Type]:
		return fmt.Errorf("linux.namespaces: %q: unknown namespace type", ns.Type)
	case seen[ns.Type]:
		return fmt.Errorf("linux.namespaces: %s: listed twice", ns.Type)
	case ns.Path != "":
		return fmt.Errorf("linux.namespaces: %s with path %s: joining namespaces is not supported: %s%s", ns.Type, ns.Path, errNoNamespaces, joinHint(ns.Type))
	}
	return nil
}

// joinHint says what to ask for instead of a network namespace made by someone else: podman's
// default network and a pod network made by CNI are such namespaces.
func joinHint(t specs.LinuxNamespaceType) string {
	if t != specs.NetworkNamespace {
		return ""
	}
	return "; accepted: no network namespace (the host's network) or one without a path (no network): podman --network host or --network none, Kubernetes hostNetwork: true"
}

// translateHostname follows runc: a hostname or domainname without a uts namespace would change
// the host's, so it is an error. The domainname is refused even with one, because uname() is
// answered with the hostname only and a silently ignored domainname would be a lie.
func translateHostname(s *specs.Spec, hasUTS bool, iso *Isolation) error {
	if s.Hostname != "" && !hasUTS {
		return fmt.Errorf("hostname: %q: setting a hostname needs a uts namespace in linux.namespaces", s.Hostname)
	}
	if s.Domainname != "" {
		return fmt.Errorf("domainname: %q: setting a domainname is not supported", s.Domainname)
	}
	if hasUTS {
		iso.Hostname = s.Hostname
	}
	return nil
}
