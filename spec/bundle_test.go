package spec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadBundleErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string // "" = no config.json at all
		want   []string
	}{
		{"missing", "", []string{"bundle ", ": config.json: no such file or directory"}},
		{"empty", " \n", []string{"config.json: invalid JSON at line 1"}},
		{"syntax", "{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": {,\n}", []string{"config.json: invalid JSON at line 3"}},
		{"type", "{\n\"ociVersion\": 1\n}", []string{"config.json: invalid JSON at line 2", "ociVersion"}},
		{"truncated", "{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": {", []string{"config.json: invalid JSON at line 3, column 15: unexpected EOF"}},
		{"trailing data", `{"ociVersion":"1.0.0"} {}`, []string{"config.json: invalid JSON at line 1", "after the top-level object"}},
		{"no process", `{"ociVersion":"1.0.0","root":{"path":"rootfs"}}`, []string{"config.json: process: missing"}},
		{"no args", `{"ociVersion":"1.0.0","process":{"cwd":"/"},"root":{"path":"rootfs"}}`, []string{"config.json: process.args: empty"}},
		{"no root", `{"ociVersion":"1.0.0","process":{"args":["sh"],"cwd":"/"}}`, []string{"config.json: root: missing"}},
		{"relative cwd", `{"ociVersion":"1.0.0","process":{"args":["sh"],"cwd":"tmp"},"root":{"path":"rootfs"}}`, []string{`config.json: process.cwd: "tmp": not an absolute path`}},
		{"empty root path", `{"ociVersion":"1.0.0","process":{"args":["sh"],"cwd":"/"},"root":{}}`, []string{"config.json: root.path: empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.config != "" {
				writeFile(t, filepath.Join(dir, ConfigName), tt.config)
			}
			_, err := LoadBundle(dir)
			if err == nil {
				t.Fatalf("LoadBundle = nil error; want one containing %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), "bundle "+dir+": config.json: ") {
				t.Errorf("LoadBundle error = %q; want it to start with the bundle and file", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("LoadBundle error = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadBundleMissingIsNotExist(t *testing.T) {
	_, err := LoadBundle(t.TempDir())
	if got, want := errors.Is(err, fs.ErrNotExist), true; got != want {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v; want %v", err, got, want)
	}
}

// Unknown properties must be ignored (runtime-spec config.md, "Extensibility").
func TestLoadBundleIgnoresUnknownFields(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ConfigName),
		`{"ociVersion":"1.0.0","futureField":{"x":1},"process":{"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"}}`)
	s, err := LoadBundle(dir)
	if err != nil {
		t.Fatalf("LoadBundle: %v", err)
	}
	if got, want := s.Process.Args[0], "sh"; got != want {
		t.Errorf("args[0] = %q; want %q", got, want)
	}
}

func TestLineCol(t *testing.T) {
	data := []byte("ab\ncd\n\nef")
	tests := []struct {
		off               int64
		wantLine, wantCol int
	}{
		{0, 1, 1}, {2, 1, 3}, {3, 2, 1}, {7, 4, 1}, {9, 4, 3}, {100, 4, 3},
	}
	for _, tt := range tests {
		line, col := lineCol(data, tt.off)
		if line != tt.wantLine || col != tt.wantCol {
			t.Errorf("lineCol(%d) = %d:%d; want %d:%d", tt.off, line, col, tt.wantLine, tt.wantCol)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(data))
}
