package spec

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string // substring; "" = accepted
	}{
		{"0", 0, ""},
		{"536870912", 512 << 20, ""},
		{"512M", 512 << 20, ""},
		{"512m", 512 << 20, ""},
		{"64k", 64 << 10, ""},
		{"64K", 64 << 10, ""},
		{"1G", 1 << 30, ""},
		{"1.5G", 3 << 29, ""},
		{"2T", 2 << 40, ""},
		{"1.1K", 1126, ""}, // 1126.4 rounded down
		{" 1G ", 1 << 30, ""},
		{"8388607T", 8388607 << 40, ""},
		{"8388608T", 0, "above the largest size"},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"9223372036854775808", 0, "above the largest size"},
		{"", 0, "empty"},
		{"   ", 0, "empty"},
		{"-1", 0, "negative"},
		{"-1G", 0, "negative"},
		{"1P", 0, "unknown suffix 'P'"},
		{"1MB", 0, "unknown suffix 'B'"},
		{"abc", 0, "not a number"},
		{"lots", 0, "not a number"},
		{"1.5", 0, "not a number"},
		{"G", 0, "not a number"},
		{"1..5G", 0, "not a number"},
		{"1e3K", 0, "not a number"},
		{"+1G", 0, "not a number"},
		{"1 G", 0, "not a number"},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, nil", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "accepted:") {
			t.Errorf("ParseSize(%q) error = %v; want one containing %q and what is accepted", tt.in, err, tt.wantErr)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"}, {1000, "1000"}, {1024, "1K"}, {512 << 20, "512M"}, {3 << 29, "1536M"},
		{1 << 30, "1G"}, {5 << 40, "5T"}, {1<<30 + 1, "1073741825"}, {-5, "-5"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q; want %q", int64(tt.in), got, tt.want)
		}
		if tt.in >= 0 {
			if back, err := ParseSize(tt.want); err != nil || back != tt.in {
				t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.want, back, err, int64(tt.in))
			}
		}
	}
}

func TestSizeJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		out     string
		wantErr string
	}{
		{`"512M"`, 512 << 20, `"512M"`, ""},
		{`536870912`, 512 << 20, `"512M"`, ""},
		{`1000`, 1000, `1000`, ""},
		{`"1000"`, 1000, `1000`, ""},
		{`-1`, 0, "", "negative"},
		{`1.5`, 0, "", "size 1.5"},
		{`"1X"`, 0, "", "unknown suffix"},
		{`true`, 0, "", "size true"},
	}
	for _, tt := range tests {
		var got Size
		err := json.Unmarshal([]byte(tt.in), &got)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("unmarshal %s: error = %v; want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("unmarshal %s = %d, %v; want %d", tt.in, got, err, tt.want)
			continue
		}
		if out, _ := json.Marshal(got); string(out) != tt.out {
			t.Errorf("marshal %d = %s; want %s", got, out, tt.out)
		}
	}
}

func TestSizeTOML(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string
	}{
		{`s = "1.5G"`, 3 << 29, ""},
		{`s = 4096`, 4096, ""},
		{`s = -1`, 0, "negative"},
		{`s = 1.5`, 0, "size 1.5"},
		{`s = "lots"`, 0, "not a number"},
	}
	for _, tt := range tests {
		var got struct{ S *Size }
		_, err := toml.Decode(tt.in, &got)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("decode %s: error = %v; want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.S == nil || *got.S != tt.want {
			t.Errorf("decode %s = %v, %v; want %d", tt.in, got.S, err, tt.want)
		}
	}
	// Encoding writes sizes with a suffix as strings, others as integers.
	m, d := Size(512<<20), Size(1000)
	b, err := Policy{MaxMemory: &m, MaxDisk: &d}.TOML()
	if got, want := string(b), "max_memory = \"512M\"\nmax_disk = 1000\n"; err != nil || got != want {
		t.Errorf("TOML() = %q, %v; want %q", got, err, want)
	}
}
