package spec

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAccessorsDefaults(t *testing.T) {
	var zero Policy
	def := DefaultPolicy()
	tests := []struct {
		name      string
		zero, def any // the accessor on Policy{} and on DefaultPolicy(): the same
		want      any
	}{
		{"RawSocketsDenied", zero.RawSocketsDenied(), def.RawSocketsDenied(), true},
		{"FDsClosed", zero.FDsClosed(), def.FDsClosed(), true},
		{"ProcessLimit", zero.ProcessLimit(), def.ProcessLimit(), 64},
		{"PortRemapEnabled", zero.PortRemapEnabled(), def.PortRemapEnabled(), false},
		{"UDPDenied", zero.UDPDenied(), def.UDPDenied(), false},
		{"NetworkDenied", zero.NetworkDenied(), def.NetworkDenied(), false},
		{"IPCIsolated", zero.IPCIsolated(), def.IPCIsolated(), false},
		{"SignalsIsolated", zero.SignalsIsolated(), def.SignalsIsolated(), false},
		{"PIDsIsolated", zero.PIDsIsolated(), def.PIDsIsolated(), false},
		{"ASLRDisabled", zero.ASLRDisabled(), def.ASLRDisabled(), false},
		{"HugePagesDisabled", zero.HugePagesDisabled(), def.HugePagesDisabled(), false},
		{"DirsSorted", zero.DirsSorted(), def.DirsSorted(), false},
		{"EnvCleaned", zero.EnvCleaned(), def.EnvCleaned(), false},
		{"IsPrivileged", zero.IsPrivileged(), def.IsPrivileged(), false},
		{"CoredumpDisabled", zero.CoredumpDisabled(), def.CoredumpDisabled(), false},
		{"AllGPUs", zero.AllGPUs(), def.AllGPUs(), false},
		{"MemoryLimit", zero.MemoryLimit(), def.MemoryLimit(), Size(0)},
		{"DiskLimit", zero.DiskLimit(), def.DiskLimit(), Size(0)},
		{"OpenFilesLimit", zero.OpenFilesLimit(), def.OpenFilesLimit(), 0},
		{"CPUPercent", zero.CPUPercent(), def.CPUPercent(), 0},
		{"VisibleCPUs", zero.VisibleCPUs(), def.VisibleCPUs(), 0},
		{"WorkdirPath", zero.WorkdirPath(), def.WorkdirPath(), ""},
		{"ChrootPath", zero.ChrootPath(), def.ChrootPath(), ""},
		{"HostnameOverride", zero.HostnameOverride(), def.HostnameOverride(), ""},
		{"FSStoragePath", zero.FSStoragePath(), def.FSStoragePath(), ""},
		{"FSIsolationMode", zero.FSIsolationMode(), def.FSIsolationMode(), "NONE"},
		{"ExitAction", zero.ExitAction(), def.ExitAction(), "COMMIT"},
		{"ErrorAction", zero.ErrorAction(), def.ErrorAction(), "ABORT"},
	}
	for _, tt := range tests {
		if tt.zero != tt.want || tt.def != tt.want {
			t.Errorf("%s: got %v on Policy{}, %v on DefaultPolicy(); want %v", tt.name, tt.zero, tt.def, tt.want)
		}
	}
	if _, ok := zero.Seed(); ok {
		t.Error("Seed: got ok on Policy{}; want not set")
	}
	if _, ok := zero.StartTime(); ok {
		t.Error("StartTime: got ok on Policy{}; want not set")
	}
}

func TestAccessorsSet(t *testing.T) {
	seed, ts := int64(0), "1704067200.25"
	p := Policy{
		NoRawSockets: ptr(false), CloseFDs: ptr(false), MaxProcesses: ptr(0),
		MaxMemory: ptr(Size(1 << 30)), FSIsolation: ptr("overlayfs"), OnExit: ptr("keep"),
		RandomSeed: &seed, TimeStart: &ts, GPUDevices: []int{}, Hostname: ptr("box"),
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"RawSocketsDenied", p.RawSocketsDenied(), false},
		{"FDsClosed", p.FDsClosed(), false},
		{"ProcessLimit", p.ProcessLimit(), 0},
		{"MemoryLimit", p.MemoryLimit(), Size(1 << 30)},
		{"FSIsolationMode", p.FSIsolationMode(), "OVERLAYFS"},
		{"ExitAction", p.ExitAction(), "KEEP"},
		{"AllGPUs", p.AllGPUs(), true},
		{"HostnameOverride", p.HostnameOverride(), "box"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v; want %v", tt.name, tt.got, tt.want)
		}
	}
	if got, ok := p.Seed(); !ok || got != 0 {
		t.Errorf("Seed() = %d, %v; want 0, true", got, ok)
	}
	want := time.Unix(1704067200, 250_000_000).UTC()
	if got, ok := p.StartTime(); !ok || !got.Equal(want) {
		t.Errorf("StartTime() = %v, %v; want %v, true", got, ok, want)
	}
}

