package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fsgapsNames: testdata/escape/fsgaps.c, Landlock's known gaps on a readable, not writable
// file from a writable directory on the same file system (unconfined as root all but
// ro_fd_write and ro_mmap_shared_write work).
var fsgapsNames = []string{"ro_truncate", "ro_open_trunc", "ro_open_write", "ro_opath_reopen",
	"ro_hardlink_write", "ro_linkat_procfd", "ro_linkat_empty_path", "ro_fd_write",
	"ro_mmap_shared_write", "ro_rename_into_scratch", "ro_symlink_write"}

// TestSandboxFSGaps: the direct mode, -r / -w SCRATCH, on a test-owned file beside SCRATCH.
func TestSandboxFSGaps(t *testing.T) {
	bins := escapeBins(t)
	dir := t.TempDir()
	scratch, ro := filepath.Join(dir, "w"), filepath.Join(dir, "ro")
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ro, []byte("KEEP\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(c *exec.Cmd) { c.Env = append(os.Environ(), "ESC_RO="+ro, "ESC_SCRATCH="+scratch) }
	r := rtWith(t, env, sandboxArgs([]string{"-r", "/", "-w", scratch}, filepath.Join(bins, "fsgaps"))...)
	got := escapeVerdicts(t, r.stdout, 1)
	requireOK(t, got, fsgapsNames...)
	if b, err := os.ReadFile(ro); err != nil || string(b) != "KEEP\n" {
		t.Errorf("the read-only file after the attempts: %q, %v", b, err)
	}
	if t.Failed() {
		t.Logf("fsgaps output:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

// TestEscapeFSGaps: a container whose rootfs is readable and /w writable (fs_writable), on
// /ro (a file of the rootfs, same file system as /w).
func TestEscapeFSGaps(t *testing.T) {
	escapeBins(t)
	id := newID()
	mutate := chain(annotated(map[string]string{"io.sandlock.fs_readable": `["/"]`, "io.sandlock.fs_writable": `["/w"]`}),
		withEnv([]string{"ESC_RO=/ro", "ESC_SCRATCH=/w"}))
	var rootfs string
	install := func(r string) {
		rootfs = r
		if err := os.Mkdir(filepath.Join(r, "w"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r, "ro"), []byte("KEEP\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := escapeRun(t, id, mutate, install, "/escape/fsgaps")
	got := escapeVerdicts(t, out, 1)
	requireOK(t, got, fsgapsNames...)
	if b, err := os.ReadFile(filepath.Join(rootfs, "ro")); err != nil || string(b) != "KEEP\n" {
		t.Errorf("/ro after the attempts: %q, %v", b, err)
	}
	if t.Failed() {
		t.Logf("fsgaps output:\n%s", out)
	}
}
