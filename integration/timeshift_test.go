package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandlock/sandlock-runtime/internal/children"
	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// The time_start tests: testdata/timeshift/clocks.c reads the wall clock every way a program
// can (the vDSO through libc, the raw syscalls, a clockid with high bits set, the legacy
// vsyscall page, i386 int 0x80),
// from the program, a forked child and an exec'd program, and sleeps to absolute deadlines;
// goclock reads it through the Go runtime (which calls the vDSO itself). Every read must be
// time_start plus a little, or refused; none may be the host's time.

// y2k is the time_start of these tests, 2000-01-01T00:00:00Z: far enough from any host clock
// that a real-time answer cannot pass for it.
const y2k = 946684800

// slack is how far past time_start a read may be: the time the test's programs take to start
// and run on a loaded machine (a bound far below the 26 years a real-time answer is off by).
const slack = 300

// timeshiftBins builds clocks (gcc -static -no-pie: the i386 calls pass buffers below 4 GiB),
// clocks-musl (musl-gcc -static, when musl-tools is installed) and goclock once.
func timeshiftBins(t *testing.T) string {
	return testBins(t, "timeshift-bin", "time_start rewrites the x86_64 vDSO: x86_64 only", func(dir string) error {
		src := filepath.Join(repoRoot, "integration", "testdata", "timeshift")
		if out, err := exec.Command("gcc", "-static", "-no-pie", "-O1", "-pthread", "-o", filepath.Join(dir, "clocks"), filepath.Join(src, "clocks.c")).CombinedOutput(); err != nil {
			return fmt.Errorf("gcc clocks.c: %v\n%s", err, out)
		}
		if musl, err := exec.LookPath("musl-gcc"); err == nil {
			if out, err := exec.Command(musl, "-static", "-O1", "-pthread", "-o", filepath.Join(dir, "clocks-musl"), filepath.Join(src, "clocks.c")).CombinedOutput(); err != nil {
				return fmt.Errorf("musl-gcc clocks.c: %v\n%s", err, out)
			}
		}
		gb := exec.Command("go", "build", "-o", filepath.Join(dir, "goclock"), "./integration/testdata/timeshift/goclock")
		gb.Dir, gb.Env = repoRoot, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := gb.CombinedOutput(); err != nil {
			return fmt.Errorf("go build goclock: %v\n%s", err, out)
		}
		return nil
	})
}

// clockReads parses "NAME VALUE" lines (comments "# ..." skipped) into name -> value; a name
// read twice (the family's self, fork and exec sections) is prefixed by its section.
func clockReads(out string) map[string]string {
	reads, section := map[string]string{}, "self"
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if s, ok := strings.CutPrefix(l, "# "); ok {
			section = s
			continue
		}
		k, v, _ := strings.Cut(l, " ")
		reads[section+"/"+k] = v
	}
	return reads
}

