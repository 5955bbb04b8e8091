package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/children"
	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// ---- the copy-on-write workdir (cowfs, docs/sandbox.md) ----

// cowTree makes a workdir with a file to keep, one to edit, one to delete, one to rename and a
// subdirectory, and a layer store beside it (never inside).
func cowTree(t *testing.T) (wd, storage string) {
	t.Helper()
	base := t.TempDir()
	wd, storage = filepath.Join(base, "wd"), filepath.Join(base, "layers")
	files := map[string]string{"keep": "keep\n", "edit": "edit\n", "gone": "gone\n", "old-name": "renamed\n", "sub/inner": "inner\n", "sub/deep/x": "x\n"}
	for name, body := range files {
		p := filepath.Join(wd, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return wd, storage
}

// snapshot is every entry under dir: path, type and mode, size, mtime, inode and content hash,
// so that two snapshots are equal only for a byte-identical, untouched tree.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		sum := ""
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			sum = hex.EncodeToString(h[:8])
		}
		rel, _ := filepath.Rel(dir, p)
		lines = append(lines, fmt.Sprintf("%s %o %d %d %d %s", rel, st.Mode, st.Size, st.Mtim.Nano(), st.Ino, sum))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func readOr(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// cowScript does one of each kind of change: modify, delete, create, rename across
// directories, hard link, mkdir.
const cowScript = `echo more >> edit && rm gone && echo new > new && mv old-name sub/new-name && ln new new-link && mkdir -p made/inner && echo m > made/inner/f && rm -r sub/deep`

func cowFlags(wd, storage string, extra ...string) []string {
	return append([]string{"--workdir", wd, "--fs-storage", storage}, extra...)
}

func layers(t *testing.T, storage string) []string {
	ents, _ := os.ReadDir(storage)
	var out []string
	for _, e := range ents {
		out = append(out, filepath.Join(storage, e.Name()))
	}
	return out
}

// checkCommitted: cowScript's changes are all in wd, the hard link is one inode.
func checkCommitted(t *testing.T, wd string) {
	t.Helper()
	want := map[string]string{"keep": "keep\n", "edit": "edit\nmore\n", "new": "new\n", "new-link": "new\n", "sub/new-name": "renamed\n", "sub/inner": "inner\n", "made/inner/f": "m\n"}
	for name, body := range want {
		if got := readOr(t, filepath.Join(wd, name)); got != body {
			t.Errorf("%s = %q, want %q", name, got, body)
		}
	}
	for _, name := range []string{"gone", "old-name", "sub/deep"} {
		if _, err := os.Lstat(filepath.Join(wd, name)); err == nil {
			t.Errorf("%s still exists after the commit", name)
		}
	}
	var a, b unix.Stat_t
	if unix.Stat(filepath.Join(wd, "new"), &a) != nil || unix.Stat(filepath.Join(wd, "new-link"), &b) != nil || a.Ino != b.Ino {
		t.Errorf("new and new-link are not one inode after the commit")
	}
	if ents, _ := filepath.Glob(filepath.Join(wd, ".sandlock-commit-*")); len(ents) > 0 {
		t.Errorf("commit staging left behind: %v", ents)
	}
}

// TestCOWCommit: the command sees its own changes as on a plain directory while the host's
// workdir does not change; at a successful exit (on_exit COMMIT, the default) they all land.
func TestCOWCommit(t *testing.T) {
	requireSetup(t)
	wd, storage := cowTree(t)
	before := snapshot(t, wd)
	gate := filepath.Join(t.TempDir(), "gate")
	probe := filepath.Join(t.TempDir(), "probe")
	// While the command waits for the gate, the host still sees the old tree.
	wait := rtBackground(t, sandboxArgs(cowFlags(wd, storage, "-r", "/", "-w", filepath.Dir(gate), "-w", filepath.Dir(probe)),
		"sh", "-c", cowScript+" && cat edit sub/new-name && ls > "+probe+".tmp && mv "+probe+".tmp "+probe+" && until [ -e "+gate+" ]; do sleep 0.05; done")...)
	if !waitFile(probe) {
		t.Fatalf("the command never wrote %s", probe)
	}
	if got := snapshot(t, wd); got != before {
		t.Errorf("the host's workdir changed while the command ran:\n%s\nwant\n%s", got, before)
	}
	if got := readOr(t, probe); got != "edit\nkeep\nmade\nnew\nnew-link\nsub\n" {
		t.Errorf("the command's own listing = %q", got)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := wait()
	if r.code != 0 || r.stdout != "edit\nmore\nrenamed\n" {
		t.Fatalf("sandbox: code %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	checkCommitted(t, wd)
	if l := layers(t, storage); len(l) != 0 {
		t.Errorf("layers left after the commit: %v", l)
	}
	if m := mountsUnder(filepath.Dir(wd)); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
}

// TestCOWAbortAndKeep: ABORT (on_exit, or on_error's default on a failing command) leaves the
// workdir byte-identical; KEEP leaves the layer for `cow diff|commit|abort`.
func TestCOWAbortAndKeep(t *testing.T) {
	requireSetup(t)
	t.Run("on_exit ABORT", func(t *testing.T) {
		wd, storage := cowTree(t)
		before := snapshot(t, wd)
		r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-exit", "ABORT"), "sh", "-c", cowScript)...)
		if r.code != 0 {
			t.Fatalf("code %d: %s", r.code, r.stderr)
		}
		if got := snapshot(t, wd); got != before {
			t.Errorf("ABORT changed the workdir:\n%s\nwant\n%s", got, before)
		}
		if l := layers(t, storage); len(l) != 0 {
			t.Errorf("ABORT left layers: %v", l)
		}
	})
	t.Run("on_error default ABORT", func(t *testing.T) {
		wd, storage := cowTree(t)
		before := snapshot(t, wd)
		r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "sh", "-c", cowScript+"; exit 3")...)
		if r.code != 3 {
			t.Fatalf("code %d, want the command's 3: %s", r.code, r.stderr)
		}
		if got := snapshot(t, wd); got != before {
			t.Errorf("a failed command's changes landed:\n%s\nwant\n%s", got, before)
		}
	})
	t.Run("on_error COMMIT", func(t *testing.T) {
		wd, storage := cowTree(t)
		r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-error", "COMMIT"), "sh", "-c", cowScript+"; exit 4")...)
		if r.code != 4 {
			t.Fatalf("code %d: %s", r.code, r.stderr)
		}
		checkCommitted(t, wd)
	})
	t.Run("KEEP then cow commit", func(t *testing.T) {
		wd, storage := cowTree(t)
		before := snapshot(t, wd)
		r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-exit", "KEEP"), "sh", "-c", cowScript)...)
		if r.code != 0 {
			t.Fatalf("code %d: %s", r.code, r.stderr)
		}
		if got := snapshot(t, wd); got != before {
			t.Errorf("KEEP changed the workdir")
		}
		l := layers(t, storage)
		if len(l) != 1 {
			t.Fatalf("KEEP: layers %v, want one", l)
		}
		if !strings.Contains(r.stderr, "kept the copy-on-write layer "+l[0]) {
			t.Errorf("KEEP does not say where the layer is: %q", r.stderr)
		}
		out, stderr, code := rt(t, "cow", "diff", l[0])
		want := "M edit\nD gone\nA made\nA made/inner\nA made/inner/f\nA new\nA new-link\nD old-name\nD sub/deep\nA sub/new-name\n"
		if code != 0 || out != want {
			t.Errorf("cow diff: code %d, %q (%s), want %q", code, out, stderr, want)
		}
		if _, stderr, code := rt(t, "cow", "commit", l[0]); code != 0 {
			t.Fatalf("cow commit: %d %s", code, stderr)
		}
		checkCommitted(t, wd)
		if _, err := os.Stat(l[0]); err == nil {
			t.Errorf("cow commit left the layer")
		}
	})
	t.Run("KEEP then cow abort", func(t *testing.T) {
		wd, storage := cowTree(t)
		before := snapshot(t, wd)
		r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-error", "KEEP"), "sh", "-c", cowScript+"; exit 1")...)
		if r.code != 1 || len(layers(t, storage)) != 1 {
			t.Fatalf("code %d, layers %v: %s", r.code, layers(t, storage), r.stderr)
		}
		if _, stderr, code := rt(t, "cow", "abort", layers(t, storage)[0]); code != 0 {
			t.Fatalf("cow abort: %d %s", code, stderr)
		}
		if got := snapshot(t, wd); got != before || len(layers(t, storage)) != 0 {
			t.Errorf("cow abort: workdir changed or layer left (%v)", layers(t, storage))
		}
	})
}

// TestCOWDryRun: --dry-run lists A/M/D relative to the workdir (text, and json with the
// command's output) and leaves the workdir untouched.
func TestCOWDryRun(t *testing.T) {
	requireSetup(t)
	wd, storage := cowTree(t)
	before := snapshot(t, wd)
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--dry-run"), "sh", "-c", cowScript)...)
	want := "M edit\nD gone\nA made\nA made/inner\nA made/inner/f\nA new\nA new-link\nD old-name\nD sub/deep\nA sub/new-name\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("dry run: code %d, stdout %q (stderr %s), want %q", r.code, r.stdout, r.stderr, want)
	}
	r = rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--dry-run", "--format", "json"), "sh", "-c", "echo hello; echo x > added; rm keep; exit 2")...)
	var got struct {
		ExitCode int    `json:"exit_code"`
		Stdout   string `json:"stdout"`
		Changes  []struct{ Kind, Path string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--format json: %v: %q", err, r.stdout)
	}
	if r.code != 2 || got.ExitCode != 2 || got.Stdout != "hello\n" || fmt.Sprint(got.Changes) != "[{A added} {D keep}]" {
		t.Errorf("json dry run: code %d, %+v", r.code, got)
	}
	if snapshot(t, wd) != before || len(layers(t, storage)) != 0 {
		t.Errorf("a dry run changed the workdir or left a layer (%v)", layers(t, storage))
	}
	// A command that never ran still gets its JSON object, with the error and shell's code.
	r = rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--dry-run", "--format", "json"), "no-such-command-here")...)
	var never struct {
		ExitCode int    `json:"exit_code"`
		Success  bool   `json:"success"`
		Error    string `json:"error"`
		Changes  []any  `json:"changes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &never); err != nil || r.code != 127 || never.ExitCode != 127 || never.Success ||
		!strings.Contains(never.Error, "no-such-command-here") || never.Changes == nil {
		t.Errorf("json dry run of a missing command: code %d, stdout %q (%v)", r.code, r.stdout, err)
	}
	// on_exit and on_error have nothing to decide: the layer is discarded, and the user told.
	r = rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--dry-run", "--on-exit", "keep"), "sh", "-c", "echo x > added")...)
	if r.code != 0 || r.stdout != "A added\n" || !strings.Contains(r.stderr, "warning: on_exit (--on-exit) does nothing in a dry run") ||
		snapshot(t, wd) != before || len(layers(t, storage)) != 0 {
		t.Errorf("--dry-run --on-exit keep: code %d, %q, %q; layers %v", r.code, r.stdout, r.stderr, layers(t, storage))
	}
	// Without --workdir: the command's directory.
	r = rtWith(t, func(c *exec.Cmd) { c.Dir = wd }, sandboxArgs([]string{"--dry-run", "--fs-storage", storage}, "sh", "-c", "echo x > here")...)
	if r.code != 0 || r.stdout != "A here\n" {
		t.Errorf("--dry-run without a workdir: code %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	// A dry run writes nothing for real: a writable path beside the workdir is read-only.
	beside := t.TempDir()
	r = rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--dry-run", "-r", "/", "-w", beside), "sh", "-c", "echo x > "+beside+"/x || echo refused")...)
	if ents, _ := os.ReadDir(beside); r.code != 0 || r.stdout != "refused\n" || len(ents) != 0 || !strings.Contains(r.stderr, "read-only in a dry run") {
		t.Errorf("--dry-run with -w beside the workdir: code %d, %q, %s; %s holds %v", r.code, r.stdout, r.stderr, beside, ents)
	}
	// Nor through a symlink in the workdir to a directory beside it.
	link := filepath.Join(wd, "out")
	if err := os.Symlink(beside, link); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(link)
	r = rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--dry-run", "-r", "/", "-w", link), "sh", "-c", "echo x > "+link+"/x || echo refused")...)
	if ents, _ := os.ReadDir(beside); r.code != 0 || r.stdout != "refused\n" || len(ents) != 0 || !strings.Contains(r.stderr, "read-only in a dry run") {
		t.Errorf("--dry-run with -w a symlink in the workdir to beside it: code %d, %q, %s; %s holds %v", r.code, r.stdout, r.stderr, beside, ents)
	}
}

// TestCOWKeysWithoutWorkdir: max_disk and on_exit without --workdir configure no layer: the
// command runs (its writes to fs_writable are not bounded by max_disk) and the sandbox command
// says so on stderr, naming each key; a dry run, whose workdir is the command's directory,
// does not.
func TestCOWKeysWithoutWorkdir(t *testing.T) {
	requireSetup(t)
	dir := t.TempDir()
	r := rtWith(t, nil, sandboxArgs([]string{"-r", "/", "-w", dir, "--max-disk", "64k", "--on-exit", "keep"},
		"sh", "-c", "head -c 200000 /dev/zero > "+filepath.Join(dir, "big")+" && echo wrote")...)
	if r.code != 0 || r.stdout != "wrote\n" {
		t.Fatalf("sandbox: code %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	for _, k := range []string{"max_disk (--max-disk)", "on_exit (--on-exit)"} {
		if !strings.Contains(r.stderr, "warning: "+k+" does nothing without --workdir") {
			t.Errorf("stderr %q does not warn about %s", r.stderr, k)
		}
	}
	r = rtWith(t, func(c *exec.Cmd) { c.Dir = dir }, sandboxArgs([]string{"--dry-run", "--max-disk", "1M", "--fs-storage", t.TempDir()}, "sh", "-c", "echo x > here")...)
	if r.code != 0 || r.stdout != "A here\n" || strings.Contains(r.stderr, "warning") {
		t.Errorf("--dry-run --max-disk: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestCOWMaxDisk: past max_disk every write path fails (dd: ENOSPC, fallocate: ENOSPC, a
// store through a shared mapping: SIGBUS), while the same writes under no limit succeed.
func TestCOWMaxDisk(t *testing.T) {
	requireSetup(t)
	mmapBin := buildMmapWriter(t)
	for _, c := range []struct {
		name, script string
		wantErr      string
		limitedCode  int
	}{
		{"dd", "dd if=/dev/zero of=big bs=64k count=64", "No space left on device", 1},
		{"fallocate", "fallocate -l 4M big", "No space left on device", 1},
		{"mmap", mmapBin + " big 4194304", "", 128 + int(syscall.SIGBUS)},
		{"many files", "for i in $(seq 1 300); do head -c 8192 /dev/zero > f$i || exit 1; done", "No space left on device", 1},
		// truncate up makes a sparse file (no blocks); filling it is what fails
		{"truncate up", "truncate -s 4M t && dd if=/dev/zero of=t bs=64k count=64 conv=notrunc", "No space left on device", 1},
		// cp copies with copy_file_range; the 2 MiB source is in the workdir (lower)
		{"copy_file_range", "cp src2m copy", "No space left on device", 1},
		// a write to a lower file past the limit fails at its copy-up
		{"copy-up", "echo more >> src2m", "No space left on device", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			tree := func() (string, string) {
				wd, storage := cowTree(t)
				if err := os.WriteFile(filepath.Join(wd, "src2m"), make([]byte, 2<<20), 0o644); err != nil {
					t.Fatal(err)
				}
				return wd, storage
			}
			wd, storage := tree()
			r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-error", "COMMIT"), "sh", "-c", c.script)...)
			if r.code != 0 {
				t.Fatalf("without max_disk: code %d: %s", r.code, r.stderr)
			}
			wd, storage = tree()
			before := snapshot(t, wd)
			r = rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--max-disk", "1M"), "sh", "-c", c.script)...)
			if r.code != c.limitedCode || !strings.Contains(r.stderr, c.wantErr) {
				t.Errorf("max_disk 1M: code %d (want %d), stderr %q (want %q)", r.code, c.limitedCode, r.stderr, c.wantErr)
			}
			if snapshot(t, wd) != before {
				t.Errorf("the failed run changed the workdir")
			}
			if m := mountsUnder(storage); len(m) != 0 {
				t.Errorf("max_disk tmpfs left mounted: %v", m)
			}
		})
	}
}

// buildMmapWriter compiles a program that extends a file with ftruncate and fills it through
// a shared mapping (the write path that write(2) checks never see).
func buildMmapWriter(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		testreq.Missing(t, "no C compiler: cannot build the mmap writer")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "mmapw.c")
	prog := `#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int c, char **v) {
	size_t n = strtoul(v[2], 0, 10);
	int fd = open(v[1], O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, n)) return 2;
	char *p = mmap(0, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) return 3;
	for (size_t i = 0; i < n; i += 4096) p[i] = 1;
	return msync(p, n, MS_SYNC) ? 4 : 0;
}
`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "mmapw")
	if out, err := exec.Command(cc, "-O1", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v: %s", err, out)
	}
	return bin
}

// TestCOWBranchConflict: two kept branches of one workdir change the same file; the first
// commits, the second's commit fails with exit 75 and a clear error, and nothing of it lands
// (not even its other, unconflicting, new file); its layer stays.
func TestCOWBranchConflict(t *testing.T) {
	requireSetup(t)
	wd, storage := cowTree(t)
	for _, who := range []string{"one", "two"} {
		r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-exit", "KEEP"), "sh", "-c", "echo "+who+" > edit; echo x > only-"+who)...)
		if r.code != 0 {
			t.Fatalf("%s: %d %s", who, r.code, r.stderr)
		}
	}
	ls := layers(t, storage)
	if len(ls) != 2 {
		t.Fatalf("layers %v", ls)
	}
	if _, stderr, code := rt(t, "cow", "commit", ls[0]); code != 0 {
		t.Fatalf("first commit: %d %s", code, stderr)
	}
	_, stderr, code := rt(t, "cow", "commit", ls[1])
	if code != 75 || !strings.Contains(stderr, "branch conflict") || !strings.Contains(stderr, "edit") {
		t.Errorf("second commit: code %d, %q; want 75 and a branch conflict naming edit", code, stderr)
	}
	first, second := readOr(t, filepath.Join(wd, "edit")), ""
	for _, who := range []string{"one", "two"} {
		if _, err := os.Stat(filepath.Join(wd, "only-"+who)); err == nil {
			second += who
		}
	}
	if second != strings.TrimSpace(first) {
		t.Errorf("edit = %q but the new files of %q landed: the conflicting branch leaked", first, second)
	}
	if _, err := os.Stat(ls[1]); err != nil {
		t.Errorf("the refused layer is gone: %v", err)
	}
	// Having looked, the user lands it anyway: its version of edit wins, all of it lands.
	theirs := readOr(t, filepath.Join(ls[1], "upper", "edit"))
	if _, stderr, code := rt(t, "cow", "commit", "--force", ls[1]); code != 0 {
		t.Fatalf("cow commit --force: %d %s", code, stderr)
	}
	if got := readOr(t, filepath.Join(wd, "edit")); got != theirs || got == first {
		t.Errorf("cow commit --force: edit %q, want the forced layer's %q", got, theirs)
	}
	for _, who := range []string{"one", "two"} {
		if _, err := os.Stat(filepath.Join(wd, "only-"+who)); err != nil {
			t.Errorf("after cow commit --force, only-%s is missing: %v", who, err)
		}
	}
	if _, err := os.Stat(ls[1]); err == nil {
		t.Errorf("the forced layer is still there")
	}
}

// TestCOWTools: git and make inside the COW workdir give the same result as outside.
func TestCOWTools(t *testing.T) {
	requireSetup(t)
	for _, tool := range []string{"git", "make", "cc"} {
		if _, err := exec.LookPath(tool); err != nil {
			testreq.Missing(t, tool+" not installed")
		}
	}
	script := `set -e
export HOME=$PWD GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000" TMPDIR=$PWD
git init -q -b main . && git config user.email a@b && git config user.name a
printf 'int main(void){return 7;}\n' > m.c && printf 'm: m.c\n\tcc -o m m.c\n' > Makefile
make -s && git add m.c Makefile && git commit -qm one && rm Makefile && git status --porcelain
./m || echo rc=$?
git rev-parse HEAD`
	wd := sameInCOW(t, script)
	out, err := exec.Command("git", "-C", wd, "log", "--format=%H %s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), " one") {
		t.Errorf("after the commit, git log in the workdir: %v %s", err, out)
	}
}

// TestCOWCrash: the runtime is SIGKILLed mid-run; delete --force then honours on_error (the
// run did not end well): KEEP keeps the layer, ABORT drops it, and the workdir is untouched.
func TestCOWCrash(t *testing.T) {
	requireSetup(t)
	for _, action := range []string{"KEEP", "ABORT"} {
		t.Run(action, func(t *testing.T) {
			wd, storage := cowTree(t)
			before := snapshot(t, wd)
			cmd, files := rtCommand(t, sandboxArgs(cowFlags(wd, storage, "--on-error", action), "sh", "-c", "echo crash > edit; sleep 60")...)
			if err := children.Start(cmd); err != nil {
				t.Fatal(err)
			}
			var upperEdit string
			deadline := time.Now().Add(waitTimeout)
			for time.Now().Before(deadline) && upperEdit == "" {
				for _, l := range layers(t, storage) {
					if readOr(t, filepath.Join(l, "upper", "edit")) == "crash\n" {
						upperEdit = l
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			_ = cmd.Process.Kill()
			finish(t, cmd, files, nil, cmdTimeout)
			if upperEdit == "" {
				t.Fatalf("the command's write never reached its layer")
			}
			out, _, _ := rt(t, "list", "-q")
			ids := strings.Fields(out)
			if len(ids) != 1 {
				t.Fatalf("list after the crash: %q", out)
			}
			if _, stderr, code := rt(t, "delete", "--force", ids[0]); code != 0 {
				t.Fatalf("delete --force: %d %s", code, stderr)
			}
			if snapshot(t, wd) != before {
				t.Errorf("the crashed run's changes landed")
			}
			_, err := os.Stat(upperEdit)
			if kept := err == nil; kept != (action == "KEEP") {
				t.Errorf("%s: layer kept = %v", action, kept)
			}
		})
	}
}

// TestCOWInitErrorNamed: init's failure before it enters the workdir's view is reported as
// itself (it said "init: read sp0: connection reset by peer": init exited with the view's
// message unread), and the container leaves no layer.
func TestCOWInitErrorNamed(t *testing.T) {
	requireSetup(t)
	storage := filepath.Join(t.TempDir(), "layers")
	bundle := newBundleWith(t, func(s *specs.Spec) {
		s.Annotations = map[string]string{"io.sandlock.workdir": "/data", "io.sandlock.fs_storage": storage}
		adj := 5000 // refused by the kernel, in init, before the view
		s.Process.OOMScoreAdj = &adj
	}, "true")
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := rtWith(t, nil, "run", "--bundle", bundle, newID())
	if r.code == 0 || !strings.Contains(r.stderr, "oom_score_adj") {
		t.Errorf("run: code %d, stderr %q; want init's refusal of oomScoreAdj", r.code, r.stderr)
	}
	if len(layers(t, storage)) != 0 {
		t.Errorf("layer left: %v", layers(t, storage))
	}
}

// TestCOWContainer: io.sandlock.workdir names a directory inside a container; the container's
// writes there land at exit (COMMIT) or not at all (on_error ABORT), and nothing stays mounted.
// Under root.readonly (the default of `spec` and `runc spec`) the workdir is writable all the
// same, the rest of the root is not, and the commit lands in the host directory.
func TestCOWContainer(t *testing.T) {
	requireSetup(t)
	const commit = "echo new > /data/new && rm /data/old && echo more >> /data/kept && ln /data/new /data/link"
	for _, c := range []struct {
		name, script string
		code         int
		committed    bool
		readonly     bool
	}{
		{"commit", commit, 0, true, false},
		{"abort on error", "echo new > /data/new && rm /data/old; exit 5", 5, false, false},
		{"commit under root.readonly", "if echo x > /outside; then exit 9; fi; " + commit, 0, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			storage := filepath.Join(t.TempDir(), "layers")
			bundle := newBundleWith(t, func(s *specs.Spec) {
				s.Annotations = map[string]string{"io.sandlock.workdir": "/data", "io.sandlock.fs_storage": storage}
				s.Root.Readonly = c.readonly
			}, "sh", "-c", c.script)
			data := filepath.Join(bundle, "rootfs", "data")
			for name, body := range map[string]string{"old": "old\n", "kept": "kept\n"} {
				if err := os.MkdirAll(data, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(data, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, data)
			id := newID()
			r := rtWith(t, nil, "run", "--bundle", bundle, id)
			if r.code != c.code {
				t.Fatalf("run: code %d, want %d: %s", r.code, c.code, r.stderr)
			}
			if !c.committed {
				if snapshot(t, data) != before {
					t.Errorf("an aborted container's changes landed")
				}
				return
			}
			if readOr(t, filepath.Join(data, "new")) != "new\n" || readOr(t, filepath.Join(data, "kept")) != "kept\nmore\n" {
				t.Errorf("commit: new %q kept %q", readOr(t, filepath.Join(data, "new")), readOr(t, filepath.Join(data, "kept")))
			}
			if _, err := os.Stat(filepath.Join(data, "old")); err == nil {
				t.Errorf("old survived the commit")
			}
			if len(layers(t, storage)) != 0 {
				t.Errorf("layer left: %v", layers(t, storage))
			}
		})
	}
}

// TestCOWLayerByID: a container's kept layer is found by `cow list` and named by its id; a
// layer whose container still has state is listed as in use and refused to commit and abort
// (its delete decides it).
func TestCOWLayerByID(t *testing.T) {
	requireSetup(t)
	storage := filepath.Join(t.TempDir(), "layers")
	bundle := newBundleWith(t, func(s *specs.Spec) {
		s.Annotations = map[string]string{"io.sandlock.workdir": "/data", "io.sandlock.fs_storage": storage, "io.sandlock.on_exit": "KEEP"}
	}, "sh", "-c", "echo new > /data/new")
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	kept, live := newID(), newID()
	if r := rtWith(t, nil, "run", "--bundle", bundle, kept); r.code != 0 || !strings.Contains(r.stderr, "kept the copy-on-write layer "+filepath.Join(storage, kept)+" (") {
		t.Fatalf("run: %d %s; want 0 and where the layer is kept", r.code, r.stderr)
	}
	if _, stderr, code := rt(t, "create", "--bundle", bundle, live); code != 0 {
		t.Fatalf("create: %d %s", code, stderr)
	}
	t.Cleanup(func() { rt(t, "delete", "--force", live) })
	out, stderr, code := rt(t, "cow", "list", "--fs-storage", storage)
	if code != 0 || !regexp.MustCompile(`(?m)^`+kept+` +\S+ +kept +`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^`+live+` +\S+ +in use \(`).MatchString(out) {
		t.Errorf("cow list: %d %q %s; want %s kept and %s in use", code, out, stderr, kept, live)
	}
	if out, stderr, code := rt(t, "cow", "diff", "--fs-storage", storage, kept); code != 0 || out != "A new\n" {
		t.Errorf("cow diff by id: %d %q %s", code, out, stderr)
	}
	for _, verb := range []string{"abort", "commit"} {
		if _, stderr, code := rt(t, "cow", verb, "--fs-storage", storage, live); code == 0 || !strings.Contains(stderr, "still has state") {
			t.Errorf("cow %s of a layer whose container exists: %d %s; want a refusal", verb, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(storage, live, "upper")); err != nil {
		t.Errorf("the live layer was touched: %v", err)
	}
	// The id again, while its kept layer waits: refused, naming the layer, which stays as it was.
	if _, stderr, code := rt(t, "delete", "--force", live); code != 0 {
		t.Fatalf("delete: %d %s", code, stderr)
	}
	r := rtWith(t, nil, "run", "--bundle", bundle, kept)
	if r.code != 1 || !strings.Contains(r.stderr, filepath.Join(storage, kept)+" holds the layer an earlier "+kept+" kept") {
		t.Errorf("run of the kept layer's id again: %d %s; want a refusal naming the layer", r.code, r.stderr)
	}
	if out, _, _ := rt(t, "list", "-q"); out != "" {
		t.Errorf("state left by the refused run: %q", out)
	}
	if _, stderr, code := rt(t, "cow", "commit", "--fs-storage", storage, kept); code != 0 || readOr(t, filepath.Join(bundle, "rootfs", "data", "new")) != "new\n" {
		t.Errorf("cow commit by id: %d %s", code, stderr)
	}
}

// TestCOWVolumeKeptLayer: the workdir of a container is a bind mount (a volume); its kept
// layer records the host directory, not the mount point in the rootfs, which is empty once the
// container is deleted: cow diff and cow commit work on it afterwards.
func TestCOWVolumeKeptLayer(t *testing.T) {
	requireSetup(t)
	storage := filepath.Join(t.TempDir(), "layers")
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "old"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle := newBundleWith(t, func(s *specs.Spec) {
		s.Annotations = map[string]string{"io.sandlock.workdir": "/data", "io.sandlock.fs_storage": storage, "io.sandlock.on_exit": "KEEP"}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: vol, Options: []string{"rbind", "rw"}})
	}, "sh", "-c", "echo new > /data/old")
	id := newID()
	r := rtWith(t, nil, "run", "--bundle", bundle, id)
	if r.code != 0 || !strings.Contains(r.stderr, "kept the copy-on-write layer "+filepath.Join(storage, id)) {
		t.Fatalf("run: %d %s; want 0 and where the layer is kept", r.code, r.stderr)
	}
	out, stderr, code := rt(t, "cow", "list", "--fs-storage", storage, "--format", "json")
	var ls []struct{ ID, Workdir string }
	if err := json.Unmarshal([]byte(out), &ls); code != 0 || err != nil || len(ls) != 1 || ls[0].ID != id || ls[0].Workdir != vol {
		t.Fatalf("cow list: %d %q %s; want %s over %s", code, out, stderr, id, vol)
	}
	if out, stderr, code := rt(t, "cow", "diff", "--fs-storage", storage, id); code != 0 || out != "M old\n" {
		t.Errorf("cow diff after delete: %d %q %s", code, out, stderr)
	}
	if _, stderr, code := rt(t, "cow", "commit", "--fs-storage", storage, id); code != 0 || readOr(t, filepath.Join(vol, "old")) != "new\n" {
		t.Errorf("cow commit after delete: %d %s; old = %q", code, stderr, readOr(t, filepath.Join(vol, "old")))
	}
}

// TestCOWUnprivileged: a user gets the same layer (in a user namespace that maps it to
// itself): commit, dry run, max_disk.
func TestCOWUnprivileged(t *testing.T) {
	run, home := nobodyRunner(t, "--clear-groups")
	wd := filepath.Join(home, "rw", "wd")
	for _, d := range []string{wd} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(wd, "f"), []byte("base\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := filepath.Walk(wd, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) }); err != nil {
		t.Fatal(err)
	}
	r := run(t, sandboxArgs([]string{"--workdir", wd, "--dry-run"}, "sh", "-c", "rm f; echo n > n"))
	if r.code != 0 || r.stdout != "D f\nA n\n" {
		t.Errorf("dry run as a user: code %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, sandboxArgs([]string{"--workdir", wd}, "sh", "-c", "echo more >> f; echo n > n; id -u"))
	if r.code != 0 || r.stdout != "65534\n" || readOr(t, filepath.Join(wd, "f")) != "base\nmore\n" || readOr(t, filepath.Join(wd, "n")) != "n\n" {
		t.Errorf("commit as a user: code %d, %q, %s; f %q", r.code, r.stdout, r.stderr, readOr(t, filepath.Join(wd, "f")))
	}
	// max_disk: a tmpfs in the sandbox's own namespaces, held by the runtime until the end.
	before := snapshot(t, wd)
	r = run(t, sandboxArgs([]string{"--workdir", wd, "--max-disk", "1M"}, "sh", "-c", "dd if=/dev/zero of=big bs=64k count=64"))
	if r.code == 0 || !strings.Contains(r.stderr, "No space left on device") || snapshot(t, wd) != before {
		t.Errorf("max_disk as a user: code %d, %s (and the workdir must stay as it was)", r.code, r.stderr)
	}
	r = run(t, sandboxArgs([]string{"--workdir", wd, "--max-disk", "1M"}, "sh", "-c", "echo small > small"))
	if r.code != 0 || readOr(t, filepath.Join(wd, "small")) != "small\n" {
		t.Errorf("max_disk as a user, under the limit: code %d, %s", r.code, r.stderr)
	}
	// A directory's new mode lands, after what was written into it (a user cannot rename into
	// a directory made read-only first).
	if err := os.Mkdir(filepath.Join(wd, "d"), 0o755); err != nil || os.Chown(filepath.Join(wd, "d"), 65534, 65534) != nil {
		t.Fatal(err)
	}
	r = run(t, sandboxArgs([]string{"--workdir", wd}, "sh", "-c", "echo n > d/n; chmod 500 d"))
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(wd, "d"), &st); r.code != 0 || err != nil || st.Mode&0o777 != 0o500 || readOr(t, filepath.Join(wd, "d", "n")) != "n\n" {
		t.Errorf("chmod 500 of a directory written into, as a user: code %d, %s; mode %o", r.code, r.stderr, st.Mode&0o777)
	}
	_ = os.Chmod(filepath.Join(wd, "d"), 0o755)
}

// TestCOWMetadataOnBehalf: chmod, utimes and xattr calls, which the supervisor performs on
// behalf of the process, act on the process's view (the layer), not on the host's workdir:
// aborted, nothing of them lands (even through an absolute symlink into the workdir);
// committed, they do. As root and as a user (whose supervisor cannot chroot).
func TestCOWMetadataOnBehalf(t *testing.T) {
	requireSetup(t)
	script := func(wd string) string {
		return "chmod 600 keep && touch -d @0 edit && ln -s " + wd + "/gone abs && chmod 600 abs && stat -c %a keep gone"
	}
	t.Run("root", func(t *testing.T) {
		wd, storage := cowTree(t)
		before := snapshot(t, wd)
		r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-exit", "ABORT"), "sh", "-c", script(wd))...)
		if r.code != 0 || r.stdout != "600\n600\n" {
			t.Fatalf("code %d, %q: %s", r.code, r.stdout, r.stderr)
		}
		if snapshot(t, wd) != before {
			t.Errorf("metadata changes made on behalf reached the host's workdir")
		}
		r = rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "sh", "-c", script(wd))...)
		var st unix.Stat_t
		if r.code != 0 || unix.Stat(filepath.Join(wd, "keep"), &st) != nil || st.Mode&0o777 != 0o600 {
			t.Errorf("commit: code %d, keep mode %o: %s", r.code, st.Mode&0o777, r.stderr)
		}
	})
	t.Run("user", func(t *testing.T) {
		run, home := nobodyRunner(t, "--clear-groups")
		wd := filepath.Join(home, "rw", "wd")
		for _, f := range []string{"keep", "edit", "gone"} {
			if err := os.MkdirAll(wd, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(wd, f), []byte(f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_ = filepath.Walk(wd, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
		before := snapshot(t, wd)
		r := run(t, sandboxArgs([]string{"--workdir", wd, "--on-exit", "ABORT"}, "sh", "-c", script(wd)+" && ls -l >/dev/null"))
		if r.code != 0 || r.stdout != "600\n600\n" {
			t.Fatalf("code %d, %q: %s", r.code, r.stdout, r.stderr)
		}
		if snapshot(t, wd) != before {
			t.Errorf("metadata changes made on behalf reached the host's workdir")
		}
	})
}

// TestCOWRenameDir: rename(2) of a directory of the workdir, in place and into another
// directory, works as on a plain directory (overlayfs redirects, root), lists as its new names
// added and the old one deleted, and commits as the renamed tree.
func TestCOWRenameDir(t *testing.T) {
	requireSetup(t)
	if _, err := exec.LookPath("perl"); err != nil {
		testreq.Missing(t, "perl not installed: the test calls rename(2) itself (mv would fall back to copying)")
	}
	script := `perl -e 'rename("sub", "moved") or die "rename: $!\n"; mkdir("into"); rename("moved/deep", "into/deep2") or die "rename deep: $!\n"; open(F, ">moved/added") or die; print F "a\n"; close F'`
	wd, storage := cowTree(t)
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--dry-run"), "sh", "-c", script)...)
	want := "A into\nA into/deep2\nA into/deep2/x\nA moved\nA moved/added\nA moved/inner\nD sub\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("dry run: code %d, %q (%s), want %q", r.code, r.stdout, r.stderr, want)
	}
	r = rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "sh", "-c", script)...)
	if r.code != 0 {
		t.Fatalf("code %d: %s", r.code, r.stderr)
	}
	for name, body := range map[string]string{"moved/inner": "inner\n", "moved/added": "a\n", "into/deep2/x": "x\n"} {
		if got := readOr(t, filepath.Join(wd, name)); got != body {
			t.Errorf("%s = %q, want %q", name, got, body)
		}
	}
	for _, gone := range []string{"sub", "moved/deep"} {
		if _, err := os.Lstat(filepath.Join(wd, gone)); err == nil {
			t.Errorf("%s still exists", gone)
		}
	}
}

// TestCOWWorkloads: SQLite (locks, WAL's shared memory map, fsync) and unpacking many small
// files (an npm install's shape) give inside a COW workdir what they give outside, and the
// committed result is what the outside run left.
func TestCOWWorkloads(t *testing.T) {
	requireSetup(t)
	for _, tool := range []string{"sqlite3", "tar", "md5sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			testreq.Missing(t, tool+" not installed")
		}
	}
	src := filepath.Join(t.TempDir(), "src")
	for i := range 300 {
		p := filepath.Join(src, fmt.Sprintf("pkg%d", i%30), fmt.Sprintf("f%d.js", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("module.exports = %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tarball := filepath.Join(t.TempDir(), "pkgs.tar")
	if out, err := exec.Command("tar", "-C", src, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	if err := os.Chmod(filepath.Dir(tarball), 0o755); err != nil {
		t.Fatal(err)
	}
	script := `set -e
mkdir node_modules && tar -C node_modules -xf ` + tarball + ` && find node_modules -type f | sort | xargs cat | md5sum
sqlite3 db 'PRAGMA journal_mode=WAL; PRAGMA mmap_size=1048576; CREATE TABLE t(x); BEGIN; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<5000) INSERT INTO t SELECT i FROM c; COMMIT;' >/dev/null
sqlite3 db 'SELECT count(*), sum(x) FROM t; PRAGMA integrity_check; PRAGMA wal_checkpoint(TRUNCATE);' | head -2`
	wd := sameInCOW(t, script)
	out, err := exec.Command("sqlite3", filepath.Join(wd, "db"), "SELECT count(*) FROM t; PRAGMA integrity_check;").CombinedOutput()
	if err != nil || string(out) != "5000\nok\n" {
		t.Errorf("the committed database: %v %q", err, out)
	}
}

// TestCOWContainerDelete: a container run the way containerd and podman run it (create, start;
// the caller reaps init; delete) commits its workdir when the program exited 0 and drops the
// layer when it failed: the supervisor records the exit status (PIDFD_INFO_EXIT) for delete.
func TestCOWContainerDelete(t *testing.T) {
	requireSetup(t)
	for _, c := range []struct {
		name, script string
		committed    bool
		onExit       string
	}{{"exit 0", "echo new > /data/new", true, "COMMIT"}, {"exit 3", "echo new > /data/new; exit 3", false, "COMMIT"}, {"keep", "echo new > /data/new", false, "KEEP"}} {
		t.Run(c.name, func(t *testing.T) {
			storage := filepath.Join(t.TempDir(), "layers")
			bundle := newBundleWith(t, func(s *specs.Spec) {
				s.Annotations = map[string]string{"io.sandlock.workdir": "/data", "io.sandlock.fs_storage": storage, "io.sandlock.on_exit": c.onExit}
			}, "sh", "-c", c.script)
			data := filepath.Join(bundle, "rootfs", "data")
			if err := os.MkdirAll(data, 0o755); err != nil {
				t.Fatal(err)
			}
			id := newID()
			create(t, id, bundle)
			start(t, id)
			waitStatus(t, id, "stopped")
			children.Reap() // as the shim does on SIGCHLD: the exit status is the reaper's first
			_, stderr, code := rt(t, "delete", id)
			if code != 0 {
				t.Fatalf("delete: %d %s", code, stderr)
			}
			_, err := os.Stat(filepath.Join(data, "new"))
			if landed := err == nil; landed != c.committed {
				t.Errorf("landed = %v, want %v", landed, c.committed)
			}
			if c.onExit == "KEEP" { // delete says where the layer went (in its --log, as containerd reads it)
				log := readOr(t, envFor(t).log)
				if l := filepath.Join(storage, id); !strings.Contains(log, "kept its copy-on-write layer "+l) || len(layers(t, storage)) != 1 {
					t.Errorf("delete of a KEEP container: log %q, layers %v; want %s named", log, layers(t, storage), l)
				}
				return
			}
			if len(layers(t, storage)) != 0 {
				t.Errorf("layer left: %v", layers(t, storage))
			}
		})
	}
}

// TestCOWNoWayAround: the process cannot reach the host's workdir past the layer, even with a
// writable rule on the workdir's parent: not by unmounting the overlay, nor through the root
// of a host process (/proc/PID/root of a process outside the sandbox: Landlock refuses the
// ptrace access that needs). Aborted, the workdir is untouched.
func TestCOWNoWayAround(t *testing.T) {
	requireSetup(t)
	wd, storage := cowTree(t)
	before := snapshot(t, wd)
	// Root without capabilities, like the sandbox's process: only Landlock stands between.
	outside := exec.Command("setpriv", "--bounding-set", "-all", "--inh-caps", "-all", "sleep", "60")
	if _, err := exec.LookPath("setpriv"); err != nil {
		testreq.Missing(t, "setpriv not installed (util-linux)")
	}
	if err := children.Start(outside); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = outside.Process.Kill(); _ = outside.Wait() }()
	script := fmt.Sprintf(`umount -l %[1]s 2>/dev/null && echo unmounted
echo x > /proc/%[2]d/root%[1]s/keep 2>/dev/null && echo via-proc
echo x > /proc/1/root%[1]s/keep 2>/dev/null && echo via-init
cat %[1]s/keep`, wd, outside.Process.Pid)
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "-r", "/", "-w", filepath.Dir(wd), "--on-exit", "ABORT"), "sh", "-c", script)...)
	if r.code != 0 || r.stdout != "keep\n" {
		t.Errorf("code %d, stdout %q (want only the layer's view: keep): %s", r.code, r.stdout, r.stderr)
	}
	if snapshot(t, wd) != before {
		t.Errorf("the host's workdir changed")
	}
}

// TestCOWPrivileged: with privileged, init is in a user namespace already: the overlay there
// takes user.* xattrs (a deleted and remade directory stays opaque) and the layer commits.
func TestCOWPrivileged(t *testing.T) {
	requireSetup(t)
	wd, storage := cowTree(t)
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--privileged", "--dry-run"), "sh", "-c", "rm -r sub && mkdir sub && echo n > sub/n")...)
	if want := "M sub\nD sub/deep\nD sub/inner\nA sub/n\n"; r.code != 0 || r.stdout != want {
		t.Errorf("dry run: code %d, %q (%s), want %q", r.code, r.stdout, r.stderr, want)
	}
	r = rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--privileged"), "sh", "-c", cowScript)...)
	if r.code != 0 {
		t.Fatalf("code %d: %s", r.code, r.stderr)
	}
	checkCommitted(t, wd)
}

// TestCOWCrashMidCommit: `cow commit` killed mid-commit (SIGKILL at a chosen point, through
// cowfs' test hook) leaves the workdir all before or all after: killed before its journal, the
// next sandbox over the workdir removes the staging and the workdir is as it was (the layer
// is still there to commit); killed after it, the next sandbox finishes the commit.
func TestCOWCrashMidCommit(t *testing.T) {
	requireSetup(t)
	for _, c := range []struct {
		point  string
		landed bool
	}{{"staged", false}, {"journal", true}} {
		t.Run(c.point, func(t *testing.T) {
			wd, storage := cowTree(t)
			before := snapshot(t, wd)
			if r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-exit", "KEEP"), "sh", "-c", cowScript)...); r.code != 0 {
				t.Fatalf("code %d: %s", r.code, r.stderr)
			}
			l := layers(t, storage)
			r := rtWith(t, func(cmd *exec.Cmd) { cmd.Env = append(os.Environ(), "SANDLOCK_COW_TEST_CRASH="+c.point) }, "cow", "commit", l[0])
			if r.code != 128+int(syscall.SIGKILL) {
				t.Fatalf("cow commit with the crash hook: code %d, %s", r.code, r.stderr)
			}
			if r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "true")...); r.code != 0 {
				t.Fatalf("the next sandbox: code %d, %s", r.code, r.stderr)
			}
			if c.landed {
				checkCommitted(t, wd)
				return
			}
			// The workdir's own mtime moved (its staging directory came and went); below it,
			// nothing changed.
			if below(snapshot(t, wd)) != below(before) {
				t.Errorf("a commit killed before its journal changed the workdir:\n%s\nwant\n%s", snapshot(t, wd), before)
			}
			if _, stderr, code := rt(t, "cow", "commit", l[0]); code != 0 {
				t.Fatalf("commit again: %d %s", code, stderr)
			}
			checkCommitted(t, wd)
		})
	}
}

