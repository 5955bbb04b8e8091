package integration

import (
	"path/filepath"
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
