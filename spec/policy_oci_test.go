package spec

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ociSpec is the starter config without its annotations, network namespace first dropped or
// kept as the test needs.
func ociSpec(mutate func(s *specs.Spec)) *specs.Spec {
	s := Example(false)
	s.Annotations = nil
	if mutate != nil {
		mutate(s)
	}
	return s
}

func TestOCIPolicy(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *specs.Spec)
		want   Policy
	}{
		{"starter config: namespaces, hostname, nofile", nil, Policy{
			NoNetwork: ptr(true), IsolateIPC: ptr(true), IsolateSignals: ptr(true), IsolatePIDs: ptr(true),
			Hostname: ptr("sandlock"),
		}},
		{"no namespaces: nothing to say", func(s *specs.Spec) {
			s.Linux.Namespaces, s.Hostname, s.Process.Rlimits = nil, "", nil
		}, Policy{}},
		{"uts namespace without hostname", func(s *specs.Spec) {
			s.Linux.Namespaces, s.Hostname, s.Process.Rlimits = []specs.LinuxNamespace{{Type: specs.UTSNamespace}}, "", nil
		}, Policy{}},
		{"rlimits: nofile hard, core 0", func(s *specs.Spec) {
			s.Linux.Namespaces, s.Hostname = nil, ""
			s.Process.Rlimits = []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}, {Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
			}
		}, Policy{NoCoredump: ptr(true)}},
		{"rlimits: infinite nofile, raisable core", func(s *specs.Spec) {
			s.Linux.Namespaces, s.Hostname = nil, ""
			s.Process.Rlimits = []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: ^uint64(0)}, {Type: "RLIMIT_CORE", Soft: 0, Hard: 100},
			}
		}, Policy{}},
		{"resources", func(s *specs.Spec) {
			s.Linux.Namespaces, s.Hostname, s.Process.Rlimits = nil, "", nil
			s.Linux.Resources = &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: ptr(int64(512 << 20))},
				Pids:   &specs.LinuxPids{Limit: ptr(int64(100))},
				CPU:    &specs.LinuxCPU{Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Cpus: "0-1,3"},
			}
		}, Policy{MaxMemory: ptr(Size(512 << 20)), MaxProcesses: ptr(100), MaxCPU: ptr(50), CPUCores: []int{0, 1, 3}}},
		{"unlimited resources set nothing", func(s *specs.Spec) {
			s.Linux.Namespaces, s.Hostname, s.Process.Rlimits = nil, "", nil
			s.Linux.Resources = &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: ptr(int64(-1))},
				Pids:   &specs.LinuxPids{Limit: ptr(int64(-1))},
				CPU:    &specs.LinuxCPU{Quota: ptr(int64(-1))},
			}
		}, Policy{}},
		{"cpu quota: default period, rounded up", func(s *specs.Spec) {
			s.Linux.Namespaces, s.Hostname, s.Process.Rlimits = nil, "", nil
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(12345))}}
		}, Policy{MaxCPU: ptr(13)}},
		{"cpu quota: a tiny share is 1%", func(s *specs.Spec) {
			s.Linux.Namespaces, s.Hostname, s.Process.Rlimits = nil, "", nil
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(1000)), Period: ptr(uint64(1000000))}}
		}, Policy{MaxCPU: ptr(1)}},
		{"cpu quota: two cores is capped at 100", func(s *specs.Spec) {
			s.Linux.Namespaces, s.Hostname, s.Process.Rlimits = nil, "", nil
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(200000)), Period: ptr(uint64(100000))}}
		}, Policy{MaxCPU: ptr(100)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OCIPolicy(ociSpec(tt.mutate))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("OCIPolicy:\n got  %+v\n want %+v", got, tt.want)
			}
		})
	}
}

