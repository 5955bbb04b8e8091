package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The example is written to config.json and read back by create, so it must survive the round
// trip through LoadBundle and be accepted by Translate.
func TestExampleRoundTrip(t *testing.T) {
	tests := []struct {
		rootless bool
		want     Isolation
	}{
		{false, Isolation{NoNetwork: true, IsolateIPC: true, IsolateSignals: true, Hostname: "sandlock", MountNS: true}},
		{true, Isolation{NoNetwork: true, IsolateIPC: true, IsolateSignals: true, Hostname: "sandlock", MountNS: true}},
	}
	for _, tt := range tests {
		data, err := json.MarshalIndent(Example(tt.rootless), "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, ConfigName), string(data))
		s, err := LoadBundle(dir)
		if err != nil {
			t.Fatalf("rootless=%v: LoadBundle: %v", tt.rootless, err)
		}
		got, err := Translate(s)
		if err != nil {
			t.Fatalf("rootless=%v: Translate: %v", tt.rootless, err)
		}
		if got != tt.want {
			t.Errorf("rootless=%v: Translate = %+v; want %+v", tt.rootless, got, tt.want)
		}
	}
}

func TestExampleContents(t *testing.T) {
	s := Example(false)
	checks := []struct {
		what      string
		got, want any
	}{
		{"args", s.Process.Args, []string{"sh"}},
		{"terminal", s.Process.Terminal, true},
		{"root", *s.Root, specs.Root{Path: "rootfs", Readonly: true}},
		{"bounding caps", s.Process.Capabilities.Bounding, []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}},
		{"rlimits", s.Process.Rlimits, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}}},
		{"mounts", mountDests(s), []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"}},
		{"no_udp", s.Annotations["io.sandlock.no_udp"], "false"},
		{"no_raw_sockets", s.Annotations["io.sandlock.no_raw_sockets"], "true"},
	}
	for _, c := range checks {
		if !equalJSON(t, c.got, c.want) {
			t.Errorf("Example(false) %s = %v; want %v", c.what, c.got, c.want)
		}
	}
}

func TestExampleRootless(t *testing.T) {
	s := Example(true)
	if got, want := s.Process.User, (specs.User{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}); !equalJSON(t, got, want) {
		t.Errorf("user = %+v; want %+v (the caller)", got, want)
	}
	if slices.Contains(mountDests(s), "/sys") {
		t.Errorf("mounts = %v; want no /sys", mountDests(s))
	}
	for _, m := range s.Mounts {
		if slices.Contains(m.Options, "gid=5") {
			t.Errorf("mount %s options = %v; want no gid=", m.Destination, m.Options)
		}
	}
	if s.Linux.Resources != nil {
		t.Errorf("resources = %+v; want nil", s.Linux.Resources)
	}
	if got := Example(false); !slices.Contains(mountDests(got), "/sys") {
		t.Errorf("Example(true) changed Example(false): mounts %v", mountDests(got))
	}
}

func mountDests(s *specs.Spec) []string {
	var out []string
	for _, m := range s.Mounts {
		out = append(out, m.Destination)
	}
	return out
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatalf("marshal: %v %v", err1, err2)
	}
	return string(ja) == string(jb)
}
