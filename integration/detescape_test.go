package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Escapes aimed at the determinism features (random_seed, deterministic_dirs, time_start):
// testdata/escape/*.c programs run under `sandbox`, judged line by line (escapeVerdicts).

// TestEscapeVDSOSpoof: a shared writable file mapping named "x [vdso]" below the real vDSO,
// then an arch_prctl: time_start's rewrite must land in the real vDSO only, never in the
// file (a shared mapping: its bytes are another process's memory, or a file on disk).
func TestEscapeVDSOSpoof(t *testing.T) {
	prog := filepath.Join(escapeBins(t), "vdsospoof")
	dir := t.TempDir()
	flags := append(append([]string{}, sandboxRead...), "-r", filepath.Dir(prog), "-w", dir, "--time-start", "2000-01-01T00:00:00Z")
	r := rtWith(t, nil, sandboxArgs(flags, prog, dir)...)
	got := escapeVerdicts(t, r.stdout, 1)
	requireOK(t, got, "vdso_spoof")
	if t.Failed() {
		t.Logf("stdout %q stderr %q", r.stdout, r.stderr)
	}
}

// TestEscapeSortedDirsMemory: a directory the process can fill with long names (here made by
// the test: 60,000 hard links of 255-byte names, far below the 1,048,575-entry bound) read
// whole into the supervisor's memory by deterministic_dirs, which no limit of the sandbox
// counts, once per thread listing it at once. A listing of more than 16 MiB is refused
// (ENOMEM, as docs/policy.md says), and a small directory still lists.
func TestEscapeSortedDirsMemory(t *testing.T) {
	requireSetup(t)
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.Mkdir(big, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "f")
	if err := os.WriteFile(src, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 249)
	for i := range 60000 {
		if err := os.Link(src, filepath.Join(big, fmt.Sprintf("%s%06d", pad, i))); err != nil {
			t.Fatal(err)
		}
	}
	flags := append(append([]string{}, sandboxRead...), "-r", dir, "--deterministic-dirs")
	r := rtWith(t, nil, sandboxArgs(flags, "sh", "-c", "ls -f "+big+" >/dev/null")...)
	if r.code == 0 || !strings.Contains(r.stderr, "memory") {
		t.Errorf("a listing of 60,000 names of 255 bytes (17 MiB in the supervisor): got %q (stderr %q), want refused (ENOMEM)", r.stdout, r.stderr)
	}
	r = rtWith(t, nil, sandboxArgs(flags, "ls", "-f", dir)...)
	if r.code != 0 || !strings.Contains(r.stdout, "big") {
		t.Errorf("ls -f of a small directory: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}
