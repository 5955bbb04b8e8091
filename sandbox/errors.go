package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/cowfs"
	"github.com/sandlock/sandlock-runtime/lifecycle"
	"github.com/sandlock/sandlock-runtime/spec"
)

// The error tree mirrors the sandlock SDK's exceptions (sandlock/exceptions.py):
//
//	SandlockError
//	├── PolicyError                  invalid policy
//	├── SandboxError                 sandbox lifecycle
//	│   ├── ForkError                starting the sandbox's processes failed
//	│   ├── ChildError               the command ended abnormally (killed by ctx, ...)
//	│   ├── BranchError              COW branch operation (the copy-on-write issue)
//	│   │   └── BranchConflictError
//	│   └── ConfinementError         Landlock, seccomp or chroot setup failed
//	│       ├── LandlockUnavailableError
//	│       └── SeccompError
//	│           └── NotifError       the seccomp user-notification supervisor
//	└── MemoryProtectError
//
// Every error this package returns is a *SandlockError. The other types are views of it:
// errors.As(err, &pe) with pe a *PolicyError succeeds for a policy error, and for a
// descendant's ancestors too (a *LandlockUnavailableError is a *ConfinementError and a
// *SandboxError). errors.Is matches the Err* sentinels the same way, and reaches the cause
// (a *spec.PolicyError, lifecycle.ErrNotRunning, context.DeadlineExceeded) through Unwrap.

type kind int

const (
	kindSandlock kind = iota
	kindPolicy
	kindSandbox
	kindFork
	kindChild
	kindBranch
	kindBranchConflict
	kindConfinement
	kindLandlock
	kindSeccomp
	kindNotif
	kindMemoryProtect
)

var parentOf = map[kind]kind{
	kindPolicy: kindSandlock, kindSandbox: kindSandlock, kindMemoryProtect: kindSandlock,
	kindFork: kindSandbox, kindChild: kindSandbox, kindBranch: kindSandbox, kindConfinement: kindSandbox,
	kindBranchConflict: kindBranch, kindLandlock: kindConfinement, kindSeccomp: kindConfinement,
	kindNotif: kindSeccomp,
}

// isA reports whether k is anc or descends from it.
func (k kind) isA(anc kind) bool {
	for {
		if k == anc {
			return true
		}
		p, ok := parentOf[k]
		if !ok {
			return false
		}
		k = p
	}
}

// Sentinels for errors.Is, one per class of the tree.
var (
	ErrSandlock        = errors.New("sandlock error")
	ErrPolicy          = errors.New("invalid sandlock policy")
	ErrSandbox         = errors.New("sandbox error")
	ErrFork            = errors.New("sandbox start failed")
	ErrChild           = errors.New("sandboxed command ended abnormally")
	ErrBranch          = errors.New("COW branch operation failed")
	ErrBranchConflict  = errors.New("COW branch conflict")
	ErrConfinement     = errors.New("confinement failed")
	ErrLandlockUnavail = errors.New("no Landlock support")
	ErrSeccomp         = errors.New("seccomp filter failed")
	ErrNotif           = errors.New("seccomp notification supervisor error")
	ErrMemoryProtect   = errors.New("mprotect failed")
	sentinelKinds      = map[error]kind{ErrSandlock: kindSandlock, ErrPolicy: kindPolicy, ErrSandbox: kindSandbox, ErrFork: kindFork, ErrChild: kindChild, ErrBranch: kindBranch, ErrBranchConflict: kindBranchConflict, ErrConfinement: kindConfinement, ErrLandlockUnavail: kindLandlock, ErrSeccomp: kindSeccomp, ErrNotif: kindNotif, ErrMemoryProtect: kindMemoryProtect}
)

// SandlockError is the base of every error of this package: what the sandbox was doing (Op)
// and the cause (Err).
type SandlockError struct {
	Op   string
	Err  error
	kind kind
}

// Error is one line: several causes (errors.Join of policy refusals) are separated by "; ".
func (e *SandlockError) Error() string {
	return "sandbox " + e.Op + ": " + strings.ReplaceAll(e.Err.Error(), "\n", "; ")
}
func (e *SandlockError) Unwrap() error { return e.Err }

// Is matches the sentinel of e's class and of every ancestor class.
func (e *SandlockError) Is(target error) bool {
	k, ok := sentinelKinds[target]
	return ok && e.kind.isA(k)
}

