package cowfs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeLayer builds a workdir and a layer whose upper directory is written by hand as overlayfs
// would write it: a modified file, a new file in a new directory, a whiteout, an opaque
// directory.
func fakeLayer(t *testing.T) *Layer {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: whiteouts are 0/0 character devices (mknod) and opaque marks trusted.* xattrs")
	}
	base := t.TempDir()
	wd := filepath.Join(base, "wd")
	write(t, wd, map[string]string{"edit": "old", "gone": "g", "keep": "k", "opq/a": "a", "opq/b": "b"})
	l, err := Create(filepath.Join(base, "layer"), Meta{ID: "t1", Workdir: wd})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Populate(); err != nil {
		t.Fatal(err)
	}
	up := l.Upper()
	write(t, up, map[string]string{"edit": "new", "newdir/f": "f", "opq/b": "b2"})
	if err := unix.Mknod(filepath.Join(up, "gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(up, "opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("no trusted xattrs on %s: %v", up, err)
	}
	return l
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func read(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "<missing>"
	}
	return string(b)
}

func TestChanges(t *testing.T) {
	l := fakeLayer(t)
	got, err := l.Changes()
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{{"M", "edit"}, {"D", "gone"}, {"A", "newdir"}, {"A", "newdir/f"}, {"M", "opq"}, {"D", "opq/a"}, {"M", "opq/b"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func checkLanded(t *testing.T, wd string) {
	t.Helper()
	for name, want := range map[string]string{"edit": "new", "keep": "k", "newdir/f": "f", "opq/b": "b2", "gone": "<missing>", "opq/a": "<missing>"} {
		if got := read(t, filepath.Join(wd, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(wd, stagePrefix+"*", stageMark)); len(m) != 0 {
		t.Errorf("staging left: %v", m)
	}
	var buf [4]byte
	if _, err := unix.Lgetxattr(filepath.Join(wd, "opq"), "trusted.overlay.opaque", buf[:]); err == nil {
		t.Errorf("the opaque mark was copied into the workdir")
	}
}

func TestCommit(t *testing.T) {
	l := fakeLayer(t)
	if err := l.Commit(nil); err != nil {
		t.Fatal(err)
	}
	checkLanded(t, l.Workdir)
	if _, err := os.Stat(l.Dir); err == nil {
		t.Errorf("the layer survived its commit")
	}
}

// TestCrashMidCommit: a commit interrupted after its journal is finished by Recover; one
// interrupted before it is undone. Either way the workdir is all before or all after.
func TestCrashMidCommit(t *testing.T) {
	t.Run("after the journal", func(t *testing.T) {
		l := fakeLayer(t)
		_, ops, err := diff(l.Upper(), l.Workdir)
		if err != nil {
			t.Fatal(err)
		}
		stage := filepath.Join(l.Workdir, stagePrefix+l.ID)
		if err := l.stage(stage, ops); err != nil {
			t.Fatal(err)
		}
		// The crash: the first step applied, not the rest.
		trash := filepath.Join(stage, "trash")
		if err := os.Mkdir(trash, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := applyOne(l.Workdir, stage, trash, 0, ops[0]); err != nil {
			t.Fatal(err)
		}
		if err := Recover(l.Workdir); err != nil {
			t.Fatal(err)
		}
		checkLanded(t, l.Workdir)
	})
	t.Run("before the journal", func(t *testing.T) {
		l := fakeLayer(t)
		_, ops, err := diff(l.Upper(), l.Workdir)
		if err != nil {
			t.Fatal(err)
		}
		stage := filepath.Join(l.Workdir, stagePrefix+l.ID)
		if err := l.stage(stage, ops); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(stage, journalFile)); err != nil { // not yet written
			t.Fatal(err)
		}
		if err := Recover(l.Workdir); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"edit": "old", "gone": "g", "opq/a": "a", "opq/b": "b", "newdir/f": "<missing>"} {
			if got := read(t, filepath.Join(l.Workdir, name)); got != want {
				t.Errorf("%s = %q, want %q (before)", name, got, want)
			}
		}
		if m, _ := filepath.Glob(filepath.Join(l.Workdir, stagePrefix+"*")); len(m) != 0 {
			t.Errorf("staging left: %v", m)
		}
	})
}

func TestConflict(t *testing.T) {
	l := fakeLayer(t)
	if err := os.WriteFile(filepath.Join(l.Workdir, "edit"), []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := l.Commit(nil)
	var ce *ConflictError
	if !errors.Is(err, ErrBranchConflict) || !errors.As(err, &ce) || !slices.Equal(ce.Paths, []string{"edit"}) {
		t.Fatalf("got %v, want a conflict on edit", err)
	}
	if read(t, filepath.Join(l.Workdir, "edit")) != "theirs" || read(t, filepath.Join(l.Workdir, "newdir/f")) != "<missing>" {
		t.Errorf("part of a conflicting commit landed")
	}
	if _, err := os.Stat(l.Upper()); err != nil {
		t.Errorf("the refused layer is gone: %v", err)
	}
}

func TestAction(t *testing.T) {
	for _, c := range []struct {
		m    Meta
		ok   bool
		want string
	}{
		{Meta{}, true, Commit}, {Meta{}, false, Abort},
		{Meta{OnExit: Keep}, true, Keep}, {Meta{OnError: Commit}, false, Commit},
		{Meta{OnExit: Commit, DryRun: true}, true, Abort},
	} {
		if got := (&Layer{Meta: c.m}).Action(c.ok); got != c.want {
			t.Errorf("%+v ok=%v: %s, want %s", c.m, c.ok, got, c.want)
		}
	}
}

// TestRecoverLeavesUsersAlone: a directory of the workdir that merely has a staging
// directory's name (no mark) is the user's: Recover keeps it. Names starting with ".." are
// ordinary names.
func TestRecoverLeavesUsersAlone(t *testing.T) {
	l := fakeLayer(t)
	write(t, l.Workdir, map[string]string{stagePrefix + "mine/data": "mine"})
	write(t, l.Upper(), map[string]string{"..dots": "d"})
	if err := l.Commit(nil); err != nil {
		t.Fatal(err)
	}
	if read(t, filepath.Join(l.Workdir, stagePrefix+"mine/data")) != "mine" {
		t.Errorf("Recover removed a user's directory")
	}
	if read(t, filepath.Join(l.Workdir, "..dots")) != "d" {
		t.Errorf("..dots did not land")
	}
}

// TestWorkdirGone: a commit refuses a workdir path that names another directory by then (an
// unmounted rootfs leaves an empty mount point there): nothing is written there.
func TestWorkdirGone(t *testing.T) {
	l := fakeLayer(t)
	if err := os.Rename(l.Workdir, l.Workdir+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(l.Workdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(nil); !errors.Is(err, ErrWorkdirGone) {
		t.Fatalf("got %v, want ErrWorkdirGone", err)
	}
	if ents, _ := os.ReadDir(l.Workdir); len(ents) != 0 {
		t.Errorf("the commit wrote into the new directory: %v", ents)
	}
}