// below drops a snapshot's line for the directory itself.
func below(snap string) string {
	_, rest, _ := strings.Cut(snap, "\n")
	return rest
}

// TestCOWBranchConflictRun: two sandboxes over one workdir at once; the one that ends second
// changed a path the first committed: its commit is refused (exit 75, the error names the path
// and where the layer is kept) and nothing of it lands.
func TestCOWBranchConflictRun(t *testing.T) {
	requireSetup(t)
	wd, storage := cowTree(t)
	gate := filepath.Join(t.TempDir(), "gate")
	second := rtBackground(t, sandboxArgs(cowFlags(wd, storage, "-r", "/", "-w", filepath.Dir(gate)),
		"sh", "-c", "echo second > edit; echo x > second-only; until [ -e "+gate+" ]; do sleep 0.05; done")...)
	// The second branch exists (its write is in its layer) before the first commits.
	deadline := time.Now().Add(waitTimeout)
	for written := false; !written; {
		for _, l := range layers(t, storage) {
			written = written || readOr(t, filepath.Join(l, "upper", "second-only")) == "x\n"
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second sandbox never wrote its layer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "sh", "-c", "echo first > edit")...); r.code != 0 {
		t.Fatalf("first: code %d, %s", r.code, r.stderr)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := second()
	ls := layers(t, storage)
	if len(ls) != 1 {
		t.Fatalf("layers %v, want the refused one", ls)
	}
	// One line: the conflict, the path, where the layer is and what to do with it.
	want := "sandlock-runtime: sandbox run: branch conflict: the workdir changed under this layer's paths since the layer was made: edit; nothing landed, the layer is kept in " +
		ls[0] + " (sandlock-runtime cow diff|commit|abort " + ls[0] + ")\n"
	if r.code != 75 || r.stderr != want {
		t.Errorf("second: code %d, stderr\n%q\nwant 75 and\n%q", r.code, r.stderr, want)
	}
	if got := readOr(t, filepath.Join(wd, "edit")); got != "first\n" {
		t.Errorf("edit = %q, want the first's", got)
	}
	if _, err := os.Stat(filepath.Join(wd, "second-only")); err == nil {
		t.Errorf("part of the refused branch landed")
	}
}

// TestCOWCommitRefused: a commit the workdir refuses (here a read-only mount of it: the
// sandbox's writes went to its layer, the staging copy cannot) lands nothing, keeps the layer
// and says so in one line; the run's state goes with it (it used to stay, and every delete
// --force retried the same commit and failed).
func TestCOWCommitRefused(t *testing.T) {
	requireSetup(t)
	wd, storage := cowTree(t)
	if err := unix.Mount(wd, wd, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(wd, unix.MNT_DETACH) })
	if err := unix.Mount("", wd, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, wd)
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "sh", "-c", "echo new > edit")...)
	ls := layers(t, storage)
	if len(ls) != 1 {
		t.Fatalf("layers %v, want the refused one kept", ls)
	}
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "read-only file system; nothing landed, the layer is kept in "+ls[0]+
		" (sandlock-runtime cow diff|commit|abort "+ls[0]+")") {
		t.Errorf("code %d, stderr %q; want 1 and one line: the cause, nothing landed, where the layer is kept", r.code, r.stderr)
	}
	if snapshot(t, wd) != before {
		t.Errorf("the refused commit changed the workdir")
	}
	if out, _, _ := rt(t, "list", "-q"); out != "" {
		t.Errorf("state left behind: %q", out)
	}
	if out, stderr, code := rt(t, "cow", "diff", ls[0]); code != 0 || out != "M edit\n" {
		t.Errorf("cow diff of the kept layer: %d %q %s", code, out, stderr)
	}
	if err := unix.Unmount(wd, 0); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := rt(t, "cow", "commit", ls[0]); code != 0 || readOr(t, filepath.Join(wd, "edit")) != "new\n" {
		t.Errorf("cow commit once the workdir is writable: %d %s", code, stderr)
	}
}

