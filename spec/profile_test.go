package spec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeProfiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestProfileStore(t *testing.T) {
	sys := writeProfiles(t, map[string]string{
		"base.toml":   "max_cpu = 10\n",
		"shared.toml": "max_cpu = 20\nno_udp = true\n",
		"notes.txt":   "not a profile",
	})
	user := writeProfiles(t, map[string]string{
		"shared.toml": "max_cpu = 30\n",
		"mine.toml":   "fs_readable = [\"/usr\"]\n",
	})
	if err := os.Mkdir(filepath.Join(user, "dir.toml"), 0o755); err != nil {
		t.Fatal(err)
	}
	ps := ProfileStore{Dirs: []string{sys, filepath.Join(sys, "missing"), user}}

	names, err := ps.List()
	if want := []string{"base", "mine", "shared"}; err != nil || !reflect.DeepEqual(names, want) {
		t.Errorf("List() = %v, %v; want %v", names, err, want)
	}
	tests := []struct {
		name    string
		want    Policy
		wantErr []string
	}{
		{"base", Policy{MaxCPU: ptr(10)}, nil},
		{"shared", Policy{MaxCPU: ptr(30)}, nil}, // the later (user) directory wins, no merging
		{"mine", Policy{FSReadable: []string{"/usr"}}, nil},
		{"nope", Policy{}, []string{`profile "nope": profile not found`, "available: base, mine, shared"}},
		{"dir", Policy{}, []string{"is a directory"}},
		{"", Policy{}, []string{"empty profile name"}},
		{"../base", Policy{}, []string{`profile name "../base"`, "'/'"}},
		{"a/b", Policy{}, []string{`"a/b"`}},
		{"..", Policy{}, []string{`".."`}},
	}
	for _, tt := range tests {
		got, err := ps.Load(tt.name)
		if tt.wantErr == nil {
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load(%q) = %+v, %v; want %+v", tt.name, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("Load(%q) = %+v; want an error", tt.name, got)
			continue
		}
		for _, w := range tt.wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%q) error %q; want it to contain %q", tt.name, err, w)
			}
		}
	}
	if _, err := ps.Load("nope"); !errors.Is(err, ErrProfileNotFound) {
		t.Errorf("Load(nope) error %v; want ErrProfileNotFound", err)
	}
	// No profile at all (before make install): the error says so and where they come from,
	// not "(available: )".
	empty := ProfileStore{Dirs: []string{t.TempDir()}}
	if _, err := empty.Load("minimal"); err == nil || strings.Contains(err.Error(), "available: )") ||
		!strings.Contains(err.Error(), SystemProfileDir) {
		t.Errorf("Load(minimal) from an empty store: %v; want it to say there are none and where make install puts them", err)
	}
}

