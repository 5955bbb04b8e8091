package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/spec"
)

// InitFDs are the fds create hands the init process, named by flags.
type InitFDs struct {
	Init, XS, ZS, Kill int
}

// Init is the container's init process (X in docs/design.md). It must run on the main
// thread, locked (the CLI locks it in main's init), because every confinement step below acts on
// the calling thread and the final execve keeps exactly that thread's credentials.
//
// Sync protocol (initpipe = create, xs = supervisor):
//
//	create --initConfig--> X
//	X: rlimits, open /dev/null, prepare Landlock (opens host paths),
//	   chroot, resolve the program, no_new_privs, Landlock restrict, seccomp load
//	X --listener fd--> S (xs)
//	X: fork zygote Z (same thread: same domain, same filters)
//	X --{zygotePid}--> create; initpipe closed
//	S --"go"--> X (on start)
//	X: startContainer hooks, close fds, drop privileges, execve
//	   xs is CLOEXEC: S sees EOF when execve succeeded; every failure after create returned
//	   (a hook, a drop step, execve) is written to xs as text before X exits, so start
//	   reports it
//
// It only returns if something failed; the caller exits non-zero.
func Init(f InitFDs) error {
	initPipe := os.NewFile(uintptr(f.Init), "initpipe")
	xs := os.NewFile(uintptr(f.XS), "xs")
	cfg, packed, err := prepareInit(f, initPipe, xs)
	if err != nil {
		err = stepErr(StepConfig, err)
		reply := initReply{Error: err.Error()}
		_ = errors.As(err, &reply.Err)
		_ = sendJSON(initPipe, reply)
		return err
	}
	initPipe.Close()
	err = stepErr(StepExec, startInit(cfg, packed, xs))
	_, _ = xs.Write(encodeStepErr(StepExec, err))
	return err
}

func prepareInit(f InitFDs, initPipe, xs *os.File) (*initConfig, []byte, error) {
	var cfg initConfig
	if err := recvJSON(initPipe, &cfg); err != nil {
		return nil, nil, fmt.Errorf("init config: %w", err)
	}
	packed, err := confineInit(&cfg, f, initPipe, xs)
	return &cfg, packed, err
}

// startInit waits for start, then runs the startContainer hooks and execs. It only returns
// with an error.
func startInit(cfg *initConfig, packed []byte, xs *os.File) error {
	if err := awaitStart(xs); err != nil {
		return err
	}
	if err := runHooks("startContainer", cfg.StartHooks, cfg.State); err != nil {
		return err
	}
	if err := closeFDsForExec(cfg.PreserveFDs); err != nil {
		return err
	}
	return confine.ExecPacked(packed)
}

// confineInit applies everything in the documented order and forks the zygote. On success it
// has already told create it is ready.
func confineInit(cfg *initConfig, f InitFDs, initPipe, xs *os.File) ([]byte, error) {
	if adj := cfg.Process.OOMScoreAdj; adj != nil { // inherited by the zygote and every exec
		if err := os.WriteFile("/proc/self/oom_score_adj", fmt.Appendf(nil, "%d", *adj), 0); err != nil {
			return nil, fmt.Errorf("process.oomScoreAdj: %w", err)
		}
	}
	img, err := imageFor(cfg.Process)
	if err != nil {
		return nil, err
	}
	img.Setsid = img.SetCtty || !cfg.KeepSession
	img.Rlimits = withoutRlimits(img.Rlimits, cfg.Plan.Process)
	if err := checkRlimits(img.Rlimits); err != nil {
		return nil, err
	}
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/null: %w", err)
	}
	img.Filters = cfg.ExecFilters
	if cfg.COW != nil { // before Landlock opens its paths: the rules must name the overlay
		if err := cfg.COW.enter(initPipe); err != nil {
			return nil, stepErr(StepCOW, err)
		}
	}
	rs, err := confine.PrepareLandlock(cfg.Plan.Landlock)
	if err != nil {
		return nil, stepErr(StepLandlock, err)
	}
	if err := enterRoot(cfg.Rootfs); err != nil {
		return nil, stepErr(StepChroot, err)
	}
	if img.Path, err = lookPath(img.Path, img.Env); err != nil {
		return nil, stepErr(StepExec, err)
	}
	if err := checkCwd(img.Cwd); err != nil {
		return nil, err
	}
	if err := cfg.Plan.Process.Apply(); err != nil {
		return nil, err
	}
	if err := noNewPrivs(cfg.Process.NoNewPrivileges); err != nil {
		return nil, stepErr(StepNoNewPrivs, err)
	}
	if err := rs.RestrictSelf(); err != nil {
		return nil, stepErr(StepLandlock, fmt.Errorf("landlock: %w", err))
	}
	rs.Close()
	listener, err := confine.LoadPrograms(cfg.Seccomp)
	if err != nil {
		return nil, stepErr(StepSeccomp, err)
	}
	if err := handOverListener(xs, listener); err != nil {
		return nil, stepErr(StepNotif, err)
	}
	zpid, err := confine.ForkZygote(f.ZS, zygoteKill(f.Kill), null)
	if err != nil {
		return nil, stepErr(StepFork, fmt.Errorf("zygote: %w", err))
	}
	for _, fd := range []int{f.ZS, f.Kill, null} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	packed, err := img.Pack()
	if err != nil {
		return nil, err
	}
	return packed, sendJSON(initPipe, initReply{ZygotePid: zpid})
}

