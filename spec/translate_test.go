package spec

import (
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestTranslateRefuses(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *specs.Spec)
		want   []string // substrings of the error: the field, the value, the reason
	}{
		{"namespace path", func(s *specs.Spec) {
			s.Linux.Namespaces[1].Path = "/proc/1/ns/net"
		}, []string{"linux.namespaces: network with path /proc/1/ns/net: joining namespaces is not supported: sandlock-runtime creates no namespaces"}},
		{"user namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, []string{"linux.namespaces", "user", "not supported"}},
		{"time namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		}, []string{"linux.namespaces", "time", "not supported"}},
		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, []string{"linux.namespaces", `"bogus"`, "unknown"}},
		{"duplicate namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, []string{"linux.namespaces", "pid", "twice"}},
		{"sysctl", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1"}
		}, []string{"linux.sysctl", "kernel.shmmax=1", "would change the host"}},
		{"net sysctl with host network", func(s *specs.Spec) {
			s.Linux.Namespaces = s.Linux.Namespaces[2:] // drop pid and network
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, []string{"linux.sysctl", "net.ipv4.ip_forward=1", "would change the host"}},
		{"hostname without uts", func(s *specs.Spec) {
			s.Linux.Namespaces = s.Linux.Namespaces[:3]
		}, []string{"hostname", `"sandlock"`, "uts namespace"}},
		{"domainname", func(s *specs.Spec) {
			s.Domainname = "example.org"
		}, []string{"domainname", "example.org"}},
		{"uid mappings", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		}, []string{"linux.uidMappings", "user namespace"}},
		{"gid mappings", func(s *specs.Spec) {
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		}, []string{"linux.gidMappings", "user namespace"}},
		{"intel rdt", func(s *specs.Spec) {
			s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "guaranteed"}
		}, []string{"linux.intelRdt", "guaranteed"}},
		{"personality linux32", func(s *specs.Spec) {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
		}, []string{"linux.personality", "LINUX32"}},
		{"apparmor", func(s *specs.Spec) {
			s.Process.ApparmorProfile = "containers-default-0.50.0"
		}, []string{"process.apparmorProfile", "containers-default-0.50.0", "not supported"}},
		{"selinux", func(s *specs.Spec) {
			s.Process.SelinuxLabel = "system_u:system_r:container_t:s0"
		}, []string{"process.selinuxLabel", "container_t", "not supported"}},
		{"seccomp listener", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"}
		}, []string{"linux.seccomp.listenerPath", "/run/agent.sock"}},
		{"seccomp notify action", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActNotify}}}
		}, []string{"linux.seccomp.syscalls[0].action", "SCMP_ACT_NOTIFY"}},
		{"seccomp unknown flag", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"}}
		}, []string{"linux.seccomp.flags", "SECCOMP_FILTER_FLAG_BOGUS"}},
		{"time offsets", func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, []string{"linux.timeOffsets", "time namespace"}},
		{"net devices", func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}}
		}, []string{"linux.netDevices", "eth1"}},
		{"oci version 2", func(s *specs.Spec) {
			s.Version = "2.0.0"
		}, []string{"ociVersion", "2.0.0", "major version 1"}},
		{"oci version empty", func(s *specs.Spec) {
			s.Version = ""
		}, []string{"ociVersion"}},
		{"root path empty", func(s *specs.Spec) {
			s.Root.Path = ""
		}, []string{"root.path", "empty"}},
		{"root missing", func(s *specs.Spec) {
			s.Root = nil
		}, []string{"root"}},
		{"args empty", func(s *specs.Spec) {
			s.Process.Args = nil
		}, []string{"process.args", "empty"}},
		{"process missing", func(s *specs.Spec) {
			s.Process = nil
		}, []string{"process"}},
		{"rlimit unknown", func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_BOGUS"})
		}, []string{"process.rlimits", "RLIMIT_BOGUS"}},
		{"rlimit duplicate", func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, s.Process.Rlimits[0])
		}, []string{"process.rlimits", "RLIMIT_NOFILE", "twice"}},
		{"rlimit soft above hard", func(s *specs.Spec) {
			s.Process.Rlimits[0].Soft = 2048
		}, []string{"process.rlimits", "RLIMIT_NOFILE", "soft"}},
		{"capability unknown", func(s *specs.Spec) {
			s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_BOGUS")
		}, []string{"process.capabilities.effective", "CAP_BOGUS"}},
		{"capability without prefix", func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = []string{"KILL"}
		}, []string{"process.capabilities.bounding", `"KILL"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Example(false)
			tt.mutate(s)
			got, err := Translate(s)
			if err == nil {
				t.Fatalf("Translate = %+v, nil; want an error containing %q", got, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Translate error = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestTranslateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		bundle string // testdata file copied into a bundle as config.json; "" = Example(false)
		mutate func(s *specs.Spec)
		want   Isolation
	}{
		{name: "runc spec default", bundle: "runc-default.json", want: Isolation{
			NoNetwork: true, IsolateIPC: true, IsolateSignals: true, Hostname: "runc", MountNS: true,
		}},
		{name: "podman", bundle: "podman.json", want: Isolation{
			NoNetwork: true, IsolateIPC: true, IsolateSignals: true, Hostname: "3f1c2a9b7d6e", MountNS: true,
		}},
		{name: "no namespaces, no hostname", mutate: func(s *specs.Spec) {
			s.Linux.Namespaces, s.Hostname = nil, ""
		}, want: Isolation{}},
		{name: "uts without hostname keeps the host's", mutate: func(s *specs.Spec) {
			s.Hostname = ""
		}, want: Isolation{NoNetwork: true, IsolateIPC: true, IsolateSignals: true, MountNS: true}},
		{name: "cgroup namespace", mutate: func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.CgroupNamespace}}
			s.Hostname = ""
		}, want: Isolation{CgroupNS: true}},
		{name: "no linux section", mutate: func(s *specs.Spec) {
			s.Linux, s.Hostname = nil, ""
		}, want: Isolation{}},
		{name: "resources, cgroupsPath, default personality, seccomp", mutate: func(s *specs.Spec) {
			limit := int64(100)
			s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
			s.Linux.CgroupsPath = "/sandlock/c1"
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux}
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
				Flags:    []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog},
				Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}}
		}, want: Isolation{NoNetwork: true, IsolateIPC: true, IsolateSignals: true, Hostname: "sandlock", MountNS: true}},
		{name: "oci version 1.x", mutate: func(s *specs.Spec) {
			s.Version = "1.0.0"
		}, want: Isolation{NoNetwork: true, IsolateIPC: true, IsolateSignals: true, Hostname: "sandlock", MountNS: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Example(false)
			if tt.bundle != "" {
				s = loadTestdata(t, tt.bundle)
			}
			if tt.mutate != nil {
				tt.mutate(s)
			}
			got, err := Translate(s)
			if err != nil {
				t.Fatalf("Translate: %v", err)
			}
			if got != tt.want {
				t.Errorf("Translate = %+v; want %+v", got, tt.want)
			}
		})
	}
}

// loadTestdata loads testdata/name through LoadBundle, as create would.
func loadTestdata(t *testing.T, name string) *specs.Spec {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, filepath.Join("testdata", name), filepath.Join(dir, ConfigName))
	s, err := LoadBundle(dir)
	if err != nil {
		t.Fatalf("LoadBundle(%s): %v", name, err)
	}
	return s
}

// TestNetworkPathSaysWhatToUse: podman's default network arrives as a network namespace path;
// the refusal says which podman flags work.
func TestNetworkPathSaysWhatToUse(t *testing.T) {
	s := Example(false)
	for i, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			s.Linux.Namespaces[i].Path = "/run/netns/netns-1"
		}
	}
	_, err := Translate(s)
	if err == nil || !strings.Contains(err.Error(), "--network host or --network none") {
		t.Errorf("got %v, want the podman flags that work", err)
	}
}
