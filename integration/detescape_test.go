package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sandlock/sandlock-runtime/internal/children"
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

// TestEscapeSleepersCPU: 2,000 threads asleep in an absolute clock_nanosleep on the wall
// clock, which time_start sleeps on their behalf. They cost the sandbox no CPU, and the
// supervisor (outside every CPU limit of the sandbox) checked each of them ten times a second
// for a withdrawn call or a caught signal: a whole core. Its checks now share one budget; the
// CPU it spends in 3 s must stay a small part of one core.
func TestEscapeSleepersCPU(t *testing.T) {
	sup := heldSandbox(t, "sleeping 2000", "--time-start", "2000-01-01T00:00:00Z",
		"--", filepath.Join(escapeBins(t), "sleepers"), "2000")
	time.Sleep(time.Second) // the threads' notifications taken
	before := cpuTicks(t, sup)
	time.Sleep(3 * time.Second)
	used := cpuTicks(t, sup) - before
	t.Logf("supervisor CPU over 3 s with 2,000 sleepers: %d ticks", used)
	if used > 60 { // 0.6 s of CPU (USER_HZ 100); it was about 300
		t.Errorf("the supervisor spent %d ticks of CPU in 3 s on 2,000 sleeping threads", used)
	}
}

// TestEscapeSortedDirsCreds: deterministic_dirs lists on behalf of the process, and some
// listings are checked by the kernel at each read against the reader: /proc/PID/map_files
// asks ptrace access (a sandbox's uid 0 without capabilities has none over the test's own
// process, which holds them all). The supervisor listed it with its own credentials: the
// host process's memory layout. It must be refused, as without the feature.
func TestEscapeSortedDirsCreds(t *testing.T) {
	requireSetup(t)
	host := exec.Command("sleep", "60")
	if err := children.Start(host); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = host.Process.Kill(); _ = host.Wait() }()
	dir := fmt.Sprintf("/proc/%d/map_files", host.Process.Pid)
	for _, extra := range [][]string{nil, {"--deterministic-dirs"}, {"--deterministic-dirs", "--num-cpus", "2"}} {
		flags := append(append([]string{}, sandboxRead...), extra...)
		r := rtWith(t, nil, sandboxArgs(flags, "ls", dir)...)
		if r.code == 0 || strings.Contains(r.stdout, "-") {
			t.Errorf("%v: ls %s (a host process's mappings): exit %d stdout %q, want refused (EACCES)", extra, dir, r.code, r.stdout)
		}
	}
	r := rtWith(t, nil, sandboxArgs(append(append([]string{}, sandboxRead...), "--deterministic-dirs"), "ls", "/proc/self/map_files")...)
	if r.code != 0 || !strings.Contains(r.stdout, "-") {
		t.Errorf("ls /proc/self/map_files (its own): exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestEscapeSortedDirsSnapshotCreds: a container (default capabilities, uid 0) with
// deterministic_dirs lists its own /proc/PID/map_files as root; a child that dropped to uid
// 65534 seeks the shared open file to the position root's listing gave and lists again. The
// kernel refuses that read (no ptrace access to its root parent); a snapshot served to whoever names its
// position did not ask (snapcreds.c).
func TestEscapeSortedDirsSnapshotCreds(t *testing.T) {
	escapeBins(t)
	id := newID()
	out := escapeRun(t, id, chain(annotate(false, "deterministic_dirs", "true"), withCapAdded("CAP_SETUID"), withCapAdded("CAP_SETGID")), nil, "/escape/snapcreds")
	got := escapeVerdicts(t, out, 1)
	requireOK(t, got, "snap_creds")
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