func TestCheckProfileName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{{"web-scraper", true}, {"a.b", true}, {"x_1", true}, {"", false}, {"a/b", false}, {"..", false}, {"a..b", false}, {"/etc/x", false}, {"a\x00", false}}
	for _, tt := range tests {
		if err := CheckProfileName(tt.name); (err == nil) != tt.ok {
			t.Errorf("CheckProfileName(%q) = %v; want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestParseProfileRefuses(t *testing.T) {
	tests := []struct {
		rule      string
		bad, good string
		want      []string
	}{
		{"unknown key", "fs_readble = [\"/usr\"]\n", "fs_readable = [\"/usr\"]\n",
			[]string{`p.toml: unknown key "fs_readble"`, `did you mean "fs_readable"`}},
		{"unknown table", "[network]\nno_udp = true\n", "no_udp = true\n",
			[]string{`p.toml: unknown key "network"`}},
		{"wrong type", "max_processes = \"64\"\n", "max_processes = 64\n",
			[]string{"p.toml", "max_processes", "incompatible types"}},
		{"bad size", "max_memory = \"lots\"\n", "max_memory = \"512M\"\n",
			[]string{"p.toml", "not a number"}},
		{"bad port", "net_bind = [0]\n", "net_bind = [80, \"8000-8080\"]\n",
			[]string{"p.toml", "port 0"}},
		{"validation", "max_cpu = 500\n", "max_cpu = 50\n",
			[]string{"p.toml: max_cpu: 500: out of range", "1-100"}},
		{"both syscall lists", "allow_syscalls = [\"read\"]\ndeny_syscalls = [\"ptrace\"]\n", "allow_syscalls = [\"read\"]\n",
			[]string{"p.toml: allow_syscalls", "deny_syscalls"}},
		{"syntax", "max_cpu = \n", "max_cpu = 1\n", []string{"p.toml", "line 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			_, err := ParseProfile([]byte(tt.bad), "p.toml")
			if err == nil {
				t.Fatalf("ParseProfile(%q) = nil error; want a refusal", tt.bad)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to contain %q", err, w)
				}
			}
			if _, err := ParseProfile([]byte(tt.good), "p.toml"); err != nil {
				t.Errorf("ParseProfile(%q) = %v; want it accepted", tt.good, err)
			}
		})
	}
}

// TestShippedProfiles loads the examples, and checks that TOML() writes what ParseProfile reads.
func TestShippedProfiles(t *testing.T) {
	ps := ProfileStore{Dirs: []string{"testdata/profiles"}}
	names, err := ps.List()
	if want := []string{"build", "minimal", "web-scraper"}; err != nil || !reflect.DeepEqual(names, want) {
		t.Fatalf("List() = %v, %v; want %v", names, err, want)
	}
	for _, name := range names {
		p, err := ps.Load(name)
		if err != nil {
			t.Errorf("Load(%q): %v", name, err)
			continue
		}
		for _, q := range []Policy{p, DefaultPolicy().Merge(p)} {
			b, err := q.TOML()
			if err != nil {
				t.Errorf("%s: TOML(): %v", name, err)
				continue
			}
			back, err := ParseProfile(b, name+" (re-encoded)")
			if err != nil || !reflect.DeepEqual(back, q) {
				t.Errorf("%s: TOML() does not read back:\n%s\n got  %+v, %v\n want %+v", name, b, back, err, q)
			}
		}
	}
	build, _ := ps.Load("build")
	if !build.AllGPUs() || build.FSIsolationMode() != FSIsolationOverlayFS || build.DiskLimit() != 2<<30 {
		t.Errorf("build = %+v; want gpu_devices [], OVERLAYFS, max_disk 2G", build)
	}
}

func TestDefaultProfileStore(t *testing.T) {
	tests := []struct {
		xdg, home string
		want      []string
	}{
		{"/cfg", "/home/u", []string{SystemProfileDir, "/cfg/sandlock/profiles"}},
		{"", "/home/u", []string{SystemProfileDir, "/home/u/.config/sandlock/profiles"}},
		{"relative", "/home/u", []string{SystemProfileDir, "/home/u/.config/sandlock/profiles"}},
	}
	for _, tt := range tests {
		t.Setenv("XDG_CONFIG_HOME", tt.xdg)
		t.Setenv("HOME", tt.home)
		if got := DefaultProfileStore().Dirs; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("XDG_CONFIG_HOME=%q HOME=%q: Dirs = %v; want %v", tt.xdg, tt.home, got, tt.want)
		}
	}
}

// TestParsePolicyJSONErrors: a JSON policy's errors are as good as a TOML profile's: all of
// them, each with the key, the value, what is accepted, and close matches for a typo.
func TestParsePolicyJSONErrors(t *testing.T) {
	_, err := ParsePolicyJSON([]byte(`{"fs_readble": ["/usr"], "max_cpu": 500, "no_udp": "yes", "fs_writable": "/tmp"}`), "p.json")
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`p.json: unknown key "fs_readble" (did you mean "fs_readable"?)`,
		`p.json: no_udp: "yes": wrong JSON type (string); accepted: true or false`,
		`p.json: max_cpu: 500: out of range`,
		// a JSON file cannot write a list as bare text: the message offers only JSON
		`p.json: fs_writable: "/tmp": wrong JSON type (string); accepted: a JSON list of strings, e.g. ["/usr", "/lib"]` + "\n",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if _, err := ParsePolicyJSON([]byte("{\n  \"fs_readable\": [\"/usr\",]\n}"), "p.json"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("syntax error: got %v, want its line", err)
	}
	p, err := ParsePolicyJSON([]byte(`{"fs_readable": ["/usr"], "max_memory": "512M", "hostname": "h"}`), "p.json")
	if err != nil || len(p.FSReadable) != 1 || p.HostnameOverride() != "h" || p.MemoryLimit() != 512<<20 {
		t.Errorf("got %+v, %v", p, err)
	}
}