// checkVirtual fails for every read that is not within [start, start+slack], except the
// i386 ones, which must be refused (or n/a on a host without an i386 entry). want lists
// names (without section) that must be present.
func checkVirtual(t *testing.T, out string, start int64, want ...string) {
	t.Helper()
	reads := clockReads(out)
	for _, w := range want {
		if _, ok := reads[w]; !ok {
			t.Errorf("no %s in the output:\n%s", w, out)
		}
	}
	for k, v := range reads {
		if v == "n/a" && strings.Contains(k, "vsyscall") {
			continue // the kernel maps no vsyscall page here
		}
		if strings.Contains(k, "i386") {
			if !strings.HasPrefix(v, "refused") && v != "n/a" {
				t.Errorf("%s: got %q, want refused: an i386 read of the wall clock went around time_start", k, v)
			}
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < start || n > start+slack {
			t.Errorf("%s: got %q, want a time in [%d, %d] (time_start); the host's time is %d", k, v, start, start+slack, time.Now().Unix())
		}
	}
}

var familyReads = []string{"self/vdso_clock_gettime", "self/sys_clock_gettime", "self/vdso_gettimeofday",
	"self/sys_gettimeofday", "self/vdso_time", "self/sys_time", "self/sys_clock_gettime_highbits",
	"self/i386_clock_gettime", "fork/vdso_clock_gettime", "fork/sys_time", "exec/vdso_clock_gettime",
	"exec/sys_gettimeofday", "exec/vdso_time", "self/vsyscall_time", "self/vsyscall_gettimeofday"}

// TestTimeStartSandbox: `sandbox --time-start`: every spelling of a wall-clock read, in the
// program, a forked child and an exec'd program, and the Go runtime's, see time_start; the
// clock advances (busybox date around a sleep); absolute deadlines on CLOCK_REALTIME wake a
// second later, not at once (time_start is in the past: an untranslated deadline is long
// gone); without the field the host's time.
func TestTimeStartSandbox(t *testing.T) {
	bins := timeshiftBins(t)
	clocks := filepath.Join(bins, "clocks")
	r := rtWith(t, nil, "sandbox", "--time-start", "2000-01-01T00:00:00Z", "--", clocks, "family")
	if r.code != 0 {
		t.Fatalf("clocks family: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	checkVirtual(t, r.stdout, y2k, familyReads...)

	r = rtWith(t, nil, "sandbox", "--time-start", strconv.Itoa(y2k), "--", filepath.Join(bins, "goclock"))
	checkVirtual(t, r.stdout, y2k, "self/go")

	if date, err := exec.LookPath("date"); err == nil { // coreutils: a dynamic glibc program
		r = rtWith(t, nil, "sandbox", "--time-start", strconv.Itoa(y2k), "--", date, "+%s")
		checkVirtual(t, "date "+r.stdout, y2k, "self/date")
	}

	r = rtWith(t, nil, "sandbox", "--time-start", strconv.Itoa(y2k), "--", "busybox", "sh", "-c", "date +%s; sleep 2; date +%s")
	f := strings.Fields(r.stdout)
	if len(f) != 2 {
		t.Fatalf("date; sleep 2; date: got %q (stderr %q)", r.stdout, r.stderr)
	}
	checkVirtual(t, "date "+f[0]+"\n# later\ndate "+f[1], y2k, "self/date", "later/date")
	if a, b := atoi64(f[0]), atoi64(f[1]); b-a < 1 {
		t.Errorf("date before and after sleep 2: %d, %d: the clock did not advance", a, b)
	}

	r = rtWith(t, nil, "sandbox", "--time-start", strconv.Itoa(y2k), "--", clocks, "sleep")
	checkSleeps(t, r)

	// musl's libc reads the vDSO its own way: the same reads and deadlines.
	if musl := filepath.Join(bins, "clocks-musl"); fileExists(musl) {
		r = rtWith(t, nil, "sandbox", "--time-start", strconv.Itoa(y2k), "--", musl, "family")
		checkVirtual(t, r.stdout, y2k, familyReads...)
		checkSleeps(t, rtWith(t, nil, "sandbox", "--time-start", strconv.Itoa(y2k), "--", musl, "sleep"))
	} else {
		defer testreq.Missing(t, "the musl build of clocks.c needs musl-gcc (apt-get install musl-tools; hack/install-deps.sh)")
	}

	r = rtWith(t, nil, "sandbox", "--", clocks, "read")
	now := time.Now().Unix()
	for k, v := range clockReads(r.stdout) {
		if strings.Contains(k, "i386") || v == "n/a" { // no i386 entry, no vsyscall page here
			continue
		}
		if n := atoi64(v); n < now-slack || n > now+slack {
			t.Errorf("without time_start: %s: got %q, want the host's time %d", k, v, now)
		}
	}
}

// checkSleeps: each absolute deadline one second ahead waited at least 900 ms (a bound below,
// which noise can only make longer).
func checkSleeps(t *testing.T, r result) {
	t.Helper()
	reads := clockReads(r.stdout)
	for _, k := range []string{"clock_nanosleep", "timerfd_settime", "timer_settime", "cond_timedwait", "sem_timedwait"} {
		v := reads["self/"+k]
		ms, ok := strings.CutPrefix(v, "waited ")
		if !ok || atoi64(ms) < 900 {
			t.Errorf("%s to a deadline a second ahead: got %q, want waited >= 900 ms (stdout %q, stderr %q)", k, v, r.stdout, r.stderr)
		}
	}
	if v := reads["self/nanosleep_signal"]; !strings.HasPrefix(v, "interrupted") {
		t.Errorf("a caught signal during an absolute clock_nanosleep: got %q, want interrupted (EINTR)", v)
	}
	if v := reads["self/cond_retry"]; v != "timedout" {
		t.Errorf("pthread_cond_timedwait again with the same past deadline: got %q, want timedout (stdout %q, stderr %q)", v, r.stdout, r.stderr)
	}
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n
}

// TestTimeStartContainer: annotation io.sandlock.time_start in a container: the same reads
// (the programs copied into the rootfs) and busybox date see time_start, sleeps wake right.
func TestTimeStartContainer(t *testing.T) {
	bins := timeshiftBins(t)
	bundle := func(start string, args ...string) string {
		t.Helper()
		b := newBundleWith(t, annotate(false, "time_start", start), args...)
		for _, p := range []string{"clocks", "goclock"} {
			if err := copyFile(filepath.Join(bins, p), filepath.Join(b, "rootfs", "bin", p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	run := func(args ...string) result {
		t.Helper()
		id := newID()
		track(t, id)
		return rtWith(t, nil, "run", "--bundle", bundle("2000-01-01T00:00:00Z", args...), id)
	}
	r := run("/bin/clocks", "family")
	if r.code != 0 {
		t.Fatalf("clocks family: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	checkVirtual(t, r.stdout, y2k, familyReads...)
	r = run("/bin/sh", "-c", "/bin/goclock; echo date $(date +%s)")
	checkVirtual(t, r.stdout, y2k, "self/go", "self/date")
	checkSleeps(t, run("/bin/clocks", "sleep"))

	// A process exec'd into the running container (through the zygote, not from init); the
	// annotation in unix seconds, written bare.
	id := newID()
	track(t, id)
	create(t, id, bundle(strconv.Itoa(y2k), "sleep", "100"))
	start(t, id)
	out, stderr, code := rt(t, "exec", id, "/bin/clocks", "read")
	if code != 0 {
		t.Fatalf("exec clocks read: exit %d: %s%s", code, out, stderr)
	}
	checkVirtual(t, out, y2k, "self/vdso_clock_gettime", "self/sys_time")
}

// TestTimeStartRestore: a `sandbox --name --time-start` run checkpointed and restored with
// `sandbox --time-start --restore` reads time_start again (the clock starts over), through
// the vDSO of the restored process, not the host's time.
func TestTimeStartRestore(t *testing.T) {
	bins := timeshiftBins(t)
	crBins(t) // criu-lite's requirements (x86-64, gcc)
	start := strconv.Itoa(y2k)
	out := newOutFile(t)
	id := newID()
	track(t, id)
	cmd, files := rtCommand(t, "sandbox", "--name", id, "--time-start", start, "--", filepath.Join(bins, "clocks"), "tick")
	cmd.Stdout = out.f
	if err := children.Start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); files[0].Close(); files[1].Close() })
	checkTick(t, out.line(t))
	image := crCheckpoint(t, id)
	_ = cmd.Wait()

	out2 := newOutFile(t)
	id2 := newID()
	track(t, id2)
	cmd2, files2 := rtCommand(t, "sandbox", "--name", id2, "--time-start", start, "--restore", image)
	cmd2.Stdout = out2.f
	if err := children.Start(cmd2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd2.Process.Kill(); _ = cmd2.Wait(); files2[0].Close(); files2[1].Close() })
	for range 3 {
		checkTick(t, out2.line(t))
	}
	if _, stderr, code := rt(t, "kill", id2, "KILL"); code != 0 {
		t.Fatalf("kill: %s", stderr)
	}
	_ = cmd2.Wait()
}

// checkTick: a "N SECONDS" line of clocks tick is time_start or a little later.
func checkTick(t *testing.T, l string) {
	t.Helper()
	f := strings.Fields(l)
	if len(f) != 2 || atoi64(f[1]) < y2k || atoi64(f[1]) > y2k+slack {
		t.Errorf("clocks tick printed %q, want N and a time in [%d, %d] (host time %d)", l, y2k, y2k+slack, time.Now().Unix())
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
