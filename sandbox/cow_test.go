package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/spec"
)

func cowPolicy(t *testing.T, workdir string, onExit string) spec.Policy {
	storage := filepath.Join(t.TempDir(), "layers")
	p := spec.Policy{Workdir: &workdir, FSStorage: &storage}
	if onExit != "" {
		p.OnExit = &onExit
	}
	return p
}

func cowWorkdir(t *testing.T) string {
	wd := filepath.Join(t.TempDir(), "wd")
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"keep": "k\n", "gone": "g\n", "edit": "e\n"} {
		if err := os.WriteFile(filepath.Join(wd, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return wd
}

// TestDryRunAPI: Sandbox.DryRun returns the command's result and the seed's A/M/D list, with
// paths relative to the workdir, and the workdir stays as it was.
func TestDryRunAPI(t *testing.T) {
	requireKernel(t)
	requireRoot(t)
	wd := cowWorkdir(t)
	res, err := newSandbox(t, cowPolicy(t, wd, "")).DryRun(ctxFor(t, 30*time.Second),
		[]string{"sh", "-c", "echo out; echo more >> edit; rm gone; mkdir d; echo n > d/new"})
	if err != nil {
		t.Fatalf("DryRun: %v", err)
	}
	want := []Change{{Kind: "A", Path: "d"}, {Kind: "A", Path: "d/new"}, {Kind: "M", Path: "edit"}, {Kind: "D", Path: "gone"}}
	if !slices.Equal(res.Changes, want) || string(res.Stdout) != "out\n" || res.ExitCode != 0 {
		t.Errorf("got %+v (stdout %q, code %d), want changes %+v", res.Changes, res.Stdout, res.ExitCode, want)
	}
	for name, body := range map[string]string{"keep": "k\n", "gone": "g\n", "edit": "e\n"} {
		if b, err := os.ReadFile(filepath.Join(wd, name)); err != nil || string(b) != body {
			t.Errorf("%s after a dry run: %q, %v; want %q", name, b, err, body)
		}
	}
	if _, err := os.Stat(filepath.Join(wd, "d")); err == nil {
		t.Errorf("a dry run created d in the workdir")
	}
}

// TestBranchConflictAPI: two kept branches of one workdir change the same file; the first
// commit lands, the second fails with a *BranchConflictError and nothing of it lands.
func TestBranchConflictAPI(t *testing.T) {
	requireKernel(t)
	requireRoot(t)
	wd := cowWorkdir(t)
	ctx := ctxFor(t, 60*time.Second)
	// Both branches commit at exit: the second one started before the first committed.
	p := cowPolicy(t, wd, "")
	a := newSandbox(t, p)
	gate := filepath.Join(t.TempDir(), "gate")
	p.FSReadable, p.FSWritable = []string{"/"}, []string{filepath.Dir(gate)}
	b := newSandbox(t, p)
	done := make(chan error, 1)
	go func() {
		_, err := b.Run(ctx, []string{"sh", "-c", "echo b > edit; echo b > b-only; until [ -e " + gate + " ]; do sleep 0.05; done"})
		done <- err
	}()
	// b's branch exists (its write is in its layer) before a commits.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(*p.FSStorage, "*", "upper", "b-only"))
		if len(m) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second branch never wrote its layer")
		}
	}
	if _, err := a.Run(ctx, []string{"sh", "-c", "echo a > edit"}); err != nil {
		t.Fatalf("first branch: %v", err)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := <-done
	var bc *BranchConflictError
	if !errors.As(err, &bc) || !errors.Is(err, ErrBranchConflict) || !IsBranchConflict(err) {
		t.Fatalf("second branch: got %v (%T), want a *BranchConflictError", err, err)
	}
	if got, _ := os.ReadFile(filepath.Join(wd, "edit")); string(got) != "a\n" {
		t.Errorf("edit = %q, want the first branch's", got)
	}
	if _, err := os.Stat(filepath.Join(wd, "b-only")); err == nil {
		t.Errorf("part of the conflicting branch landed (b-only)")
	}
	if k := b.KeptLayers(); len(k) != 1 || filepath.Dir(k[0]) != *p.FSStorage {
		t.Errorf("KeptLayers after a refused commit: %v", k)
	}
}

// TestRelativeFSStorage: fs_storage given relative is the caller's directory's (WithDir), as a
// relative workdir is, not the workdir's (where it could never be: it must be outside it).
func TestRelativeFSStorage(t *testing.T) {
	requireKernel(t)
	requireRoot(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "wd"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := spec.Policy{Workdir: spec.Ptr("wd"), FSStorage: spec.Ptr("layers"), OnExit: spec.Ptr(spec.BranchKeep)}
	sb := New(p, WithStateRoot(filepath.Join(t.TempDir(), "state")), WithDir(dir))
	if res, err := sb.Run(ctxFor(t, 30*time.Second), []string{"sh", "-c", "echo x > wd/new"}); err != nil || !res.Success() {
		t.Fatalf("Run: %+v, %v", res, err)
	}
	if k := sb.KeptLayers(); len(k) != 1 || filepath.Dir(k[0]) != filepath.Join(dir, "layers") {
		t.Errorf("KeptLayers %v, want one in %s", k, filepath.Join(dir, "layers"))
	}
}

func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: the copy-on-write tests of this package run as root (integration/ covers a user)")
	}
}

