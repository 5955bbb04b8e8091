package notifsup

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// carveTree makes W with an old file, a secret and a pre-made link to it, and the model the
// plan would give for fs_writable [W], fs_denied [W/secret].
func carveTree(t *testing.T) (string, *carveModel) {
	t.Helper()
	w := t.TempDir()
	for _, f := range []string{"old", "secret"} {
		if err := os.WriteFile(filepath.Join(w, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(w, "secret"), filepath.Join(w, "prelink")); err != nil {
		t.Fatal(err)
	}
	present := map[string][2]uint64{}
	for _, n := range []string{"old", "secret", "prelink"} {
		st := lstat(t, filepath.Join(w, n))
		present[n] = [2]uint64{st.Dev, st.Ino}
	}
	sec := lstat(t, filepath.Join(w, "secret"))
	cfg := CarveConfig{
		Rules:   []FSRule{{Path: w, Write: true}},
		Dirs:    []string{w},
		Present: map[string]map[string][2]uint64{w: present},
		Denied:  []DeniedPath{{Path: filepath.Join(w, "secret")}, {Path: filepath.Join(w, "prelink")}},
		Inodes:  [][2]uint64{{sec.Dev, sec.Ino}},
	}
	final := []FSRule{{Path: w, ListOnly: true}, {Path: filepath.Join(w, "old"), Write: true}}
	return w, newCarveModel(cfg, final)
}

func lstat(t *testing.T, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func TestCarveMediated(t *testing.T) {
	w, m := carveTree(t)
	if err := os.WriteFile(filepath.Join(w, "replaced"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	m.cfg.Present[w]["replaced"] = [2]uint64{1, 1} // an entry of that name was there at create
	for _, c := range []struct {
		path string
		want bool
	}{
		{w, true},                       // the carved directory itself
		{w + "/new", true},              // made after create: no rule
		{w + "/newdir/f", true},         // beneath an entry made after create
		{w + "/replaced", true},         // another object than the one present at create
		{w + "/old", false},             // present at create: its own rule (Landlock's)
		{w + "/secret", false},          // present at create: no rule (Landlock refuses)
		{w + "/prelink", false},         // likewise
		{filepath.Dir(w) + "/x", false}, // outside every carved directory
		{w + "x/y", false},              // a sibling with a common prefix
	} {
		if got := m.mediated(c.path); got != c.want {
			t.Errorf("mediated(%s) = %v, want %v", c.path, got, c.want)
		}
	}
}

func TestCarveChecks(t *testing.T) {
	w, m := carveTree(t)
	sec := lstat(t, filepath.Join(w, "secret"))
	if err := os.WriteFile(filepath.Join(w, "other"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	other := lstat(t, filepath.Join(w, "other"))
	for _, c := range []struct {
		name    string
		err     error
		refused bool
	}{
		{"the secret by name", m.check(w+"/secret", nil), true},
		{"another name of the secret, by inode", m.check(w+"/elsewhere", sec), true},
		{"a new file", m.check(w+"/other", other), false},
		{"moving the carved directory", m.checkMove(w, nil), true},
		{"moving a sibling", m.checkMove(w+"/other", other), false},
		{"writing a new file", m.need(w+"/new", true, true), false},
		{"writing outside every rule", m.need(filepath.Dir(w)+"/x", false, true), true},
		{"linking a read-only file into W (REFER)", m.refer(filepath.Dir(w)+"/x", w+"/new"), true},
		{"renaming within W", m.refer(w+"/a", w+"/b"), false},
	} {
		if got := c.err != nil; got != c.refused {
			t.Errorf("%s: refused %v (%v), want %v", c.name, got, c.err, c.refused)
		}
	}
}

func TestAccessOf(t *testing.T) {
	for _, c := range []struct {
		flags       uint64
		read, write bool
	}{
		{unix.O_RDONLY, true, false},
		{unix.O_WRONLY, false, true},
		{unix.O_RDWR, true, true},
		{unix.O_RDONLY | unix.O_TRUNC, true, true},
		{unix.O_PATH, false, false},
	} {
		if r, w := accessOf(c.flags); r != c.read || w != c.write {
			t.Errorf("accessOf(%#x) = %v, %v; want %v, %v", c.flags, r, w, c.read, c.write)
		}
	}
}
