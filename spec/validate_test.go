package spec

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestRlimitType(t *testing.T) {
	tests := []struct {
		name    string
		want    int
		wantErr bool
	}{
		{name: "RLIMIT_NOFILE", want: unix.RLIMIT_NOFILE},
		{name: "RLIMIT_NPROC", want: unix.RLIMIT_NPROC},
		{name: "RLIMIT_CORE", want: unix.RLIMIT_CORE},
		{name: "RLIMIT_RTTIME", want: unix.RLIMIT_RTTIME},
		{name: "RLIMIT_AS", want: unix.RLIMIT_AS},
		{name: "NOFILE", wantErr: true},
		{name: "rlimit_nofile", wantErr: true},
		{name: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := RlimitType(tt.name)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("RlimitType(%q) = %d, %v; want %d, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

// The kernel has 16 rlimits (RLIM_NLIMITS); every one must be nameable.
func TestRlimitsComplete(t *testing.T) {
	seen := map[int]bool{}
	for _, n := range rlimits {
		seen[n] = true
	}
	for n := 0; n < 16; n++ {
		if !seen[n] {
			t.Errorf("resource %d has no RLIMIT_* name", n)
		}
	}
}

func TestSysctlNetWithoutNetwork(t *testing.T) {
	tests := []struct {
		name    string
		sysctl  map[string]string
		iso     Isolation
		wantErr bool
	}{
		{"none", nil, Isolation{}, false},
		{"net, no network", map[string]string{"net.ipv4.ping_group_range": "0 0"}, Isolation{NoNetwork: true}, false},
		{"net, host network", map[string]string{"net.ipv4.ping_group_range": "0 0"}, Isolation{}, true},
		{"kernel, no network", map[string]string{"kernel.msgmax": "1"}, Isolation{NoNetwork: true, IsolateIPC: true}, true},
		{"mixed, no network", map[string]string{"net.core.somaxconn": "1", "fs.mqueue.msg_max": "1"}, Isolation{NoNetwork: true}, true},
	}
	for _, tt := range tests {
		err := checkSysctl(tt.sysctl, tt.iso)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: checkSysctl = %v; want error %v", tt.name, err, tt.wantErr)
		}
	}
}
