// Command soak (`make soak`) drives bin/sandlock-runtime through its lifecycle many times and
// through crashes, then checks that nothing of any container is left on the host:
//
//	cycles      N create/start/kill/delete cycles, P in parallel (one bundle per worker)
//	crash       create SIGKILLed after increasing delays (every step of create is hit),
//	            each time followed by `delete --force`, which must leave nothing
//	supervisor  the supervisor of a running container SIGKILLed: the container must die
//
// After each crash trial and at the end it counts leaks: processes of the runtime binary or
// in a container's cgroup, mounts under the work dir, entries under the private --root,
// container cgroup dirs. It prints its figures and exits 1 on any failure or leak.
//
// It needs root. It runs itself again in a private mount namespace, so a leaked mount is
// counted but cannot stay in the host's table, and it is the subreaper of everything the
// runtime leaves behind (as a containerd shim is), reaping those processes itself.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const envInNS = "SANDLOCK_SOAK_IN_MNTNS"

type config struct {
	bin        string        // absolute path of the runtime binary under test
	work       string        // scratch dir: bundles and the private --root
	root       string        // the runtime's --root
	cgParent   string        // the cgroup2 dir every container of this run is placed under
	cycles     int           // lifecycle cycles
	parallel   int           // lifecycle workers
	crashes    int           // create kill trials
	eventReps  int           // create kills at each observed step of create
	supKills   int           // supervisor kill trials
	settle     time.Duration // how long a process may take to go away after delete
	mkbundle   string        // hack/mkbundle.sh
	cgroupMnt  string
	cgParentRl string         // cgParent relative to the cgroup2 mount, as config.json's cgroupsPath wants it
	baseline   map[int]uint64 // runtime processes alive before the run (pid -> start time)
}

func main() {
	c := parseFlags()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "soak: needs root (it creates containers, mounts and cgroups): FAILED")
		os.Exit(2)
	}
	if os.Getenv(envInNS) == "" {
		os.Exit(reexecInMountNS())
	}
	os.Exit(run(c))
}

func parseFlags() *config {
	c := &config{}
	flag.StringVar(&c.bin, "bin", "bin/sandlock-runtime", "runtime binary under test")
	flag.IntVar(&c.cycles, "cycles", 1000, "create/start/kill/delete cycles")
	flag.IntVar(&c.parallel, "parallel", 10, "cycles run in parallel")
	flag.IntVar(&c.crashes, "crashes", 100, "create runs SIGKILLed at increasing delays")
	flag.IntVar(&c.eventReps, "event-kills", 3, "create runs SIGKILLed at each observed step of create")
	flag.IntVar(&c.supKills, "supervisor-kills", 10, "supervisors SIGKILLed under a running container")
	flag.StringVar(&c.mkbundle, "mkbundle", "hack/mkbundle.sh", "bundle maker (busybox rootfs + config.json)")
	flag.DurationVar(&c.settle, "settle", 5*time.Second, "how long processes may take to exit after delete")
	flag.Parse()
	abs, err := filepath.Abs(c.bin)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: runtime binary %s: %v\n", c.bin, err)
		os.Exit(2)
	}
	c.bin = abs
	return c
}

// reexecInMountNS runs this program again in a private mount namespace (Go makes / recursively
// private in the child) and returns its exit status. Without one the soak refuses to run: its
// crash trials are made to find leaked mounts, and those must not land in the host's table.
func reexecInMountNS() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	attr := &os.ProcAttr{
		Env:   append(os.Environ(), envInNS+"=1"),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS},
	}
	p, err := os.StartProcess(self, os.Args, attr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak: no private mount namespace:", err)
		return 2
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() { // the child cleans up and exits; a terminal's ^C reaches it directly as well
		for s := range sigs {
			_ = p.Signal(s)
		}
	}()
	st, err := p.Wait()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// run sets up, runs the three phases and prints the verdict.
func run(c *config) int {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "soak: PR_SET_CHILD_SUBREAPER:", err)
		return 2
	}
	stopReaper := startReaper()
	defer stopReaper()
	stopOnSignal()
	if err := setup(c); err != nil {
		fmt.Fprintln(os.Stderr, "soak: setup:", err)
		return 2
	}
	defer teardown(c)
	fmt.Printf("soak: %s, work dir %s, cgroup %s, load %s\n", c.bin, c.work, c.cgParent, loadAvg())
	bad := report("probe", runProbe(c))
	if bad > 0 {
		fmt.Println("soak: FAILED (the leak counter cannot be trusted)")
		return 1
	}
	bad += report("cycles", runCycles(c))
	bad += report("crash", runCrashes(c))
	bad += report("supervisor", runSupervisorKills(c))
	final := countLeaks(c, nil)
	fmt.Printf("leaks at the end: %s\n", final)
	bad += final.total()
	if stopping.Load() {
		fmt.Println("soak: INTERRUPTED: the figures above are partial")
		return 1
	}
	if bad > 0 {
		fmt.Printf("soak: FAILED (%d failures or leaks)\n", bad)
		return 1
	}
	fmt.Println("soak: PASSED (0 failures, 0 leaks)")
	return 0
}

// report prints a phase's result lines and returns its count of failures and leaks.
func report(phase string, r phaseResult) int {
	for _, l := range r.lines {
		fmt.Printf("%s: %s\n", phase, l)
	}
	for _, f := range r.failures {
		fmt.Printf("%s: FAIL: %s\n", phase, f)
	}
	return len(r.failures)
}

// phaseResult is what a phase prints: figures, then each failure or leak found.
type phaseResult struct {
	lines    []string
	failures []string
}

func (r *phaseResult) add(format string, a ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, a...))
}
func (r *phaseResult) fail(format string, a ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, a...))
}

// stopping is set by SIGINT or SIGTERM: the phases stop starting containers, and run cleans up.
var stopping atomic.Bool

func stopOnSignal() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		stopping.Store(true)
	}()
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(b) < 14 {
		return "?"
	}
	return string(b[:14])
}
