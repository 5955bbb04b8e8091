package lifecycle

import (
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"github.com/sandlock/sandlock-runtime/spec"
)

// Options are the global flags every command shares.
type Options struct {
	Root      string // state root
	LogPath   string // --log, passed on to the supervisor
	LogFormat string // text or json
	Debug     bool
	// SystemdCgroup is --systemd-cgroup: cgroupsPath is "slice:prefix:name", and the container
	// is registered with systemd as a transient scope when systemd runs (systemd.go).
	SystemdCgroup bool
	// Logger receives what create and Launch report in this process (warnings, debug
	// timings); nil is logrus's standard logger, the CLI's. An embedder passes its own: a
	// library must not write on its host program's stderr.
	Logger Logger
}

// Logger is what create and Launch report through; logrus's loggers satisfy it.
type Logger interface {
	Debugf(format string, args ...any)
	Warnf(format string, args ...any)
}

func (o *Options) logger() Logger {
	if o.Logger == nil {
		return logrus.StandardLogger()
	}
	return o.Logger
}

// DefaultRoot is runc's convention: /run/<runtime> for root, $XDG_RUNTIME_DIR/<runtime> otherwise.
func DefaultRoot() string {
	if os.Geteuid() != 0 {
		if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
			return filepath.Join(d, "sandlock-runtime")
		}
	}
	return "/run/sandlock-runtime"
}

// CreateOpts are the flags of create (and run).
type CreateOpts struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	PreserveFDs   int
	// NoPivot and NoNewKeyring have no meaning here and are accepted because containerd and
	// podman pass them: init always chroots (there is no mount namespace to pivot_root in), and
	// the keyring syscalls are denied by seccomp, so no keyring is ever reachable from inside.
	NoPivot      bool
	NoNewKeyring bool
	// Keep (run --keep) leaves the stopped container for `delete`, as runc does.
	Keep bool
	// OnKept (run) is told the copy-on-write layer the container's end kept (on_exit or
	// on_error KEEP, or a refused commit), for the CLI to say where it is.
	OnKept func(layer string)

	// For embedders (package sandbox, the sandbox command); the CLI leaves them nil.
	Spec   *specs.Spec  // an in-memory config instead of <Bundle>/config.json
	Stdio  *[3]*os.File // the container's stdin, stdout, stderr instead of ours
	Policy *spec.Policy // merged over the profile, OCI fields and annotations
	// Direct marks the direct mode (a host command on the host's /dev): the host's terminals
	// are hidden, only the ones on Stdio stay reachable (docs/sandbox.md).
	Direct bool
	// KeepSession leaves init in the caller's session instead of a new one (without
	// process.terminal): the direct mode's command keeps the caller's terminal on purpose.
	KeepSession bool
	// restore (set by Restore only): init execs the program with ADDR_NO_RANDOMIZE, so that
	// the fresh program's brk lies below the saved one (criu-lite moves it up to it).
	restore bool
	// restoreWorkdir, restoreLayer (restore only): the image's copy-on-write workdir and the
	// copy of its layer, which seeds the new container's layer (cow.go).
	restoreWorkdir, restoreLayer string
	// restorePid (restore only): the pid init had; asked for through ns_last_pid when init
	// is forked, best effort (criulite.ReservePid).
	restorePid int
	// DryRun makes the policy's copy-on-write layer a dry run: always discarded; the caller
	// reads its changes (Handle.Changes) first.
	DryRun bool
}

// self is the runtime binary, re-executed for the init, supervisor and exec-proxy processes.
func self() (string, error) { return os.Executable() }

// runtimeEnv is the whole environment of the runtime's own processes (init, supervisor, exec
// proxy): nothing of the caller's leaks into them (the container's comes from config.json).
var runtimeEnv = []string{}
