package lifecycle

import (
	"os"
	"path/filepath"
)

// Options are the global flags every command shares.
type Options struct {
	Root      string // state root
	LogPath   string // --log, passed on to the supervisor
	LogFormat string // text or json
	Debug     bool
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
	NoPivot       bool // accepted for compatibility: there is no pivot_root without a mount namespace
	NoNewKeyring  bool // accepted: keyctl is denied inside the container anyway
}

// self is the runtime binary, re-executed for the init, supervisor and exec-proxy processes.
func self() (string, error) { return os.Executable() }
