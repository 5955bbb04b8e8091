package lifecycle

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// exitCode maps a wait status to a shell-style code: the exit code, or 128+N for signal N.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// mirrorExit ends this process the way the waited-for process ended, so a caller reaping us
// (conmon, the containerd shim) reads the same wait status: the same exit code, or death by
// the same signal (with core dumps off so we don't dump one of our own).
func mirrorExit(ws unix.WaitStatus) {
	if !ws.Signaled() {
		os.Exit(ws.ExitStatus())
	}
	sig := ws.Signal()
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	signal.Reset(sig)
	_ = unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
	// Signals that don't kill by default (or are ignored by our parent's settings) end here.
	os.Exit(128 + int(sig))
}

// forwarded are the signals run and exec pass on to the container's process. Subscribing to
// every signal would cost a sigaction per signal and thread at each start, and SIGCHLD,
// SIGURG (Go's preemption), SIGWINCH (the terminal relay's) and SIGPIPE are ours anyway.
var forwarded = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGALRM, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGVTALRM,
	unix.SIGPROF, unix.SIGPWR, unix.SIGSYS, unix.SIGTRAP, unix.SIGXCPU, unix.SIGXFSZ,
}