// TestCOWStorageOnOverlay: fs_storage on a file system overlayfs refuses as an upper layer
// (overlayfs itself) fails at start with an error that names fs_storage and the kernel's
// reason, and leaves neither a layer nor state behind.
func TestCOWStorageOnOverlay(t *testing.T) {
	requireSetup(t)
	base := t.TempDir()
	for _, d := range []string{"l", "u", "w", "m", "wd"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := filepath.Join(base, "m")
	opts := fmt.Sprintf("lowerdir=%s/l,upperdir=%s/u,workdir=%s/w", base, base, base)
	if err := unix.Mount("overlay", m, "overlay", 0, opts); err != nil {
		t.Skipf("no overlayfs to put fs_storage on: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(m, unix.MNT_DETACH) })
	storage := filepath.Join(m, "layers")
	r := rtWith(t, nil, sandboxArgs(cowFlags(filepath.Join(base, "wd"), storage), "true")...)
	if r.code != 1 || !strings.Contains(r.stderr, "(in fs_storage: overlayfs cannot keep an upper layer on its file system") ||
		!strings.Contains(r.stderr, "kernel: overlay: filesystem on ") {
		t.Errorf("code %d, stderr %q; want 1 and an error naming fs_storage with the kernel's reason", r.code, r.stderr)
	}
	if ls := layers(t, storage); len(ls) != 0 {
		t.Errorf("layers left: %v", ls)
	}
	if out, _, _ := rt(t, "list", "-q"); out != "" {
		t.Errorf("state left: %q", out)
	}
}

// TestCOWStorageNotADirectory: an fs_storage that cannot be made is refused as a policy error
// naming fs_storage (it said "cow layer: mkdir ...").
func TestCOWStorageNotADirectory(t *testing.T) {
	requireSetup(t)
	wd, _ := cowTree(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, file), "true")...)
	want := "sandlock-runtime: sandbox: fs_storage (--fs-storage) " + file + ": mkdir " + file + ": not a directory\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("code %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
}

// TestCOWMountBeneath: a workdir with a mount beneath it is refused at start, naming the mount:
// overlayfs would show the directory under it, and the commit of a write there failed after
// its journal (EXDEV), leaving the run's state and a journal every later run replayed.
func TestCOWMountBeneath(t *testing.T) {
	requireSetup(t)
	wd, storage := cowTree(t)
	mnt := filepath.Join(wd, "sub")
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "sh", "-c", "echo x > sub/new")...)
	if r.code != 1 || !strings.Contains(r.stderr, "workdir (--workdir) "+wd+": ") || !strings.Contains(r.stderr, "mounted beneath it, at "+mnt) {
		t.Errorf("code %d, stderr %q; want 1 and a refusal naming %s", r.code, r.stderr, mnt)
	}
	if ls := layers(t, storage); len(ls) != 0 {
		t.Errorf("layers left: %v", ls)
	}
	if ents, _ := os.ReadDir(mnt); len(ents) != 0 {
		t.Errorf("the mount beneath the workdir was written: %v", ents)
	}
}

