package lifecycle

import (
	"encoding/json"
	"errors"
	"syscall"
)

// StepError is a failure of one step of starting a container, with a structure that survives
// the process boundaries it crosses (init -> create over initpipe; init -> supervisor -> the
// start request over xs and sup.sock): callers (package sandbox's typed errors) look at Step
// and Errno, never at the wording of Msg.
type StepError struct {
	// Step is what failed: one of the Step* constants.
	Step string `json:"step"`
	// Errno is the failing errno, 0 when there is none: errors.Is(err, unix.EACCES) works.
	Errno syscall.Errno `json:"errno,omitempty"`
	// Msg is the one-line message, without the step's process-internal prefixes.
	Msg string `json:"msg"`
	// NotExecutable: the program was found but its own type or mode forbids executing it (a
	// directory, no execute bit), seen before the policy applies: an EACCES that is not the
	// policy's refusal.
	NotExecutable bool `json:"not_executable,omitempty"`
}

// The steps a StepError names.
const (
	StepPolicy     = "policy"       // the sandlock policy cannot be applied as written
	StepConfig     = "config"       // the container's configuration (process, rlimits, cwd)
	StepLandlock   = "landlock"     // preparing or enforcing the Landlock ruleset
	StepSeccomp    = "seccomp"      // loading the seccomp filters
	StepNotif      = "notif"        // the seccomp listener and the supervisor
	StepChroot     = "chroot"       // entering the root
	StepNoNewPrivs = "no_new_privs" // prctl(PR_SET_NO_NEW_PRIVS)
	StepFork       = "fork"         // starting init, the supervisor or the zygote
	StepExec       = "exec"         // finding and executing the program, dropping privileges
	StepCOW        = "cow"          // mounting the copy-on-write workdir
)

func (e *StepError) Error() string { return e.Msg }

func (e *StepError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// stepErr tags err with step, keeping its errno; a StepError already tagged stays as it is.
func stepErr(step string, err error) error {
	if err == nil {
		return nil
	}
	var se *StepError
	if errors.As(err, &se) {
		return err
	}
	e := &StepError{Step: step, Msg: err.Error()}
	_ = errors.As(err, &e.Errno)
	return e
}

// encodeStepErr is err as it crosses a process boundary.
func encodeStepErr(step string, err error) []byte {
	var se *StepError
	_ = errors.As(stepErr(step, err), &se)
	b, _ := json.Marshal(se)
	return b
}

// decodeStepErr reads what encodeStepErr wrote; anything else (a peer of another version)
// becomes a StepError of step with the text as its message.
func decodeStepErr(step string, b []byte) *StepError {
	var se StepError
	if json.Unmarshal(b, &se) != nil || se.Step == "" {
		return &StepError{Step: step, Msg: string(b)}
	}
	return &se
}
