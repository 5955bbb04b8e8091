package spec

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAnnotations(t *testing.T) {
	tests := []struct {
		name string
		ann  map[string]string
		want Policy
	}{
		{"JSON values of every shape", map[string]string{
			"io.sandlock.fs_readable":   `["/usr","/lib"]`,
			"io.sandlock.max_memory":    `"512M"`,
			"io.sandlock.max_disk":      `1073741824`,
			"io.sandlock.no_udp":        `true`,
			"io.sandlock.max_cpu":       `50`,
			"io.sandlock.net_connect":   `[443, "8000-8080"]`,
			"io.sandlock.env":           `{"LANG": "C"}`,
			"io.sandlock.gpu_devices":   `[]`,
			"io.sandlock.random_seed":   `-7`,
			"io.sandlock.hostname":      `"box"`,
			"io.sandlock.cpu_cores":     `[0, 2]`,
			"io.sandlock.no_network":    `false`,
			"org.example.unrelated":     `whatever`,
			"io.sandlock.runtime.x":     `reserved`,
			"io.sandlock.profile":       `web-scraper`,
			"io.sandlock.deny_syscalls": `["ptrace"]`,
		}, Policy{
			FSReadable: []string{"/usr", "/lib"}, MaxMemory: ptr(Size(512 << 20)), MaxDisk: ptr(Size(1 << 30)),
			NoUDP: ptr(true), MaxCPU: ptr(50), NetConnect: []Port{{443, 443}, {8000, 8080}},
			Env: map[string]string{"LANG": "C"}, GPUDevices: []int{}, RandomSeed: ptr(int64(-7)),
			Hostname: ptr("box"), CPUCores: []int{0, 2}, NoNetwork: ptr(false), DenySyscalls: []string{"ptrace"},
		}},
		// podman's --annotation splits on commas (CSV): lists may be written with spaces.
		{"space-separated lists", map[string]string{
			"io.sandlock.fs_readable": `/usr /lib`,
			"io.sandlock.net_connect": `80 443 8000-8080`,
			"io.sandlock.cpu_cores":   `0 2`,
			"io.sandlock.fs_writable": `/tmp`,
		}, Policy{
			FSReadable: []string{"/usr", "/lib"}, NetConnect: []Port{{80, 80}, {443, 443}, {8000, 8080}},
			CPUCores: []int{0, 2}, FSWritable: []string{"/tmp"},
		}},
		{"bare text for string fields and sizes", map[string]string{
			"io.sandlock.hostname":     `box`,
			"io.sandlock.workdir":      `/work`,
			"io.sandlock.fs_isolation": `OVERLAYFS`,
			"io.sandlock.time_start":   `2024-01-01T00:00:00Z`,
			"io.sandlock.max_memory":   `1.5G`,
		}, Policy{
			Hostname: ptr("box"), Workdir: ptr("/work"), FSIsolation: ptr("OVERLAYFS"),
			TimeStart: ptr("2024-01-01T00:00:00Z"), MaxMemory: ptr(Size(3 << 29)),
		}},
		{"time_start's unix seconds written bare", map[string]string{
			"io.sandlock.time_start": `1704067200.5`,
		}, Policy{TimeStart: ptr("1704067200.5")}},
		{"null leaves a field unset", map[string]string{"io.sandlock.max_cpu": `null`, "io.sandlock.fs_readable": `null`}, Policy{}},
		{"no annotations", nil, Policy{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAnnotations(tt.ann)
			if err != nil {
				t.Fatalf("ParseAnnotations: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseAnnotations:\n got  %+v\n want %+v", got, tt.want)
			}
		})
	}
}

