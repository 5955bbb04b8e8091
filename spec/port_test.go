package spec

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestParsePort(t *testing.T) {
	tests := []struct {
		in      string
		want    Port
		wantErr string // substring; "" = accepted
	}{
		{"8080", Port{8080, 8080}, ""},
		{" 443 ", Port{443, 443}, ""},
		{"1", Port{1, 1}, ""},
		{"65535", Port{65535, 65535}, ""},
		{"8000-8080", Port{8000, 8080}, ""},
		{"80-80", Port{80, 80}, ""},
		{"0", Port{}, `port "0"`},
		{"65536", Port{}, "1-65535"},
		{"8080-8000", Port{}, "LO <= HI"},
		{"", Port{}, "accepted"},
		{"-80", Port{}, "accepted"},
		{"+80", Port{}, "accepted"},
		{"http", Port{}, `port "http"`},
		{"80-", Port{}, "accepted"},
		{"1-2-3", Port{}, "accepted"},
	}
	for _, tt := range tests {
		got, err := ParsePort(tt.in)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParsePort(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParsePort(%q) error = %v; want one containing %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestPortJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    []Port
		out     string // re-marshalled; "" = in
		wantErr string
	}{
		{`[80, "443", "8000-8080"]`, []Port{{80, 80}, {443, 443}, {8000, 8080}}, `[80,443,"8000-8080"]`, ""},
		{`[]`, []Port{}, "", ""},
		{`[0]`, nil, "", "port 0"},
		{`[70000]`, nil, "", "port 70000"},
		{`[8.5]`, nil, "", "port 8.5"},
		{`["9-8"]`, nil, "", "LO <= HI"},
		{`[true]`, nil, "", "port true"},
	}
	for _, tt := range tests {
		var got []Port
		err := json.Unmarshal([]byte(tt.in), &got)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("unmarshal %s: error = %v; want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !equalPorts(got, tt.want) {
			t.Errorf("unmarshal %s = %v, %v; want %v", tt.in, got, err, tt.want)
			continue
		}
		out, _ := json.Marshal(got)
		want := tt.out
		if want == "" {
			want = tt.in
		}
		if string(out) != want {
			t.Errorf("marshal %v = %s; want %s", got, out, want)
		}
	}
}

func TestPortTOML(t *testing.T) {
	tests := []struct {
		in      string
		want    []Port
		wantErr string
	}{
		{`p = [80, "443", "8000-8080"]`, []Port{{80, 80}, {443, 443}, {8000, 8080}}, ""},
		{`p = [0]`, nil, "port 0"},
		{`p = ["x"]`, nil, `port "x"`},
		{`p = [1.5]`, nil, "port 1.5"},
	}
	for _, tt := range tests {
		var got struct{ P []Port }
		_, err := toml.Decode(tt.in, &got)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("decode %s: error = %v; want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !equalPorts(got.P, tt.want) {
			t.Errorf("decode %s = %v, %v; want %v", tt.in, got.P, err, tt.want)
		}
	}
	// Encoding writes single ports as integers, ranges as strings.
	b, err := Policy{NetConnect: []Port{{80, 80}, {8000, 8080}}}.TOML()
	if got, want := string(b), "net_connect = [80, \"8000-8080\"]\n"; err != nil || got != want {
		t.Errorf("TOML() = %q, %v; want %q", got, err, want)
	}
}

func TestPortContains(t *testing.T) {
	p := Port{8000, 8080}
	for _, tt := range []struct {
		n    uint16
		want bool
	}{{7999, false}, {8000, true}, {8080, true}, {8081, false}} {
		if got := p.Contains(tt.n); got != tt.want {
			t.Errorf("%v.Contains(%d) = %v; want %v", p, tt.n, got, tt.want)
		}
	}
}

func equalPorts(a, b []Port) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