func TestOCIPolicyRefuses(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *specs.Spec)
		want   string
	}{
		{"Translate refuses", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, "linux.namespaces: user"},
		{"bad cpuset", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-"}}
		}, `linux.resources.cpu.cpus: "0-": not a CPU list`},
	}
	for _, tt := range tests {
		_, err := OCIPolicy(ociSpec(tt.mutate))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v; want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"0", []int{0}, false},
		{"0-1,3", []int{0, 1, 3}, false},
		{" 2 , 4-5 ", []int{2, 4, 5}, false},
		{"", nil, true},
		{"1-0", nil, true},
		{"a", nil, true},
		{"1,,2", nil, true},
		{"-1", nil, true},
		{"0-99999999", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseCPUList(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestPolicyFromSpec(t *testing.T) {
	store := ProfileStore{Dirs: []string{writeProfiles(t, map[string]string{
		"base.toml": `fs_readable = ["/usr", "/lib"]
max_memory = "1G"
max_cpu = 10
no_udp = true
deny_syscalls = ["ptrace"]
hostname = "from-profile"
[env]
A = "profile"
B = "profile"
`,
	})}}
	tests := []struct {
		name    string
		profile string // selected by the caller
		ann     map[string]string
		oci     func(s *specs.Spec)
		want    Policy
		wantErr string
	}{
		{"OCI only", "", nil, nil, Policy{
			NoNetwork: ptr(true), IsolateIPC: ptr(true), IsolateSignals: ptr(true), IsolatePIDs: ptr(true),
			Hostname: ptr("sandlock"),
		}, ""},
		{"profile < OCI < annotations", "", map[string]string{
			"io.sandlock.profile":     "base",
			"io.sandlock.fs_readable": `["/opt"]`,
			"io.sandlock.max_cpu":     `20`,
			"io.sandlock.env":         `{"B": "annotation"}`,
		}, func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: ptr(int64(256 << 20))},
				CPU:    &specs.LinuxCPU{Quota: ptr(int64(50000))},
			}
		}, Policy{
			FSReadable: []string{"/opt"},     // annotation replaces the profile's list
			MaxMemory:  ptr(Size(256 << 20)), // OCI beats the profile
			MaxCPU:     ptr(20),              // annotation beats OCI (50) and profile (10)
			NoUDP:      ptr(true),            // profile only
			Hostname:   ptr("sandlock"),      // OCI uts hostname beats the profile
			Env:        map[string]string{"A": "profile", "B": "annotation"},
			NoNetwork:  ptr(true), IsolateIPC: ptr(true), IsolateSignals: ptr(true), IsolatePIDs: ptr(true),
			DenySyscalls: []string{"ptrace"},
		}, ""},
		{"profile selected by the caller", "base", nil, func(s *specs.Spec) {
			s.Linux.Namespaces, s.Hostname, s.Process.Rlimits = nil, "", nil
		}, Policy{
			FSReadable: []string{"/usr", "/lib"}, MaxMemory: ptr(Size(1 << 30)), MaxCPU: ptr(10),
			NoUDP: ptr(true), DenySyscalls: []string{"ptrace"}, Hostname: ptr("from-profile"),
			Env: map[string]string{"A": "profile", "B": "profile"},
		}, ""},
		{"caller and annotation agree", "base", map[string]string{"io.sandlock.profile": "base"}, func(s *specs.Spec) {
			s.Linux.Namespaces, s.Hostname, s.Process.Rlimits = nil, "", nil
		}, Policy{
			FSReadable: []string{"/usr", "/lib"}, MaxMemory: ptr(Size(1 << 30)), MaxCPU: ptr(10),
			NoUDP: ptr(true), DenySyscalls: []string{"ptrace"}, Hostname: ptr("from-profile"),
			Env: map[string]string{"A": "profile", "B": "profile"},
		}, ""},
		{"switching syscall mode needs the other list emptied", "", map[string]string{
			"io.sandlock.profile": "base", "io.sandlock.allow_syscalls": `["read"]`,
		}, nil, Policy{}, "allow_syscalls: set together with deny_syscalls"},
		{"caller and annotation disagree", "other", map[string]string{"io.sandlock.profile": "base"}, nil,
			Policy{}, `io.sandlock.profile: "base": conflicts with profile "other"`},
		{"missing profile", "", map[string]string{"io.sandlock.profile": "nope"}, nil,
			Policy{}, `profile "nope": profile not found`},
		{"bad annotation", "", map[string]string{"io.sandlock.max_cpu": "x"}, nil,
			Policy{}, "io.sandlock.max_cpu: x: not valid JSON"},
		{"bad spec", "", nil, func(s *specs.Spec) { s.Process = nil }, Policy{}, "process: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ociSpec(tt.oci)
			s.Annotations = tt.ann
			got, err := PolicyFromSpecProfile(s, store, tt.profile)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	// PolicyFromSpec is the annotation-only form.
	s := ociSpec(nil)
	s.Annotations = map[string]string{"io.sandlock.profile": "base"}
	if p, err := PolicyFromSpec(s, store); err != nil || p.MaxCPU == nil || *p.MaxCPU != 10 {
		t.Errorf("PolicyFromSpec = %+v, %v; want the base profile's max_cpu 10", p, err)
	}
}