// TestCOWMaxDiskKeepRename: a kept max_disk layer is copied from its tmpfs to disk with the
// overlay's marks: a directory renamed in it (a redirect) still brings its workdir files
// along at the commit (the copy lost the redirect, and the commit deleted them), and the
// committed files carry the user's xattrs and none of the overlay's.
func TestCOWMaxDiskKeepRename(t *testing.T) {
	requireSetup(t)
	wd, storage := cowTree(t)
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--max-disk", "16M", "--on-exit", "keep"),
		"sh", "-c", "mv sub moved && echo new > moved/new && python3 -c 'import os; os.setxattr(\"keep\", \"user.k\", b\"v\")'")...)
	ls := layers(t, storage)
	if r.code != 0 || len(ls) != 1 {
		t.Fatalf("code %d, layers %v: %s", r.code, ls, r.stderr)
	}
	if _, stderr, code := rt(t, "cow", "commit", ls[0]); code != 0 {
		t.Fatalf("cow commit: %d %s", code, stderr)
	}
	for name, want := range map[string]string{"moved/inner": "inner\n", "moved/deep/x": "x\n", "moved/new": "new\n"} {
		if got := readOr(t, filepath.Join(wd, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(wd, "sub")); err == nil {
		t.Errorf("sub is still there after its rename landed")
	}
	buf := make([]byte, 1024)
	n, err := unix.Llistxattr(filepath.Join(wd, "keep"), buf)
	if names := string(buf[:max(n, 0)]); err != nil || !strings.Contains(names, "user.k") || strings.Contains(names, "overlay.") {
		t.Errorf("keep's xattrs after the commit: %q, %v; want user.k and no overlay mark", names, err)
	}
}

// TestCOWChroot: under --chroot the workdir is a path in the chroot, and the command starts
// there, as without one (it started in the chroot's / and its relative writes were refused); a
// dry run there needs a workdir, and says so.
func TestCOWChroot(t *testing.T) {
	requireSetup(t)
	root := filepath.Join(t.TempDir(), "rootfs")
	if err := copyTree(filepath.Join(templateDir, "rootfs"), root); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	storage := filepath.Join(t.TempDir(), "layers")
	r := rtWith(t, nil, sandboxArgs([]string{"--chroot", root, "--workdir", "/data", "--fs-storage", storage}, "sh", "-c", "pwd; echo c > x")...)
	if r.code != 0 || r.stdout != "/data\n" || readOr(t, filepath.Join(root, "data", "x")) != "c\n" {
		t.Errorf("--chroot --workdir /data: code %d, stdout %q, %s; x %q", r.code, r.stdout, r.stderr, readOr(t, filepath.Join(root, "data", "x")))
	}
	r = rtWith(t, nil, sandboxArgs([]string{"--chroot", root, "--dry-run", "--fs-storage", storage}, "true")...)
	if r.code != 1 || !strings.Contains(r.stderr, "a dry run under a chroot needs one") {
		t.Errorf("--chroot --dry-run without a workdir: code %d, %s", r.code, r.stderr)
	}
}

// TestCOWOddPaths: a workdir and an fs_storage whose paths are longer than the 255 bytes
// fsconfig takes as a string (they failed with EINVAL), or hold the characters overlayfs'
// options split on (they were refused), work as any other, as root and as a user.
func TestCOWOddPaths(t *testing.T) {
	requireSetup(t)
	odd := filepath.Join(t.TempDir(), `a,b:c\d e`)
	oddStorage := filepath.Join(t.TempDir(), `l,a:y\ers`)
	if err := os.Mkdir(odd, 0o755); err != nil {
		t.Fatal(err)
	}
	r := rtWith(t, nil, sandboxArgs(cowFlags(odd, oddStorage, "--max-disk", "1M"), "sh", "-c", "echo x > f")...)
	if r.code != 0 || readOr(t, filepath.Join(odd, "f")) != "x\n" || len(layers(t, oddStorage)) != 0 {
		t.Errorf("a workdir and fs_storage with , : \\ and a space: code %d, %s", r.code, r.stderr)
	}
	long := strings.Repeat("d", 60) + "/" + strings.Repeat("e", 60) + "/" + strings.Repeat("f", 60) + "/" + strings.Repeat("g", 60) + "/" + strings.Repeat("h", 20)
	wd, storage := filepath.Join(t.TempDir(), long), filepath.Join(t.TempDir(), long)
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	if len(wd) <= 255 || len(storage) <= 255 {
		t.Fatalf("paths of %d and %d bytes: want more than 255", len(wd), len(storage))
	}
	if r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "sh", "-c", "echo x > f")...); r.code != 0 || readOr(t, filepath.Join(wd, "f")) != "x\n" {
		t.Errorf("root: code %d, %s", r.code, r.stderr)
	}
	run, home := nobodyRunner(t, "--clear-groups")
	uwd := filepath.Join(home, long)
	if err := os.MkdirAll(uwd, 0o755); err != nil {
		t.Fatal(err)
	}
	for p := uwd; p != home; p = filepath.Dir(p) {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if r := run(t, sandboxArgs([]string{"--workdir", uwd}, "sh", "-c", "echo y > f")); r.code != 0 || readOr(t, filepath.Join(uwd, "f")) != "y\n" {
		t.Errorf("a user: code %d, %s", r.code, r.stderr)
	}
}

