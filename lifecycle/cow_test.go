package lifecycle

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestDryRunWritable: a dry run keeps fs_writable beneath the workdir only, judged by the
// object a path reaches: a symlink beneath the workdir to a directory outside it is made
// read-only (else the dry run writes there for real), one outside to inside stays writable.
func TestDryRunWritable(t *testing.T) {
	base := t.TempDir()
	wd, beside := filepath.Join(base, "wd"), filepath.Join(base, "beside")
	for _, d := range []string{filepath.Join(wd, "sub"), beside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, in := filepath.Join(wd, "out"), filepath.Join(base, "in")
	if err := os.Symlink(beside, out); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(wd, "sub"), in); err != nil {
		t.Fatal(err)
	}
	keep, ro := dryRunWritable([]string{filepath.Join(wd, "sub"), out, beside, in, "sub"}, wd, "/", wd)
	if want := []string{filepath.Join(wd, "sub"), in, "sub"}; !slices.Equal(keep, want) {
		t.Errorf("kept writable %v, want %v", keep, want)
	}
	if want := []string{out, beside}; !slices.Equal(ro, want) {
		t.Errorf("read-only %v, want %v (a symlink in the workdir to outside it must not stay writable)", ro, want)
	}
}
