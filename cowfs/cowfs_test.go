package cowfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
		if err := l.stage(l.Workdir, stage, ops); err != nil {
			t.Fatal(err)
		}
		// The crash: the first step applied, not the rest.
		trash := filepath.Join(stage, "trash")
		if err := os.Mkdir(trash, 0o700); err != nil {
			t.Fatal(err)
		}
		fds := make([]int, 3)
		for i, d := range []string{l.Workdir, stage, trash} {
			if fds[i], err = unix.Open(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[i])
		}
		if err := applyOne(fds[0], fds[1], fds[2], 0, ops[0]); err != nil {
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
		if err := l.stage(l.Workdir, stage, ops); err != nil {
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

// TestCommitOverwrite: the conflict Commit refuses, CommitOverwrite lands: the layer's version
// of every path it changed wins, and the rest of the workdir (theirs) stays.
func TestCommitOverwrite(t *testing.T) {
	l := fakeLayer(t)
	write(t, l.Workdir, map[string]string{"edit": "theirs", "their-new": "t"})
	if err := l.Commit(nil); !errors.Is(err, ErrBranchConflict) || !errors.Is(err, ErrNotLanded) {
		t.Fatalf("Commit: got %v, want a branch conflict that landed nothing", err)
	}
	if err := l.CommitOverwrite(nil); err != nil {
		t.Fatalf("CommitOverwrite: %v", err)
	}
	for name, want := range map[string]string{"edit": "new", "newdir/f": "f", "opq/b": "b2", "opq/a": "<missing>", "gone": "<missing>", "their-new": "t", "keep": "k"} {
		if got := read(t, filepath.Join(l.Workdir, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, err := os.Stat(l.Dir); err == nil {
		t.Errorf("the layer is still there after its commit")
	}
}

// TestCommitRefusedKeepsLayer: a commit the workdir refuses before its journal (here a file
// where the staging directory goes) is an ErrNotLanded: nothing landed, the layer stays whole,
// and the file in the way is left alone.
func TestCommitRefusedKeepsLayer(t *testing.T) {
	l := fakeLayer(t)
	inTheWay := filepath.Join(l.Workdir, stagePrefix+l.ID)
	write(t, l.Workdir, map[string]string{stagePrefix + l.ID: "mine"})
	err := l.Commit(nil)
	if err == nil || !errors.Is(err, ErrNotLanded) || errors.Is(err, ErrBranchConflict) {
		t.Fatalf("Commit: got %v, want an ErrNotLanded", err)
	}
	if read(t, filepath.Join(l.Workdir, "edit")) != "old" || read(t, filepath.Join(l.Workdir, "newdir/f")) != "<missing>" {
		t.Errorf("part of a refused commit landed")
	}
	if read(t, inTheWay) != "mine" {
		t.Errorf("the file in the staging directory's way was removed")
	}
	if _, err := os.Stat(l.Upper()); err != nil {
		t.Errorf("the refused layer is gone: %v", err)
	}
}

// TestCommitRefusedNamesWorkdir: a refused commit's error names the workdir by its path, not
// by the descriptor the commit goes through (/proc/self/fd/N).
func TestCommitRefusedNamesWorkdir(t *testing.T) {
	l := fakeLayer(t)
	l.ID = strings.Repeat("x", 300) // the staging directory's name is too long: mkdir fails
	err := l.Commit(nil)
	if err == nil || !errors.Is(err, ErrNotLanded) {
		t.Fatalf("Commit: got %v, want an ErrNotLanded", err)
	}
	if msg := err.Error(); strings.Contains(msg, "/proc/self/fd/") || !strings.Contains(msg, l.Workdir) {
		t.Errorf("Commit: %q does not name the workdir %s", msg, l.Workdir)
	}
}

// lgetxattr is one extended attribute of p.
func lgetxattr(p, name string) ([]byte, error) {
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// TestCommitXattrs: a committed file keeps the user's extended attributes and never carries
// the overlay's own (trusted.overlay.origin leaked into the workdir on a hard-linked commit,
// and a copied one lost user.*), whether the staging links the layer's file or copies it; a
// layer copied to disk (KeepOnDisk) keeps the overlay's marks.
func TestCommitXattrs(t *testing.T) {
	l := fakeLayer(t)
	f := filepath.Join(l.Upper(), "edit")
	for name, v := range map[string]string{"user.k": "v", "trusted.overlay.origin": "o"} {
		if err := unix.Lsetxattr(f, name, []byte(v), 0); err != nil {
			t.Skipf("xattr %s on %s: %v", name, f, err)
		}
	}
	check := func(what, p string, wantOverlay bool) {
		t.Helper()
		if v, err := lgetxattr(p, "user.k"); err != nil || string(v) != "v" {
			t.Errorf("%s: user.k = %q, %v; want v", what, v, err)
		}
		if _, err := lgetxattr(p, "trusted.overlay.origin"); (err == nil) != wantOverlay {
			t.Errorf("%s: trusted.overlay.origin there: %v, want %v", what, err == nil, wantOverlay)
		}
	}
	copied := filepath.Join(t.TempDir(), "copied")
	if err := (&copier{links: newLinkMap(), root: l.Upper()}).tree(f, copied); err != nil {
		t.Fatal(err)
	}
	check("a staging copy", copied, false)
	kept := filepath.Join(t.TempDir(), "kept")
	if err := (&copier{links: newLinkMap(), root: l.Upper(), allXattrs: true}).tree(f, kept); err != nil { // KeepOnDisk's
		t.Fatal(err)
	}
	check("a layer's copy", kept, true)
	if err := l.Commit(nil); err != nil {
		t.Fatal(err)
	}
	check("the committed file", filepath.Join(l.Workdir, "edit"), false)
}

// TestDirModeCommitted: chmod of a workdir directory (copied up, not replaced) is a change: it
// is listed (M) and lands, after the entries renamed into it (it was silently dropped).
func TestDirModeCommitted(t *testing.T) {
	l := fakeLayer(t)
	if err := os.Mkdir(filepath.Join(l.Workdir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, l.Workdir, map[string]string{"d/old": "o"})
	up := filepath.Join(l.Upper(), "d")
	if err := os.Mkdir(up, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, up, map[string]string{"new": "n"})
	if err := os.Chmod(up, 0o500); err != nil {
		t.Fatal(err)
	}
	cs, err := l.Changes()
	if err != nil || !slices.Contains(cs, Change{"M", "d"}) || !slices.Contains(cs, Change{"A", "d/new"}) {
		t.Fatalf("Changes: %v, %v; want M d and A d/new", cs, err)
	}
	if err := l.Commit(nil); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(l.Workdir, "d"), &st); err != nil || st.Mode&0o7777 != 0o500 {
		t.Errorf("d's mode after the commit: %o, %v; want 500", st.Mode&0o7777, err)
	}
	if read(t, filepath.Join(l.Workdir, "d/new")) != "n" || read(t, filepath.Join(l.Workdir, "d/old")) != "o" {
		t.Errorf("d's entries after the commit: new %q, old %q", read(t, filepath.Join(l.Workdir, "d/new")), read(t, filepath.Join(l.Workdir, "d/old")))
	}
	_ = os.Chmod(filepath.Join(l.Workdir, "d"), 0o755)
}

// TestHardLinksRelinked: a workdir file with several names, written through one of them (the
// layer holds that name alone, as overlayfs copies it up), lands with every name linked to the
// new content, as on a plain file system; a file written through two names is left as the
// layer has it (which one the others follow would be a guess).
func TestHardLinksRelinked(t *testing.T) {
	l := fakeLayer(t)
	write(t, l.Workdir, map[string]string{"h1": "old", "own": "x"})
	for _, name := range []string{"h2", "sub/h3"} {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(l.Workdir, name)), 0o755)
		if err := os.Link(filepath.Join(l.Workdir, "h1"), filepath.Join(l.Workdir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write(t, l.Workdir, map[string]string{"t1": "old"}) // two names written: no guess
	for _, name := range []string{"t2", "t3"} {
		if err := os.Link(filepath.Join(l.Workdir, "t1"), filepath.Join(l.Workdir, name)); err != nil {
			t.Fatal(err)
		}
	}
	l.Start = time.Now().UnixNano() // the links were there before the layer, as far as it knows
	write(t, l.Upper(), map[string]string{"h1": "new", "t1": "one", "t2": "two"})
	cs, err := l.Changes()
	for _, want := range []Change{{"M", "h1"}, {"M", "h2"}, {"M", "sub/h3"}, {"M", "t1"}, {"M", "t2"}} {
		if err != nil || !slices.Contains(cs, want) {
			t.Errorf("Changes: %v, %v; want %v among them", cs, err, want)
		}
	}
	if err := l.Commit(nil); err != nil {
		t.Fatal(err)
	}
	var a, b, c unix.Stat_t
	_ = unix.Stat(filepath.Join(l.Workdir, "h1"), &a)
	_ = unix.Stat(filepath.Join(l.Workdir, "h2"), &b)
	_ = unix.Stat(filepath.Join(l.Workdir, "sub/h3"), &c)
	if read(t, filepath.Join(l.Workdir, "h2")) != "new" || read(t, filepath.Join(l.Workdir, "sub/h3")) != "new" || a.Ino != b.Ino || a.Ino != c.Ino {
		t.Errorf("h2 %q, sub/h3 %q (inodes %d %d %d): want the new content, one inode", read(t, filepath.Join(l.Workdir, "h2")), read(t, filepath.Join(l.Workdir, "sub/h3")), a.Ino, b.Ino, c.Ino)
	}
	if got := read(t, filepath.Join(l.Workdir, "t1")) + read(t, filepath.Join(l.Workdir, "t2")) + read(t, filepath.Join(l.Workdir, "t3")); got != "onetwoold" {
		t.Errorf("t1 t2 t3 = %q, want each name written kept its own and t3 as it was", got)
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

// TestRecoverForgedJournal: a staging directory planted in the workdir (by the sandbox, whose
// new names a commit lands there, or by anyone who may write it) is replayed by the next
// Recover, which runs as the runtime: its steps must stay inside the workdir. Before the fix
// a step through a symlink in the workdir moved a file into the directory it pointed to, and
// a removal moved a file from there into the staging's trash (then deleted with it).
func TestRecoverForgedJournal(t *testing.T) {
	base := t.TempDir()
	wd, outside := filepath.Join(base, "wd"), filepath.Join(base, "outside")
	write(t, outside, map[string]string{"victim": "v"})
	stage := filepath.Join(wd, stagePrefix+"forged")
	write(t, stage, map[string]string{stageMark: "", "0": "pwned", "2": "pwned",
		journalFile: `[{"rel":"lnk/pwned"},{"remove":true,"rel":"lnk/victim"},{"rel":"lnk/sub/pwned"}]`})
	if err := os.Symlink(outside, filepath.Join(wd, "lnk")); err != nil {
		t.Fatal(err)
	}
	err := Recover(wd)
	if err == nil {
		t.Errorf("Recover replayed a journal whose steps pass a symlink")
	}
	for _, p := range []string{"pwned", "sub"} {
		if _, err := os.Lstat(filepath.Join(outside, p)); err == nil {
			t.Errorf("the forged journal made %s outside the workdir", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(outside, "victim")); err != nil || string(b) != "v" {
		t.Errorf("the forged journal removed a file outside the workdir: %v", err)
	}
}

// TestCommitRefusesStagingNames: a layer that made a name only a commit's staging directory
// may have is not committed (the next Recover would replay it).
func TestCommitRefusesStagingNames(t *testing.T) {
	l := fakeLayer(t)
	write(t, l.Upper(), map[string]string{stagePrefix + "x/" + stageMark: "", stagePrefix + "x/" + journalFile: "[]"})
	err := l.Commit(nil)
	if !errors.Is(err, ErrReservedName) {
		t.Fatalf("commit of a layer with %sx: %v, want ErrReservedName", stagePrefix, err)
	}
	if _, err := os.Lstat(filepath.Join(l.Workdir, stagePrefix+"x")); err == nil {
		t.Errorf("the staging name landed in the workdir")
	}
}

// TestCopyInto: a checkpoint's copy of an upper directory keeps whiteouts, opaque marks,
// redirects and the program's own xattrs, and hard links; a device node is refused.
func TestCopyInto(t *testing.T) {
	l := fakeLayer(t)
	up := l.Upper()
	if err := os.Link(filepath.Join(up, "edit"), filepath.Join(up, "edit2")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(up, "newdir"), "trusted.overlay.redirect", []byte("/old"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(up, "newdir", "f"), "user.mine", []byte("v"), 0); err != nil {
		t.Skipf("no user xattrs on %s: %v", up, err)
	}
	dst := t.TempDir()
	if err := CopyInto(up, dst); err != nil {
		t.Fatal(err)
	}
	var a, b unix.Stat_t
	if unix.Lstat(filepath.Join(dst, "edit"), &a) != nil || unix.Lstat(filepath.Join(dst, "edit2"), &b) != nil || a.Ino != b.Ino {
		t.Errorf("the hard link edit/edit2 is not one file in the copy")
	}
	if st, ok := lstat(filepath.Join(dst, "gone")); !ok || !isWhiteout(st) {
		t.Errorf("the whiteout gone was not copied as one")
	}
	for p, attr := range map[string]string{"opq": "trusted.overlay.opaque", "newdir": "trusted.overlay.redirect", "newdir/f": "user.mine"} {
		if _, err := unix.Lgetxattr(filepath.Join(dst, p), attr, make([]byte, 64)); err != nil {
			t.Errorf("%s lost %s: %v", p, attr, err)
		}
	}
	if err := unix.Mknod(filepath.Join(up, "disk"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))); err != nil {
		t.Fatal(err)
	}
	if err := CopyInto(up, t.TempDir()); err == nil || !strings.Contains(err.Error(), "device node") {
		t.Errorf("a copy with a block device node: %v, want it refused", err)
	}
}

// TestCopyFileKeepsHoles: a sparse file's copy takes the blocks of its data, not its size,
// and reads back the same (holes as zeros).
func TestCopyFileKeepsHoles(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("head"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("tail"), 32<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := CopyFile(src, dst); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dst, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != 64<<20 || st.Blocks*512 > 1<<20 {
		t.Errorf("copy: size %d, %d bytes allocated; want 64 MiB in at most 1 MiB of blocks", st.Size, st.Blocks*512)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(dst)
	if !bytes.Equal(a, b) {
		t.Errorf("the copy reads back differently")
	}
}

// TestReadsStayBeneath: a directory of the upper that became a symlink after the diff saw it
// (a process of the sandbox still running during the commit) is not followed: staging it
// fails, and nothing of the symlink's target is copied or linked.
func TestReadsStayBeneath(t *testing.T) {
	base := t.TempDir()
	upper, lower, outside, stage := filepath.Join(base, "upper"), filepath.Join(base, "lower"), filepath.Join(base, "outside"), filepath.Join(base, "stage")
	for _, d := range []string{upper, lower, outside, stage} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "key"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(upper, "d")); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	_ = unix.Stat(stage, &st)
	for _, canLink := range []bool{false, true} {
		dst := filepath.Join(stage, fmt.Sprint(canLink))
		cp := &copier{links: newLinkMap(), root: upper, canLink: canLink, linkDev: st.Dev}
		if err := cp.mergeCopy("", filepath.Join(upper, "d"), lower, dst); err == nil {
			t.Errorf("canLink %v: staging a directory that is a symlink now succeeded", canLink)
		}
		if _, err := os.Stat(filepath.Join(dst, "key")); err == nil {
			t.Errorf("canLink %v: the symlink's target was copied into the staging", canLink)
		}
		if err := cp.tree(filepath.Join(upper, "d", "key"), dst+"-file"); err == nil {
			t.Errorf("canLink %v: a file reached through a symlink of the upper was copied", canLink)
		}
	}
	if _, ops, err := diff(upper, lower); err != nil || len(ops) != 1 || ops[0].Dir {
		t.Errorf("diff: the symlink d is one new entry, not a directory: %+v, %v", ops, err)
	}
}

// TestDisplayPath: printable paths as they are; anything else (control characters, invalid
// UTF-8, a leading quote) quoted, so that one change is one line of plain text.
func TestDisplayPath(t *testing.T) {
	for in, want := range map[string]string{
		"a/b c.txt": "a/b c.txt", "été": "été", "x\nD y": `"x\nD y"`, "\x1b[2K": `"\x1b[2K"`,
		"bad\xff": `"bad\xff"`, `"q"`: `"\"q\""`, "tab\there": `"tab\there"`,
	} {
		if got := DisplayPath(in); got != want {
			t.Errorf("DisplayPath(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestCopyIntoNamesMissing: a missing source (an image without its layer's copy) is named.
func TestCopyIntoNamesMissing(t *testing.T) {
	src := filepath.Join(t.TempDir(), "cow-upper")
	err := CopyInto(src, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), src) {
		t.Fatalf("CopyInto: got %v, want an error naming %s", err, src)
	}
}

// TestKeepOnDiskDeviceNode: a max_disk layer kept on disk keeps the device nodes the sandbox
// made (as the overlay let it, and as a commit would land them): only CopyInto, a restore's
// seeding from an image, refuses them. KeepOnDisk shared that refusal, and a KEEP of such a
// layer failed at every delete.
func TestKeepOnDiskDeviceNode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: mknod")
	}
	base := t.TempDir()
	wd := filepath.Join(base, "wd")
	if err := os.Mkdir(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := Create(filepath.Join(base, "layer"), Meta{ID: "t1", Workdir: wd, Tmpfs: true, MaxDisk: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(l.FSDir(), 0o700); err != nil { // the tmpfs's mount point; a plain directory here
		t.Fatal(err)
	}
	if err := l.Populate(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(l.Upper(), "null"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := l.KeepOnDisk(nil); err != nil {
		t.Fatalf("KeepOnDisk: %v", err)
	}
	if st, ok := lstat(filepath.Join(l.Upper(), "null")); !ok || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("the kept layer lost its device node")
	}
}
