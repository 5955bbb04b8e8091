package sandbox

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

// The runtime re-executes its own binary (/proc/self/exe) as a sandbox's init, supervisor and
// exec proxy, with argv[0] "sandlock-runtime" and a hidden command. In the sandlock-runtime
// binary too, Reexec is the one place that reads these command lines (the CLI calls it first);
// any other program that uses this package must call Reexec first thing in main.

const reexecArgv0 = "sandlock-runtime"

var reexecCommands = []string{"init", "supervise", "exec-proxy", "checkpoint-helper", "cow-tree"}

func init() {
	if isReexec(os.Args) {
		// init confines the calling thread and execs from it: keep main on the main thread,
		// locked before anything else runs, as the CLI does.
		runtime.LockOSThread()
	}
}

// isReexec reports whether args are one of the runtime's own command lines.
func isReexec(args []string) bool {
	if len(args) < 2 || args[0] != reexecArgv0 {
		return false
	}
	_, cmd, _, err := parseGlobal(args[1:])
	return err == nil && cmd != ""
}

// Reexec runs this process as the runtime's own init, supervisor or exec proxy when the
// runtime re-executed it as one, and then exits; otherwise it returns false at once. Programs
// that create sandboxes call it first in main (and tests in TestMain):
//
//	func main() {
//		if sandbox.Reexec() {
//			return // not reached: Reexec exits
//		}
//		...
//	}
func Reexec() bool {
	if !isReexec(os.Args) {
		reexecCalled.Store(true)
		return false
	}
	if err := runReexec(os.Args[1:]); err != nil {
		// init has reported its error to create or to the supervisor, which report it to
		// the caller: its stderr is the command's, where it would be printed a second time.
		if !reportedByInit(err) {
			logrus.Error(err)
		}
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

// reexecCalled records that Reexec ran in this process (and returned: this is not one of the
// runtime's processes). Without it, the first sandbox would re-execute a program that never
// serves as init: its main would start sandboxes of its own, a new generation every time.
var reexecCalled atomic.Bool

// errNoReexec is what starting a sandbox returns when main did not call Reexec first.
var errNoReexec = errors.New("sandbox.Reexec() was not called first in main: the runtime re-executes this program as the sandbox's init and supervisor (docs/sandbox.md, \"The Go API\")")

// checkReexec stops a sandbox from starting in a program that cannot serve it. In a process
// the runtime re-executed (main never called Reexec, or called it too late) it exits at once
// instead: starting a sandbox there would be the next generation of a fork bomb.
func checkReexec() error {
	if isReexec(os.Args) {
		fmt.Fprintln(os.Stderr, "sandlock-runtime:", errNoReexec)
		os.Exit(125)
	}
	if !reexecCalled.Load() {
		return errNoReexec
	}
	return nil
}

// reportedByInit reports whether err is init's, already sent to the process that started it.
func reportedByInit(err error) bool {
	var se *lifecycle.StepError
	return errors.As(err, &se)
}

// global are the runtime's global flags that come before a re-executed command.
type global struct {
	log, logFormat string
	debug          bool
}

// parseGlobal reads the global flags and returns the command and its arguments; cmd is ""
// when the first argument after them is not one of the runtime's own commands.
func parseGlobal(args []string) (g global, cmd string, rest []string, err error) {
	fs := flag.NewFlagSet(reexecArgv0, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.log, "log", "", "")
	fs.StringVar(&g.logFormat, "log-format", "text", "")
	fs.BoolVar(&g.debug, "debug", false, "")
	if err := fs.Parse(args); err != nil {
		return g, "", nil, err
	}
	if fs.NArg() == 0 || !slices.Contains(reexecCommands, fs.Arg(0)) {
		return g, "", nil, nil
	}
	return g, fs.Arg(0), fs.Args()[1:], nil
}

func runReexec(args []string) error {
	g, cmd, rest, err := parseGlobal(args)
	if err != nil {
		return err
	}
	if err := g.setupLogging(); err != nil {
		return err
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fds := map[string]*int{}
	for _, n := range []string{"fd-init", "fd-xs", "fd-zs", "fd-kill", "fd-ctl", "fd-pidfd", "fd-ready", "fd-conn", "fd-handoff"} {
		fds[n] = fs.Int(n, -1, "")
	}
	var sa lifecycle.SuperviseArgs
	fs.StringVar(&sa.StateDir, "state-dir", "", "")
	fs.IntVar(&sa.InitPid, "init-pid", 0, "")
	fs.StringVar(&sa.Cgroup, "cgroup", "", "")
	fs.StringVar(&sa.CgroupMount, "cgroup-mount", "", "")
	fs.StringVar(&sa.Hostname, "hostname", "", "")
	fs.BoolVar(&sa.KillOnInitExit, "kill-on-init-exit", false, "")
	var co lifecycle.CheckpointOpts
	fs.StringVar(&co.ImagePath, "image-path", "", "")
	fs.BoolVar(&co.LeaveRunning, "leave-running", false, "")
	cow := fs.String("cow", "", "")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	switch cmd {
	case "checkpoint-helper":
		return lifecycle.CheckpointHelper(sa.StateDir, co)
	case "cow-tree":
		return lifecycle.COWTree(*fds["fd-conn"], *cow)
	}
	return dispatch(cmd, fds, sa)
}

func dispatch(cmd string, fd map[string]*int, sa lifecycle.SuperviseArgs) error {
	switch cmd {
	case "init":
		return lifecycle.Init(lifecycle.InitFDs{Init: *fd["fd-init"], XS: *fd["fd-xs"], ZS: *fd["fd-zs"], Kill: *fd["fd-kill"]})
	case "supervise":
		sa.HandOff, sa.ZS, sa.Ctl, sa.InitPidfd, sa.Ready = *fd["fd-handoff"], *fd["fd-zs"], *fd["fd-ctl"], *fd["fd-pidfd"], *fd["fd-ready"]
		return lifecycle.Supervise(sa)
	case "exec-proxy":
		lifecycle.ExecProxy(*fd["fd-conn"], *fd["fd-pidfd"])
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// setupLogging is the CLI's logging setup, for the supervisor's log lines.
func (g global) setupLogging() error {
	logrus.SetLevel(logrus.WarnLevel)
	if g.debug {
		logrus.SetLevel(logrus.DebugLevel)
	}
	switch g.logFormat {
	case "json":
		logrus.SetFormatter(&logrus.JSONFormatter{})
	case "text", "":
		logrus.SetFormatter(&logrus.TextFormatter{DisableColors: true})
	default:
		return fmt.Errorf("unknown --log-format %q: want text or json", g.logFormat)
	}
	if g.log == "" {
		return nil
	}
	f, err := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
	if err != nil {
		return fmt.Errorf("open log %s: %w", g.log, err)
	}
	logrus.SetOutput(f)
	return nil
}
