package integration

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// random_seed and deterministic_dirs through every front door: testdata/escape/determinism.c
// prints what it reads of each source, and two runs are compared.

// determinismOut runs the determinism program in the sandbox with flags and returns its
// lines by name.
func determinismOut(t *testing.T, flags []string, args ...string) map[string]string {
	t.Helper()
	prog := filepath.Join(escapeBins(t), "determinism")
	env := func(c *exec.Cmd) {}
	if hostI386(t) != "" {
		env = func(c *exec.Cmd) { c.Env = append(os.Environ(), "ESC_NO_I386=1") }
	}
	r := rtWith(t, env, sandboxArgs(flags, append([]string{prog}, args...)...)...)
	if r.code != 0 {
		t.Fatalf("determinism %v: exit %d stdout %q stderr %q", args, r.code, r.stdout, r.stderr)
	}
	return nameLines(r.stdout)
}

func nameLines(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		name, rest, _ := strings.Cut(l, " ")
		m[name] = rest
	}
	return m
}

// randomSources are the lines of `determinism random`; refused are those the kernel refuses
// (bad flags), which say so under any seed.
var randomSources = []string{
	"getrandom_0", "getrandom_nonblock", "getrandom_random", "getrandom_insecure", "getrandom_random_nonblock",
	"getrandom_insecure_nonblock", "getrandom_big", "i386_getrandom", "i386_open_urandom",
	"open_urandom", "open_random", "openat_urandom", "openat2_random", "openat_dirfd", "open_dotdot", "open_relative", "open_relative_dotdot", "open_symlink",
	"reopen_proc_self_fd", "reopen_dev_fd", "urandom_second_read", "urandom_256k_tail", "uuid", "boot_id",
}

var randomRefused = map[string]string{"getrandom_random_insecure": "err EINVAL", "getrandom_badflag": "err EINVAL"}

// TestRandomSeedSandbox: with random_seed every source (getrandom with each flag, its i386
// number, each open spelling of /dev/urandom and /dev/random, uuid, boot_id) reads the same
// bytes in two runs, and other bytes under another seed; without it, two runs differ (the
// control: a source the feature missed would pass the first check only by luck).
func TestRandomSeedSandbox(t *testing.T) {
	link := filepath.Join(t.TempDir(), "rnd")
	if err := os.Symlink("/dev/urandom", link); err != nil {
		t.Fatal(err)
	}
	flags := func(seed string) []string {
		f := append([]string{}, sandboxRead...)
		f = append(f, "-r", escapeBins(t), "-r", filepath.Dir(link))
		if seed != "" {
			f = append(f, "--random-seed", seed)
		}
		return f
	}
	a := determinismOut(t, flags("42"), "random", link)
	b := determinismOut(t, flags("42"), "random", link)
	c := determinismOut(t, flags("-42"), "random", link)
	u1 := determinismOut(t, flags(""), "random", link)
	u2 := determinismOut(t, flags(""), "random", link)
	for _, name := range randomSources {
		if a[name] == "n/a" {
			t.Logf("%s: not applicable here (%s)", name, hostI386(t))
			continue
		}
		switch {
		case a[name] == "" || strings.HasPrefix(a[name], "err"):
			t.Errorf("%s: got %q, want bytes", name, a[name])
		case a[name] != b[name]:
			t.Errorf("%s: seed 42 read %s then %s, want the same bytes", name, a[name], b[name])
		case a[name] == c[name]:
			t.Errorf("%s: seeds 42 and -42 both read %s", name, a[name])
		case name == "boot_id" && u1[name] == a[name]:
			t.Errorf("boot_id: the host's %s under a seed", a[name]) // the host's is fixed until reboot
		case name != "boot_id" && u1[name] == u2[name]:
			t.Errorf("%s: without a seed two runs read %s (the control)", name, u1[name])
		}
	}
	for name, want := range randomRefused {
		if a[name] != want || u1[name] != want {
			t.Errorf("%s: got %q (seeded) and %q (unseeded), want %q", name, a[name], u1[name], want)
		}
	}
	if a["open_urandom"] == a["openat_urandom"] || a["getrandom_0"] == a["getrandom_nonblock"] {
		t.Errorf("two opens or two calls read the same bytes: %v", a)
	}
}