// The views: each embeds the *SandlockError it was taken from.
type (
	PolicyError              struct{ *SandlockError }
	SandboxError             struct{ *SandlockError }
	ForkError                struct{ *SandlockError }
	ChildError               struct{ *SandlockError }
	BranchError              struct{ *SandlockError }
	BranchConflictError      struct{ *SandlockError }
	ConfinementError         struct{ *SandlockError }
	LandlockUnavailableError struct{ *SandlockError }
	SeccompError             struct{ *SandlockError }
	NotifError               struct{ *SandlockError }
	MemoryProtectError       struct{ *SandlockError }
)

// As fills a pointer to any view whose class e belongs to.
func (e *SandlockError) As(target any) bool {
	var k kind
	var set func()
	switch t := target.(type) {
	case **PolicyError:
		k, set = kindPolicy, func() { *t = &PolicyError{e} }
	case **SandboxError:
		k, set = kindSandbox, func() { *t = &SandboxError{e} }
	case **ForkError:
		k, set = kindFork, func() { *t = &ForkError{e} }
	case **ChildError:
		k, set = kindChild, func() { *t = &ChildError{e} }
	case **BranchError:
		k, set = kindBranch, func() { *t = &BranchError{e} }
	case **BranchConflictError:
		k, set = kindBranchConflict, func() { *t = &BranchConflictError{e} }
	case **ConfinementError:
		k, set = kindConfinement, func() { *t = &ConfinementError{e} }
	case **LandlockUnavailableError:
		k, set = kindLandlock, func() { *t = &LandlockUnavailableError{e} }
	case **SeccompError:
		k, set = kindSeccomp, func() { *t = &SeccompError{e} }
	case **NotifError:
		k, set = kindNotif, func() { *t = &NotifError{e} }
	case **MemoryProtectError:
		k, set = kindMemoryProtect, func() { *t = &MemoryProtectError{e} }
	default:
		return false
	}
	if !e.kind.isA(k) {
		return false
	}
	set()
	return true
}

func newError(k kind, op string, err error) *SandlockError {
	return &SandlockError{Op: op, Err: err, kind: k}
}

// wrap classifies an error from lifecycle, spec or the kernel; nil stays nil and an error of
// this package is returned as it is.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *SandlockError
	if errors.As(err, &se) {
		return err
	}
	return newError(classify(err), op, explain(err))
}

// stepKinds classifies the step of starting a sandbox that failed, as lifecycle reports it
// (a *lifecycle.StepError keeps its structure across the runtime's process boundaries).
var stepKinds = map[string]kind{
	lifecycle.StepPolicy: kindPolicy, lifecycle.StepLandlock: kindConfinement,
	lifecycle.StepChroot: kindConfinement, lifecycle.StepNoNewPrivs: kindConfinement,
	lifecycle.StepSeccomp: kindSeccomp, lifecycle.StepNotif: kindNotif, lifecycle.StepFork: kindFork,
	lifecycle.StepCOW: kindBranch,
}

func classify(err error) kind {
	var pe *spec.PolicyError
	var se *lifecycle.StepError
	switch {
	case errors.Is(err, cowfs.ErrBranchConflict):
		return kindBranchConflict
	case errors.Is(err, cowfs.ErrNotLanded): // a commit the workdir refused: the layer is kept
		return kindBranch
	case errors.As(err, &pe):
		return kindPolicy
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return kindChild
	case errors.As(err, &se):
		if se.Step == lifecycle.StepLandlock && (se.Errno == unix.ENOSYS || se.Errno == unix.EOPNOTSUPP) {
			return kindLandlock
		}
		if k, ok := stepKinds[se.Step]; ok {
			return k
		}
	}
	return kindSandbox
}

// explain adds what a bare errno does not say: an exec refused with EACCES under a policy was
// refused by the policy (Landlock), unless the program's own type or mode refused it (a
// directory, no execute bit: NotExecutable, and its message says which).
func explain(err error) error {
	var se *lifecycle.StepError
	if errors.As(err, &se) && se.Step == lifecycle.StepExec && se.Errno == unix.EACCES && !se.NotExecutable {
		return fmt.Errorf("%w (refused by the sandbox policy: fs_readable must cover the program, its interpreter and libraries)", err)
	}
	return err
}