// noNewPrivs sets no_new_privs when the process asks for it, and also when init lacks
// CAP_SYS_ADMIN: Landlock and seccomp then need it to load at all (an unprivileged runtime,
// the direct mode as a user). With CAP_SYS_ADMIN and process.noNewPrivileges false both load
// without it, so setuid and file-capability programs in the container gain what they would
// under runc, within the bounding set, and stay bound by Landlock and seccomp.
func noNewPrivs(asked bool) error {
	if !asked && hasCap(unix.CAP_SYS_ADMIN) {
		return nil
	}
	if err := confine.SetNoNewPrivs(); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	return nil
}

// zygoteKill is how the zygote ends the container if the supervisor dies: through the
// cgroup's cgroup.kill, or without a cgroup by killing init (docs/design.md says what that
// leaves out).
func zygoteKill(killFD int) int {
	if killFD < 0 {
		return confine.KillInit
	}
	return killFD
}

// checkRlimits fails create for a process.rlimits entry that could never be applied at exec:
// raising a hard limit needs CAP_SYS_RESOURCE. The limits themselves are set by the C exec step
// right before execve, so they bind the program and not the runtime (a small RLIMIT_AS would
// otherwise starve init's own Go code).
func checkRlimits(rls []confine.Rlimit) error {
	if hasCap(unix.CAP_SYS_RESOURCE) {
		return nil
	}
	for _, r := range rls {
		var cur unix.Rlimit
		if err := unix.Getrlimit(r.Type, &cur); err != nil {
			return fmt.Errorf("getrlimit %d: %w", r.Type, err)
		}
		if r.Hard > cur.Max {
			return fmt.Errorf("setrlimit %s: hard limit %d above the current %d needs CAP_SYS_RESOURCE, which the runtime does not have: %w",
				rlimitName(r.Type), r.Hard, cur.Max, unix.EPERM)
		}
	}
	return nil
}

func rlimitName(t int) string {
	for _, n := range []string{"RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE",
		"RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
		"RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME"} {
		if v, err := spec.RlimitType(n); err == nil && v == t {
			return n
		}
	}
	return strconv.Itoa(t)
}

// hasCap reports whether capability c is in our effective set.
func hasCap(c int) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && m&(1<<uint(c)) != 0
		}
	}
	return false
}

// withoutRlimits drops the entries for resources the policy sets: the policy wins (its limits
// are applied to init and inherited by everything after).
func withoutRlimits(rls []confine.Rlimit, policy confine.ProcessSettings) []confine.Rlimit {
	return slices.DeleteFunc(rls, func(r confine.Rlimit) bool { return policy.SetsRlimit(r.Type) })
}

// enterRoot chroots into an image rootfs. Without a mount namespace there is nothing to
// pivot; chroot is safe here because chroot(2) itself is denied by seccomp afterwards,
// CAP_SYS_CHROOT is dropped unless asked for, no fd of the host survives exec, and Landlock
// denies every path outside the rootfs anyway.
func enterRoot(rootfs string) error {
	if rootfs == "/" {
		return nil
	}
	if err := unix.Chroot(rootfs); err != nil {
		return fmt.Errorf("chroot %s: %w", rootfs, err)
	}
	return unix.Chdir("/")
}

func checkCwd(cwd string) error {
	fi, err := os.Stat(cwd)
	if err != nil {
		return fmt.Errorf("process.cwd %s: %w", cwd, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("process.cwd %s: not a directory", cwd)
	}
	return nil
}

// handOverListener tells create the listener's fd number (a plain write: sendmsg, which could
// carry the fd, is trapped by the filter just loaded and nobody answers yet), waits until create
// has taken it with pidfd_getfd (as init's parent, which Yama allows) and handed it to the
// supervisor (handoff.go), and closes it.
func handOverListener(xs *os.File, listener int) error {
	if listener < 0 {
		return errors.New("seccomp: no notification listener")
	}
	defer unix.Close(listener) // the container must never hold its own listener
	if _, err := unix.Write(int(xs.Fd()), []byte(listenerMsg+strconv.Itoa(listener))); err != nil {
		return fmt.Errorf("hand listener to supervisor: %w", err)
	}
	b := make([]byte, 16)
	n, err := unix.Read(int(xs.Fd()), b)
	if err != nil || string(b[:max(n, 0)]) != listenerTaken {
		return errors.New("hand listener to supervisor: the supervisor did not take it")
	}
	return nil
}

// The listener hand-over's messages on xs (SOCK_SEQPACKET).
const (
	listenerMsg   = "listener "
	listenerTaken = "taken"
)

// awaitStart blocks until the supervisor says go; EOF means it died and the container must
// not run unsupervised.
func awaitStart(xs *os.File) error {
	b := make([]byte, 16)
	n, err := xs.Read(b)
	if err != nil || string(b[:n]) != "go" {
		return errors.New("supervisor went away before start")
	}
	return nil
}

// closeFDsForExec leaves only 0-2, the preserved fds and xs (CLOEXEC) open across exec.
func closeFDsForExec(preserve int) error {
	first := 3 + preserve
	for fd := 3; fd < first; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("preserve fd %d: %w", fd, err)
		}
	}
	// Mark the rest close-on-exec instead of closing them: the Go runtime still owns some.
	if err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	return nil
}
