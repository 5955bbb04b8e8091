package lifecycle

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// missingDirs is what create records before its mkdirs: exactly the dirs below mnt that do not
// exist yet, outermost first, so delete --force after a crash removes those and no other.
func TestMissingDirs(t *testing.T) {
	mnt := t.TempDir()
	if err := os.MkdirAll(filepath.Join(mnt, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "a", "b", "c")
	want := []string{filepath.Join(mnt, "a", "b"), dir}
	if got := missingDirs(mnt, dir); !slices.Equal(got, want) {
		t.Errorf("missingDirs(%s) = %v, want %v", dir, got, want)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := missingDirs(mnt, dir); len(got) != 0 {
		t.Errorf("missingDirs of an existing dir = %v, want none", got)
	}
	if got := missingDirs(mnt, "/elsewhere/x"); len(got) != 0 {
		t.Errorf("missingDirs outside mnt = %v, want none", got)
	}
}