// TestDryRunWritesNothingOutside: a dry run discards all writes, so a path the policy makes
// writable beside the workdir is read-only for it: the write fails (EACCES) and the host
// directory stays empty, while the workdir's own write is listed; the Logger hears of the
// read-only path, and of on_exit, which decides nothing there (the KEEP set is not kept).
func TestDryRunWritesNothingOutside(t *testing.T) {
	requireKernel(t)
	requireRoot(t)
	wd := cowWorkdir(t)
	beside := t.TempDir()
	p := cowPolicy(t, wd, "")
	p.FSReadable = []string{"/"}
	p.FSWritable = []string{beside}
	p.OnExit = spec.Ptr(spec.BranchKeep)
	rec := &recorder{}
	res, err := New(p, WithStateRoot(filepath.Join(t.TempDir(), "state")), WithLogger(rec)).DryRun(ctxFor(t, 30*time.Second),
		[]string{"sh", "-c", "echo a > new; echo b > " + beside + "/x || echo refused"})
	if err != nil {
		t.Fatalf("DryRun: %v", err)
	}
	if want := []Change{{Kind: "A", Path: "new"}}; !slices.Equal(res.Changes, want) || string(res.Stdout) != "refused\n" {
		t.Errorf("got %+v (stdout %q), want %+v and the write beside refused", res.Changes, res.Stdout, want)
	}
	if ents, _ := os.ReadDir(beside); len(ents) != 0 {
		t.Errorf("a dry run wrote %s for real: %v", beside, ents)
	}
	// The Logger is told, as the sandbox command's user is.
	if got := strings.Join(rec.lines, "\n"); !strings.Contains(got, beside+" (fs_writable) is read-only in a dry run") ||
		!strings.Contains(got, "on_exit and on_error decide nothing in a dry run") {
		t.Errorf("WithLogger got %q, want the read-only path named and on_exit's uselessness", got)
	}
	if ents, _ := os.ReadDir(*p.FSStorage); len(ents) != 0 {
		t.Errorf("a dry run with on_exit KEEP kept a layer: %v", ents)
	}
}

// TestEscapeCOWStorageGoAPI: through the Go API, a sandbox allowed to write fs_storage
// rewrites its layer's meta.json (another directory as the workdir, COMMIT) and writes its
// upper directly; the layer store is read-only in its view, and nothing lands in the other
// directory (integration TestEscapeCOWStorage has the CLI, a user and a container).
func TestEscapeCOWStorageGoAPI(t *testing.T) {
	requireKernel(t)
	requireRoot(t)
	base := t.TempDir()
	victim := filepath.Join(base, "victim")
	s := filepath.Join(base, "s")
	wd, storage := filepath.Join(s, "wd"), filepath.Join(s, "layers")
	for _, d := range []string{victim, wd} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(victim, &st); err != nil {
		t.Fatal(err)
	}
	abort := "ABORT"
	p := spec.Policy{Workdir: &wd, FSStorage: &storage, OnExit: &abort, FSReadable: []string{"/"}, FSWritable: []string{s}}
	script := fmt.Sprintf(`cd %[1]s && echo pwned > pwned; for m in %[2]s/*/meta.json; do
sed -i 's#"workdir":"[^"]*"#"workdir":"%[3]s"#; s#"workdirDev":[0-9]*#"workdirDev":%[4]d#; s#"workdirIno":[0-9]*#"workdirIno":%[5]d#; s#"onExit":"ABORT"#"onExit":"COMMIT"#' "$m" && echo rewritten
echo x > "$(dirname "$m")/upper/planted" && echo planted; done; true`, wd, storage, victim, st.Dev, st.Ino)
	res, err := newSandbox(t, p).Run(ctxFor(t, 30*time.Second), []string{"sh", "-c", script})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ents, _ := os.ReadDir(victim); len(ents) != 0 || strings.Contains(string(res.Stdout), "rewritten") || strings.Contains(string(res.Stdout), "planted") {
		t.Errorf("ESCAPED: the sandbox wrote the layer store (%q) and the layer landed in %s: %v", res.Stdout, victim, ents)
	}
}
