package lifecycle

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSliceSweep(t *testing.T) {
	root, tree := t.TempDir(), t.TempDir()
	a := filepath.Join(tree, "a.slice")
	ab := filepath.Join(a, "a-b.slice")
	own1, own2 := filepath.Join(ab, "c1.scope"), filepath.Join(ab, "c2.scope")
	for _, d := range []string{a, ab, own1, own2} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// c1's create made the slices and its dir, c2's only its dir.
	if err := recordSlices(root, []string{a, ab, own1}, []string{own1}); err != nil {
		t.Fatal(err)
	}
	if err := recordSlices(root, []string{own2}, []string{own2}); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(own1)
	if err := sweepSlices(root, []string{own1}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ab); err != nil {
		t.Fatalf("a slice still holding c2 was removed: %v", err)
	}
	_ = os.Remove(own2)
	if err := sweepSlices(root, []string{own2}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a); err == nil {
		t.Error("the slices are left after the last container out")
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("root holds %v after the list emptied", ents)
	}
}