// TestParseAnnotationsRefuses shows each refusal beside an accepted spelling of the same key.
func TestParseAnnotationsRefuses(t *testing.T) {
	tests := []struct {
		rule      string
		key       string
		bad, good string
		want      []string
	}{
		{"unknown key with close matches", "io.sandlock.fs_readble", `["/usr"]`, "",
			[]string{"io.sandlock.fs_readble: unknown sandlock annotation", `did you mean "io.sandlock.fs_readable"`, "accepted:"}},
		{"unknown key without close matches", "io.sandlock.bogus_thing_here", `1`, "",
			[]string{"io.sandlock.bogus_thing_here: unknown sandlock annotation", "accepted: io.sandlock.profile and io.sandlock.<field>"}},
		{"string for a bool", "io.sandlock.no_udp", `"yes"`, `true`,
			[]string{`io.sandlock.no_udp: "yes": wrong JSON type (string)`, "accepted: true or false"}},
		{"string for an int", "io.sandlock.max_processes", `"64"`, `64`,
			[]string{`io.sandlock.max_processes: "64": wrong JSON type`, "accepted: an integer"}},
		{"float for an int", "io.sandlock.max_open_files", `1.5`, `1024`,
			[]string{"io.sandlock.max_open_files: 1.5: wrong JSON type", "accepted: an integer"}},
		{"number for a string", "io.sandlock.hostname", `123`, `"123"`,
			[]string{"io.sandlock.hostname: 123: wrong JSON type (number)", "accepted: a JSON string"}},
		{"object for a list", "io.sandlock.cpu_cores", `{"a":1}`, `[1]`,
			[]string{"io.sandlock.cpu_cores", "wrong JSON type (object)", "list of integers"}},
		{"mixed list", "io.sandlock.deny_syscalls", `["ptrace", 1]`, `["ptrace"]`,
			[]string{"io.sandlock.deny_syscalls", "wrong JSON type (number)"}},
		{"bad size", "io.sandlock.max_memory", `"12Q"`, `"12G"`,
			[]string{"io.sandlock.max_memory", "unknown suffix 'Q'", "binary multiples"}},
		{"bad bare size", "io.sandlock.max_memory", `-1G`, `1G`,
			[]string{"io.sandlock.max_memory: -1G", "negative"}},
		{"bad port", "io.sandlock.net_bind", `[80, 0]`, `[80, 8080]`,
			[]string{"io.sandlock.net_bind", "port 0", "1-65535"}},
		{"validation names the annotation", "io.sandlock.max_cpu", `150`, `100`,
			[]string{"io.sandlock.max_cpu: 150: out of range", "1-100"}},
		{"unknown syscall", "io.sandlock.allow_syscalls", `["opn"]`, `["open"]`,
			[]string{`io.sandlock.allow_syscalls: "opn": unknown syscall`, `did you mean "open"`}},
		{"profile name with a slash", "io.sandlock.profile", `../../etc/passwd`, `web-scraper`,
			[]string{`io.sandlock.profile: "../../etc/passwd"`, "'/'"}},
		{"empty profile name", "io.sandlock.profile", ``, `minimal`,
			[]string{`io.sandlock.profile: ""`, "empty profile name"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			_, err := ParseAnnotations(map[string]string{tt.key: tt.bad})
			if err == nil {
				t.Fatalf("ParseAnnotations(%s: %s) = nil error; want a refusal", tt.key, tt.bad)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to contain %q", err, w)
				}
			}
			if tt.good == "" {
				return
			}
			if _, err := ParseAnnotations(map[string]string{tt.key: tt.good}); err != nil {
				t.Errorf("ParseAnnotations(%s: %s) = %v; want it accepted", tt.key, tt.good, err)
			}
		})
	}
}

func TestParseAnnotationsReportsAll(t *testing.T) {
	_, err := ParseAnnotations(map[string]string{
		"io.sandlock.max_cpu": "0", "io.sandlock.nope": "1", "io.sandlock.no_udp": "1",
	})
	if err == nil {
		t.Fatal("got nil; want three errors")
	}
	lines := strings.Split(err.Error(), "\n")
	var keys []string
	for _, l := range lines {
		k, _, _ := strings.Cut(l, ":")
		keys = append(keys, k)
	}
	want := []string{"io.sandlock.no_udp", "io.sandlock.nope", "io.sandlock.max_cpu"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("errors for keys %v; want %v (decoding in key order, then validation)", keys, want)
	}
}

// TestExampleAnnotations keeps the starter config's annotations valid.
func TestExampleAnnotations(t *testing.T) {
	p, err := ParseAnnotations(Example(false).Annotations)
	if err != nil {
		t.Fatal(err)
	}
	if p.ProcessLimit() != 64 || !p.RawSocketsDenied() {
		t.Errorf("got %+v; want max_processes 64, no_raw_sockets true", p)
	}
}