func TestParseTimeStart(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"2024-01-01T00:00:00Z", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"2024-01-01T01:00:00+01:00", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"2024-01-01T00:00:00.5Z", time.Date(2024, 1, 1, 0, 0, 0, 500_000_000, time.UTC), false},
		{"1704067200", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"0", time.Unix(0, 0), false},
		{"1704067200.000000001", time.Date(2024, 1, 1, 0, 0, 0, 1, time.UTC), false},
		{"2024-01-01", time.Time{}, true},
		{"-5", time.Time{}, true},
		{"1704067200.", time.Time{}, true},
		{"1e9", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := ParseTimeStart(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && !got.Equal(tt.want)) {
			t.Errorf("ParseTimeStart(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestMerge(t *testing.T) {
	base := Policy{
		FSReadable: []string{"/usr", "/lib"}, MaxMemory: ptr(Size(1 << 30)), NoUDP: ptr(true),
		Env: map[string]string{"A": "1", "B": "1"}, DenySyscalls: []string{"ptrace"},
	}
	over := Policy{
		FSReadable: []string{"/opt"}, NoUDP: ptr(false), MaxCPU: ptr(50),
		Env: map[string]string{"B": "2", "C": "2"}, DenySyscalls: []string{}, GPUDevices: []int{},
	}
	got := base.Merge(over)
	want := Policy{
		FSReadable: []string{"/opt"}, MaxMemory: ptr(Size(1 << 30)), NoUDP: ptr(false), MaxCPU: ptr(50),
		Env: map[string]string{"A": "1", "B": "2", "C": "2"}, DenySyscalls: []string{}, GPUDevices: []int{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Merge:\n got  %+v\n want %+v", got, want)
	}
	// Unset fields of over keep base's; the result shares no memory with either.
	if got := base.Merge(Policy{}); !reflect.DeepEqual(got, base) {
		t.Errorf("Merge(Policy{}) = %+v; want %+v", got, base)
	}
	got.FSReadable[0] = "/changed"
	*got.MaxMemory = 1
	got.Env["A"] = "changed"
	if over.FSReadable[0] != "/opt" || *base.MaxMemory != 1<<30 || base.Env["A"] != "1" {
		t.Error("Merge result aliases its inputs")
	}
	// Merging onto the defaults fills in what is unset and keeps what is set.
	d := DefaultPolicy().Merge(Policy{MaxProcesses: ptr(8)})
	if *d.MaxProcesses != 8 || !*d.NoRawSockets || *d.OnError != BranchAbort {
		t.Errorf("DefaultPolicy().Merge = %+v; want max_processes 8 and the defaults", d)
	}
}

func TestClone(t *testing.T) {
	p := Policy{FSReadable: []string{"/usr"}, MaxCPU: ptr(10), Env: map[string]string{"A": "1"}, GPUDevices: []int{}}
	c := p.Clone()
	if !reflect.DeepEqual(c, p) {
		t.Fatalf("Clone = %+v; want %+v", c, p)
	}
	c.FSReadable[0], *c.MaxCPU, c.Env["A"] = "/x", 99, "x"
	if p.FSReadable[0] != "/usr" || *p.MaxCPU != 10 || p.Env["A"] != "1" {
		t.Error("Clone shares memory with the original")
	}
	if c.GPUDevices == nil {
		t.Error("Clone turned gpu_devices [] (all) into nil (none)")
	}
}

func TestSetKeys(t *testing.T) {
	got := Policy{MaxCPU: ptr(1), FSReadable: []string{}, Env: map[string]string{}}.SetKeys()
	want := []string{"fs_readable", "max_cpu", "env"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SetKeys() = %v; want %v", got, want)
	}
}

// TestValidate shows, for every rule, a policy refused (with the key, the value and what is
// accepted in the message) and one accepted.
func TestValidate(t *testing.T) {
	tests := []struct {
		rule string
		bad  Policy
		want []string
		good Policy
	}{
		{"fs paths absolute", Policy{FSReadable: []string{"/usr", "usr"}},
			[]string{`fs_readable: "usr": not an absolute path`, "accepted: absolute paths"},
			Policy{FSReadable: []string{"/usr"}, FSWritable: []string{"/tmp"}, FSDenied: []string{"/etc/shadow"}}},
		{"fs_writable absolute", Policy{FSWritable: []string{""}}, []string{`fs_writable: ""`}, Policy{FSWritable: []string{"/"}}},
		{"fs_denied absolute", Policy{FSDenied: []string{"./x"}}, []string{`fs_denied: "./x"`}, Policy{FSDenied: []string{"/x"}}},
		{"workdir absolute", Policy{Workdir: ptr("work")}, []string{`workdir: "work"`}, Policy{Workdir: ptr("/work")}},
		{"chroot absolute", Policy{Chroot: ptr("rootfs")}, []string{`chroot: "rootfs"`}, Policy{Chroot: ptr("/srv/rootfs")}},
		{"fs_storage absolute", Policy{FSStorage: ptr("")}, []string{`fs_storage: ""`}, Policy{FSStorage: ptr("/var/lib/x")}},
		{"net_allow_hosts", Policy{NetAllowHosts: []string{"a b"}}, []string{`net_allow_hosts: "a b"`, "accepted"},
			Policy{NetAllowHosts: []string{"example.com", "10.0.0.1"}}},
		{"net_bind port", Policy{NetBind: []Port{{0, 0}}}, []string{"net_bind: 0", "1-65535"}, Policy{NetBind: []Port{{80, 80}}}},
		{"net_connect range", Policy{NetConnect: []Port{{9, 8}}}, []string{"net_connect: 9-8", "LO <= HI"}, Policy{NetConnect: []Port{{8, 9}}}},
		{"max_memory positive", Policy{MaxMemory: ptr(Size(0))}, []string{"max_memory: 0", "at least 1 byte", "512M"},
			Policy{MaxMemory: ptr(Size(1))}},
		{"max_disk positive", Policy{MaxDisk: ptr(Size(-1))}, []string{"max_disk: -1"}, Policy{MaxDisk: ptr(Size(1 << 30))}},
		{"max_processes >= 0", Policy{MaxProcesses: ptr(-1)}, []string{"max_processes: -1", "negative", ">= 0"}, Policy{MaxProcesses: ptr(0)}},
		{"max_open_files >= 1", Policy{MaxOpenFiles: ptr(-3)}, []string{"max_open_files: -3", ">= 1"}, Policy{MaxOpenFiles: ptr(1024)}},
		{"max_open_files 0", Policy{MaxOpenFiles: ptr(0)}, []string{"max_open_files: 0"}, Policy{MaxOpenFiles: ptr(1)}},
		{"max_cpu above 100", Policy{MaxCPU: ptr(101)}, []string{"max_cpu: 101", "1-100"}, Policy{MaxCPU: ptr(100)}},
		{"max_cpu below 1", Policy{MaxCPU: ptr(0)}, []string{"max_cpu: 0", "1-100"}, Policy{MaxCPU: ptr(1)}},
		{"cpu_cores >= 0", Policy{CPUCores: []int{0, -1}}, []string{"cpu_cores: -1", ">= 0"}, Policy{CPUCores: []int{0, 1, 3}}},
		{"num_cpus >= 1", Policy{NumCPUs: ptr(0)}, []string{"num_cpus: 0", ">= 1"}, Policy{NumCPUs: ptr(2)}},
		{"allow and deny syscalls", Policy{AllowSyscalls: []string{"read"}, DenySyscalls: []string{"ptrace"}},
			[]string{"allow_syscalls", "deny_syscalls", "one of"},
			Policy{AllowSyscalls: []string{"read"}, DenySyscalls: []string{}}},
		{"deny_syscalls names", Policy{DenySyscalls: []string{"ptrace", "ptrac"}},
			[]string{`deny_syscalls: "ptrac": unknown syscall`, `did you mean "ptrace"`},
			Policy{DenySyscalls: []string{"ptrace", "mseal", "set_mempolicy_home_node"}}},
		{"allow_syscalls names", Policy{AllowSyscalls: []string{"READ"}}, []string{`allow_syscalls: "READ"`, "x86_64 syscall names"},
			Policy{AllowSyscalls: []string{"read", "write", "exit_group"}}},
		{"time_start", Policy{TimeStart: ptr("tomorrow")}, []string{`time_start: "tomorrow"`, "RFC 3339", "unix seconds"},
			Policy{TimeStart: ptr("2024-01-01T00:00:00Z")}},
		{"hostname length", Policy{Hostname: ptr(strings.Repeat("h", 65))}, []string{"hostname:", "64 bytes"},
			Policy{Hostname: ptr(strings.Repeat("h", 64))}},
		{"env names", Policy{Env: map[string]string{"A=B": "1"}}, []string{"env:", `"A=B"`, "without '='"},
			Policy{Env: map[string]string{"A": "B=1"}}},
		{"gpu_devices >= 0", Policy{GPUDevices: []int{-1}}, []string{"gpu_devices: -1"}, Policy{GPUDevices: []int{}}},
		{"fs_isolation enum", Policy{FSIsolation: ptr("zfs")}, []string{`fs_isolation: "zfs"`, "NONE, BRANCHFS, OVERLAYFS"},
			Policy{FSIsolation: ptr("branchfs")}},
		{"on_exit enum", Policy{OnExit: ptr("SAVE")}, []string{`on_exit: "SAVE"`, "COMMIT, ABORT, KEEP"}, Policy{OnExit: ptr("KEEP")}},
		{"on_error enum", Policy{OnError: ptr("")}, []string{`on_error: ""`, "COMMIT, ABORT, KEEP"}, Policy{OnError: ptr("COMMIT")}},
		{"privileged with anything", Policy{Privileged: ptr(true), MaxCPU: ptr(0)}, []string{"max_cpu"},
			Policy{Privileged: ptr(true), NoNetwork: ptr(true), AllowSyscalls: []string{"read"}}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			err := tt.bad.Validate()
			if err == nil {
				t.Fatalf("Validate(%+v) = nil; want a refusal", tt.bad)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate error = %q; want it to contain %q", err, w)
				}
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Errorf("Validate error %T is not a *PolicyError", err)
			}
			if err := tt.good.Validate(); err != nil {
				t.Errorf("Validate(%+v) = %v; want nil", tt.good, err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Policy{MaxCPU: ptr(0), NumCPUs: ptr(0), Workdir: ptr("x")}.Validate()
	got := strings.Count(err.Error(), "\n") + 1
	if got != 3 {
		t.Errorf("Validate reported %d problems (%q); want 3", got, err)
	}
	if err := DefaultPolicy().Validate(); err != nil {
		t.Errorf("DefaultPolicy().Validate() = %v; want nil", err)
	}
}

func TestSyscallTable(t *testing.T) {
	tests := []struct {
		name string
		want int
	}{{"read", 0}, {"ptrace", 101}, {"clone3", 435}, {"landlock_restrict_self", 446}, {"mseal", 462}, {"file_setattr", 469}}
	for _, tt := range tests {
		if got, ok := syscallNumbers[tt.name]; !ok || got != tt.want {
			t.Errorf("syscallNumbers[%q] = %d, %v; want %d", tt.name, got, ok, tt.want)
		}
	}
	if IsSyscallName("nosuchcall") || !IsSyscallName("openat2") {
		t.Error("IsSyscallName: wrong answer for nosuchcall or openat2")
	}
	seen := map[int]string{}
	for name, nr := range syscallNumbers {
		if other, dup := seen[nr]; dup {
			t.Errorf("syscall number %d has two names: %s and %s", nr, name, other)
		}
		seen[nr] = name
	}
}

func TestCloseMatches(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"fs_readble", []string{"fs_readable"}},
		{"max_mem", []string{"max_memory"}},
		{"memory", []string{"max_memory", "no_randomize_memory"}},
		{"zzzzzz", nil},
	}
	for _, tt := range tests {
		if got := closeMatches(tt.in, PolicyKeys()); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("closeMatches(%q) = %v; want %v", tt.in, got, tt.want)
		}
	}
}

// TestDocsCoverEveryKey keeps docs/policy.md the reference: every key has a section.
func TestDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range PolicyKeys() {
		if !strings.Contains(string(doc), "### "+k+"\n") {
			t.Errorf("docs/policy.md has no section \"### %s\"", k)
		}
	}
}