// TestRandomSeedShell: busybox's `head -c 32 /dev/urandom | od -x`, in the sandbox and in a
// container (annotation io.sandlock.random_seed).
func TestRandomSeedShell(t *testing.T) {
	requireSetup(t)
	script := "head -c 32 /dev/urandom | od -x; head -c 8 /dev/random | od -x"
	sandboxRun := func(seed string) string {
		flags := append([]string{}, sandboxRead...)
		if seed != "" {
			flags = append(flags, "--random-seed", seed)
		}
		r := rtWith(t, nil, sandboxArgs(flags, "busybox", "sh", "-c", script)...)
		if r.code != 0 || len(r.stdout) < 40 {
			t.Fatalf("sandbox: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	containerRun := func(seed string) string {
		var mutate func(*specs.Spec)
		if seed != "" {
			mutate = annotate(false, "random_seed", seed)
		}
		b := newBundleWith(t, mutate, "sh", "-c", script)
		id := newID()
		track(t, id)
		out, stderr, code := rt(t, "run", "--bundle", b, id)
		if code != 0 || len(out) < 40 {
			t.Fatalf("container: exit %d stdout %q stderr %q", code, out, stderr)
		}
		return out
	}
	for name, run := range map[string]func(string) string{"sandbox": sandboxRun, "container": containerRun} {
		t.Run(name, func(t *testing.T) {
			a, b, c := run("7"), run("7"), run("8")
			if a != b {
				t.Errorf("seed 7 printed\n%s\nthen\n%s", a, b)
			}
			if a == c {
				t.Errorf("seeds 7 and 8 both printed\n%s", a)
			}
			if u1, u2 := run(""), run(""); u1 == u2 {
				t.Errorf("without a seed two runs printed\n%s", u1)
			}
		})
	}
}

// TestRandomSeedRefused: the seeded stream stands for a read of the device, so it is given
// only where the process could read the device itself: fs_denied on /dev/urandom still
// refuses every spelling of it, and /proc's uuid outside fs_readable stays unreadable.
func TestRandomSeedRefused(t *testing.T) {
	requireSetup(t)
	link := filepath.Join(t.TempDir(), "rnd")
	if err := os.Symlink("/dev/urandom", link); err != nil {
		t.Fatal(err)
	}
	script := "head -c 4 /dev/urandom && echo URANDOM; head -c 4 " + link + " && echo LINK; " +
		"cat /proc/sys/kernel/random/uuid && echo UUID; head -c 4 /dev/random >/dev/null && echo RANDOM"
	flags := []string{"-r", "/usr", "-r", "/lib", "-r", "/lib64", "-r", "/bin", "-r", filepath.Dir(link),
		"--fs-denied", "/dev/urandom", "--random-seed", "3"}
	r := rtWith(t, nil, sandboxArgs(flags, "sh", "-c", script)...)
	for _, bad := range []string{"URANDOM", "LINK", "UUID"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("%s was read under fs_denied / without /proc: stdout %q stderr %q", bad, r.stdout, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "RANDOM") || strings.Count(r.stderr, "Permission denied") < 3 {
		t.Errorf("want /dev/random readable and three refusals (EACCES): stdout %q stderr %q", r.stdout, r.stderr)
	}
}

// scrambled makes a directory whose entries are created out of order (names with bytes
// above 0x7f, digits, capitals, long ones that fill a small buffer) and returns it with the
// sorted listing (bytewise, "." and ".." included).
func scrambled(t *testing.T) (dir string, sorted []string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "scrambled")
	names := []string{"zeta", "alpha", "Mid", "10", "9", "_under", "beta", "\u00e9t\u00e9", "aaa", "a-longer-name-xy", "B", "0"}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sorted = append([]string{".", ".."}, names...)
	slices.Sort(sorted)
	return dir, sorted
}

// scratchDir is a writable directory holding a..f, for the listing changed half-way.
func scratchDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "scratch")
	if err := os.Mkdir(d, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"c", "f", "a", "e", "b", "d"} {
		if err := os.WriteFile(filepath.Join(d, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// TestDeterministicDirsSandbox: with deterministic_dirs every listing is sorted by name: a
// small buffer (getdents64, the old getdents, both through the i386 entry point), readdir,
// seekdir to a position telldir gave, rewinddir, lseek to 0; a buffer too small for one entry
// is EINVAL; a listing changed half-way goes on with the directory as it was at its start and
// shows the change after a rewind. Without the field the same directory lists unsorted (the
// control: the test would not notice a broken feature otherwise).
func TestDeterministicDirsSandbox(t *testing.T) {
	dir, sorted := scrambled(t)
	want := strings.Join(sorted, ",")
	scratch := scratchDir(t)
	flags := append(append([]string{}, sandboxRead...), "-r", escapeBins(t), "-r", dir, "-w", filepath.Dir(scratch))
	got := determinismOut(t, append(flags, "--deterministic-dirs"), "dirs", dir, scratch)
	for _, name := range []string{"getdents64_tiny", "getdents64_relist", "getdents64_after_too_small", "getdents_tiny", "i386_getdents64", "i386_getdents", "readdir"} {
		if got[name] == "n/a" {
			t.Logf("%s: not applicable here (%s)", name, hostI386(t))
			continue
		}
		if got[name] != want {
			t.Errorf("%s: got %q, want %q", name, got[name], want)
		}
	}
	for name, w := range map[string]string{
		"getdents64_too_small": "err EINVAL", "seekdir_fourth": sorted[3], "rewinddir_first": sorted[0],
		"changed_first": ".,..,a,b", "changed_rest": "c,d,e,f", "changed_after_rewind": ".,..,0new,a,b,c,d,e",
	} {
		if got[name] != w {
			t.Errorf("%s: got %q, want %q", name, got[name], w)
		}
	}
	plain := determinismOut(t, flags, "dirs", dir)
	if plain["getdents64_tiny"] == want || plain["readdir"] == want {
		t.Errorf("without deterministic_dirs the listing is sorted already (%q): the test proves nothing here", plain["readdir"])
	}
}

// TestDeterministicDirsLs: `ls -f` (no sorting of its own) prints the directory sorted, twice
// the same, in the sandbox; with isolate_pids, /proc lists sorted and still without a host
// process, and with num_cpus the CPU directory shows the CPUs asked for, sorted (the features
// chain).
func TestDeterministicDirsLs(t *testing.T) {
	requireSetup(t)
	dir, sorted := scrambled(t)
	want := strings.Join(sorted, "\n") + "\n"
	for i := 0; i < 2; i++ {
		r := rtWith(t, nil, sandboxArgs(append(append([]string{}, sandboxRead...), "-r", dir, "--deterministic-dirs"), "ls", "-f", dir)...)
		if r.code != 0 || r.stdout != want {
			t.Errorf("ls -f: exit %d, got %q, want %q (stderr %q)", r.code, r.stdout, want, r.stderr)
		}
	}
	r := rtWith(t, nil, sandboxArgs(append(append([]string{}, sandboxRead...), "-r", dir), "ls", "-f", dir)...)
	if r.stdout == want {
		t.Errorf("without deterministic_dirs ls -f printed the sorted order already: the test proves nothing here")
	}
	victim, _ := procVictim(t)
	r = rtWith(t, nil, sandboxArgs([]string{"--deterministic-dirs", "--isolate-pids"}, "ls", "-f", "/proc")...)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || !slices.IsSorted(lines) || len(lines) < 10 {
		t.Errorf("ls -f /proc: exit %d, got %q, want it sorted (stderr %q)", r.code, lines, r.stderr)
	}
	if slices.Contains(lines, strconv.Itoa(victim)) {
		t.Errorf("ls -f /proc listed the host process %d under isolate_pids", victim)
	}
	// num_cpus' view of the CPU directory, then sorted: cpu0..cpu2 whatever the host has.
	r = rtWith(t, nil, sandboxArgs([]string{"--deterministic-dirs", "--num-cpus", "3"}, "ls", "-f", "/sys/devices/system/cpu")...)
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	var cpus []string
	for _, l := range lines {
		if len(l) > 3 && strings.HasPrefix(l, "cpu") && l[3] >= '0' && l[3] <= '9' {
			cpus = append(cpus, l)
		}
	}
	if r.code != 0 || !slices.IsSorted(lines) || !slices.Equal(cpus, []string{"cpu0", "cpu1", "cpu2"}) {
		t.Errorf("ls -f /sys/devices/system/cpu with num_cpus 3: exit %d, got %q, want it sorted with cpu0..cpu2 (stderr %q)", r.code, lines, r.stderr)
	}
}

// TestDeterministicDirsContainer: busybox find (readdir order) in a container, with the
// annotation and without (the control), and in a copy-on-write workdir where some entries are
// the lower directory's and some made in the layer.
func TestDeterministicDirsContainer(t *testing.T) {
	requireSetup(t)
	names := []string{"zeta", "alpha", "Mid", "10", "9", "beta", "aaa", "B"}
	sorted := append([]string{}, names...)
	slices.Sort(sorted)
	want := "/d\n/d/" + strings.Join(sorted, "\n/d/") + "\n"
	run := func(ann map[string]string) string {
		mutate := func(s *specs.Spec) {
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			maps.Copy(s.Annotations, ann)
		}
		b := newBundleWith(t, mutate, "find", "/d")
		if err := os.Mkdir(filepath.Join(b, "rootfs", "d"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(b, "rootfs", "d", n), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		id := newID()
		track(t, id)
		out, stderr, code := rt(t, "run", "--bundle", b, id)
		if code != 0 {
			t.Fatalf("find: exit %d stderr %q", code, stderr)
		}
		return out
	}
	if got := run(map[string]string{"io.sandlock.deterministic_dirs": "true"}); got != want {
		t.Errorf("with deterministic_dirs: got %q, want %q", got, want)
	}
	if got := run(nil); got == want {
		t.Errorf("without deterministic_dirs find printed the sorted order already: the test proves nothing here")
	}
	t.Run("cow workdir", func(t *testing.T) {
		wd, storage := t.TempDir(), t.TempDir()
		for _, n := range []string{"m", "c", "x"} {
			if err := os.WriteFile(filepath.Join(wd, n), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		flags := append(append([]string{}, sandboxRead...), cowFlags(wd, storage, "--deterministic-dirs", "--on-exit", "abort")...)
		r := rtWith(t, nil, sandboxArgs(flags, "sh", "-c", "cd "+wd+" && touch z a n && rm c && ls -f .")...)
		if w := ".\n..\na\nm\nn\nx\nz\n"; r.code != 0 || r.stdout != w {
			t.Errorf("ls -f in the workdir: exit %d, got %q, want %q (stderr %q)", r.code, r.stdout, w, r.stderr)
		}
	})
}

// TestRandomSeedContainerProgram: the determinism program in a container (annotation
// io.sandlock.random_seed): every source reads the same bytes under the same seed, other bytes
// under another.
func TestRandomSeedContainerProgram(t *testing.T) {
	prog := filepath.Join(escapeBins(t), "determinism")
	var env []string
	if hostI386(t) != "" {
		env = []string{"ESC_NO_I386=1"}
	}
	run := func(seed string) map[string]string {
		b := newBundleWith(t, chain(annotate(false, "random_seed", seed), withEnv(env)), "/determinism", "random", "/dev/../dev/urandom")
		if err := copyFile(prog, filepath.Join(b, "rootfs", "determinism"), 0o755); err != nil {
			t.Fatal(err)
		}
		id := newID()
		track(t, id)
		out, stderr, code := rt(t, "run", "--bundle", b, id)
		if code != 0 {
			t.Fatalf("determinism: exit %d stdout %q stderr %q", code, out, stderr)
		}
		return nameLines(out)
	}
	a, b, c := run("11"), run("11"), run("12")
	if a["i386_open_null"] != "ok" && a["i386_open_null"] != "n/a" {
		t.Errorf("i386 open of /dev/null in a container: %q, want ok (nothing traps the opens natively only there)", a["i386_open_null"])
	}
	for _, name := range randomSources {
		switch {
		case a[name] == "n/a" && strings.HasPrefix(name, "i386"):
		case a[name] == "" || strings.HasPrefix(a[name], "err"):
			t.Errorf("%s: got %q, want bytes", name, a[name])
		case a[name] != b[name]:
			t.Errorf("%s: seed 11 read %s then %s, want the same bytes", name, a[name], b[name])
		case a[name] == c[name]:
			t.Errorf("%s: seeds 11 and 12 both read %s", name, a[name])
		}
	}
}