// sameInCOW runs script with sh in a fresh directory, then in a sandbox with a fresh COW
// workdir (committed at the end), and fails the test unless both succeed with the same output
// (stdout and stderr outside, stdout inside). It returns the workdir.
func sameInCOW(t *testing.T, script string) string {
	t.Helper()
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.Mkdir(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = plain
	want, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("outside: %v: %s", err, want)
	}
	wd, storage := filepath.Join(t.TempDir(), "wd"), filepath.Join(t.TempDir(), "layers")
	if err := os.Mkdir(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "sh", "-c", script)...)
	if r.code != 0 || r.stdout != string(want) {
		t.Errorf("inside COW: code %d, %q (stderr %s); outside: %q", r.code, r.stdout, r.stderr, want)
	}
	return wd
}

// TestCOWCarveOnBehalf: with fs_denied in the workdir, the files the supervisor creates on
// behalf of a user's process (whose supervisor cannot chroot), named by an absolute path, are
// made in the process's view (the layer), not in the host's workdir: aborted, nothing lands.
func TestCOWCarveOnBehalf(t *testing.T) {
	run, home := nobodyRunner(t, "--clear-groups")
	wd := filepath.Join(home, "rw", "wd")
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wd, "secret"), []byte("TOPSECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = filepath.Walk(wd, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	before := snapshot(t, wd)
	flags := append(append([]string{}, sandboxRead...), "--workdir", wd, "--on-exit", "ABORT", "-w", wd, "--fs-denied", filepath.Join(wd, "secret"))
	r := run(t, sandboxArgs(flags, "sh", "-c", "echo n > "+wd+"/new && mkdir "+wd+"/d && cat "+wd+"/new"))
	if r.code != 0 || r.stdout != "n\n" {
		t.Fatalf("code %d, %q: %s", r.code, r.stdout, r.stderr)
	}
	if snapshot(t, wd) != before {
		t.Errorf("files created on behalf reached the host's workdir")
	}
	for _, attempt := range []string{"cat " + wd + "/secret", "cd " + wd + " && cat secret", "mv " + wd + "/secret " + wd + "/moved"} {
		if r := run(t, sandboxArgs(flags, "sh", "-c", attempt)); r.code == 0 || strings.Contains(r.stdout, "TOPSECRET") {
			t.Errorf("%q: got exit %d stdout %q, want it refused", attempt, r.code, r.stdout)
		}
	}
}

// TestCOWNoNamespace: the workdir's overlay costs no mount namespace. The sandbox's process
// (root's, a user's, privileged's) and a container's are in the host's mount namespace, see
// the layer at the workdir's path (a file made there is read back), while the host's mount
// table (pid 1's, read from inside while the sandbox runs) has no overlay at the workdir.
// Root's stays in the host's user namespace too; a user's is in one that maps it to itself
// (chroot's capability, there) and holds no capability. On a kernel before 6.15 root's view
// is made by the helper (no move_mount into a detached tree): the same checks hold.
func TestCOWNoNamespace(t *testing.T) {
	requireSetup(t)
	host := nsIDs(t, "self")
	script := `readlink /proc/self/ns/mnt /proc/self/ns/user; echo in-layer > %[1]s/made; cat %[1]s/made
grep -c " %[1]s " /proc/1/mountinfo || true`
	wd, storage := cowTree(t)
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-exit", "ABORT"), "sh", "-c", fmt.Sprintf(script, wd))...)
	if want := host + "in-layer\n0\n"; r.code != 0 || r.stdout != want {
		t.Errorf("sandbox: code %d, stdout %q, want %q: %s", r.code, r.stdout, want, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(wd, "made")); !os.IsNotExist(err) {
		t.Errorf("the aborted layer reached the workdir: %v", err)
	}
	helper := func(cmd *exec.Cmd) { cmd.Env = append(os.Environ(), "SANDLOCK_COW_TEST_TREE=helper") }
	r = rtWith(t, helper, sandboxArgs(cowFlags(wd, storage), "sh", "-c", fmt.Sprintf(script, wd))...)
	if want := host + "in-layer\n0\n"; r.code != 0 || r.stdout != want || readOr(t, filepath.Join(wd, "made")) != "in-layer\n" {
		t.Errorf("sandbox, the helper's way (kernels before 6.15): code %d, stdout %q, want %q, and the commit: %s", r.code, r.stdout, want, r.stderr)
	}
	r = rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-exit", "ABORT", "--privileged"), "sh", "-c", "rm made; "+fmt.Sprintf(script, wd))...)
	if mnt := strings.SplitN(host, "\n", 2)[0] + "\n"; r.code != 0 || !strings.HasPrefix(r.stdout, mnt) || !strings.HasSuffix(r.stdout, "in-layer\n0\n") {
		t.Errorf("privileged: code %d, stdout %q, want the mount namespace %q: %s", r.code, r.stdout, mnt, r.stderr)
	}
	storage = filepath.Join(t.TempDir(), "layers")
	bundle := newBundleWith(t, func(s *specs.Spec) {
		s.Annotations = map[string]string{"io.sandlock.workdir": "/data", "io.sandlock.fs_storage": storage}
	}, "sh", "-c", "readlink /proc/self/ns/mnt; readlink /proc/self/ns/user; echo in-layer > /data/made; cat /data/made")
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = rtWith(t, nil, "run", "--bundle", bundle, newID())
	if want := host + "in-layer\n"; r.code != 0 || r.stdout != want {
		t.Errorf("container: code %d, stdout %q, want %q: %s", r.code, r.stdout, want, r.stderr)
	}
	t.Run("user", func(t *testing.T) {
		run, home := nobodyRunner(t, "--clear-groups")
		wd := filepath.Join(home, "rw", "wd")
		if err := os.MkdirAll(wd, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = filepath.Walk(filepath.Join(home, "rw"), func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
		r := run(t, sandboxArgs([]string{"--workdir", wd, "--on-exit", "ABORT"}, "sh", "-c",
			fmt.Sprintf(script, wd)+"; grep CapEff /proc/self/status; cat /proc/self/uid_map"))
		lines := strings.Split(r.stdout, "\n")
		mnt := strings.SplitN(host, "\n", 2)[0]
		if r.code != 0 || len(lines) < 6 || lines[0] != mnt || lines[1] == strings.Split(host, "\n")[1] ||
			lines[2] != "in-layer" || lines[3] != "0" || !strings.HasSuffix(lines[4], "0000000000000000") ||
			strings.Join(strings.Fields(lines[5]), " ") != "65534 65534 1" {
			t.Errorf("user: code %d, stdout %q, want the mount namespace %q, a user namespace of its own mapping 65534 only, no capability: %s", r.code, r.stdout, mnt, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(wd, "made")); !os.IsNotExist(err) {
			t.Errorf("the aborted layer reached the workdir: %v", err)
		}
	})
}

// nsIDs is readlink's output for the mount and user namespaces of /proc/PID.
func nsIDs(t *testing.T, pid string) string {
	t.Helper()
	var out string
	for _, ns := range []string{"mnt", "user"} {
		l, err := os.Readlink("/proc/" + pid + "/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		out += l + "\n"
	}
	return out
}

// plantStaging is a script that makes, in the workdir DIR, what a crashed commit leaves: a
// staging directory with its mark, a journal and a staged file, the journal's steps passing
// a symlink (lnk) to OUTSIDE: one moves the staged file there, one moves OUTSIDE/victim out.
func plantStaging(dir, outside string) string {
	st := dir + "/.sandlock-commit-evil"
	return fmt.Sprintf(`ln -s %[2]s %[1]s/lnk && mkdir %[3]s && : > %[3]s/sandlock-stage &&
echo pwned > %[3]s/0 && echo '[{"rel":"lnk/pwned"},{"remove":true,"rel":"lnk/victim"}]' > %[3]s/journal &&
(echo x > %[2]s/direct) 2>/dev/null; true`, dir, outside, st)
}

// checkOutside fails the test when a planted journal reached OUTSIDE.
func checkOutside(t *testing.T, outside string) {
	t.Helper()
	for _, n := range []string{"pwned", "direct"} {
		if _, err := os.Lstat(filepath.Join(outside, n)); err == nil {
			t.Errorf("ESCAPED: %s/%s was made outside the workdir, where the sandbox may not write", outside, n)
		}
	}
	if readOr(t, filepath.Join(outside, "victim")) != "victim\n" {
		t.Errorf("ESCAPED: %s/victim was removed by a journal planted in the workdir", outside)
	}
}

// TestCOWForgedStaging: the sandbox plants, through its layer, a staging directory whose
// journal passes a symlink to a directory it may not write; the commit would land it in the
// workdir, and the next layer made over the workdir replays it as the runtime (Recover). The
// commit refuses the reserved name, and a replayed journal never leaves the workdir. Before the
// fix the second run moved a file into OUTSIDE and removed OUTSIDE/victim, as root.
func TestCOWForgedStaging(t *testing.T) {
	requireSetup(t)
	outsideDir := func(t *testing.T) string {
		o := filepath.Join(t.TempDir(), "outside")
		if err := os.MkdirAll(o, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(o, "victim"), []byte("victim\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return o
	}
	t.Run("sandbox", func(t *testing.T) {
		wd, storage := cowTree(t)
		outside := outsideDir(t)
		r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "sh", "-c", plantStaging(wd, outside))...)
		if r.code == 0 && !strings.Contains(readDirNames(wd), ".sandlock-commit-evil") {
			t.Errorf("the run succeeded, yet its layer did not land")
		}
		if r.code != 0 && !strings.Contains(r.stderr, "reserved") {
			t.Errorf("code %d, want a refusal naming the reserved name: %s", r.code, r.stderr)
		}
		r = rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-exit", "ABORT"), "true")...) // replays what landed
		if r.code != 0 {
			t.Errorf("second run: code %d: %s", r.code, r.stderr)
		}
		checkOutside(t, outside)
	})
	t.Run("planted by another writer", func(t *testing.T) {
		// Another writer of the workdir (a sandbox without a layer that may write it, its
		// owner): no layer guards it, the replay must.
		wd, storage := cowTree(t)
		outside := outsideDir(t)
		if out, err := exec.Command("sh", "-c", plantStaging(wd, outside)).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		_ = os.Remove(filepath.Join(outside, "direct")) // the host may write there
		r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-exit", "ABORT"), "true")...)
		if r.code == 0 {
			t.Errorf("a journal through a symlink was replayed without a word")
		}
		checkOutside(t, outside)
	})
	t.Run("container", func(t *testing.T) {
		storage := filepath.Join(t.TempDir(), "layers")
		outside := outsideDir(t)
		bundle := newBundleWith(t, func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.sandlock.workdir": "/data", "io.sandlock.fs_storage": storage}
		}, "sh", "-c", plantStaging("/data", outside))
		data := filepath.Join(bundle, "rootfs", "data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = rtWith(t, nil, "run", "--bundle", bundle, newID())
		_ = rtWith(t, nil, "run", "--bundle", bundle, newID()) // its create replays what landed
		checkOutside(t, outside)
	})
}

func readDirNames(dir string) string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// TestCOWIsolatePIDs: isolate_pids' /proc views hold in the workdir's view, whose /proc is a
// copy of the host's mount: the process reads its own entries (through /proc/self too), and
// another process's are absent.
func TestCOWIsolatePIDs(t *testing.T) {
	requireSetup(t)
	wd, storage := cowTree(t)
	script := `head -1 /proc/self/status; grep -c . /proc/self/stat; readlink /proc/self | grep -qx "[0-9][0-9]*" && echo self-ok
cat /proc/1/status >/dev/null 2>&1 && echo pid1-read || echo pid1-absent`
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-exit", "ABORT", "--isolate-pids"), "sh", "-c", script)...)
	if want := "Name:\thead\n1\nself-ok\npid1-absent\n"; r.code != 0 || r.stdout != want {
		t.Errorf("code %d, stdout %q, want %q: %s", r.code, r.stdout, want, r.stderr)
	}
}
