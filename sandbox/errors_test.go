package sandbox

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/lifecycle"
	"github.com/sandlock/sandlock-runtime/spec"
)

func TestErrorTree(t *testing.T) {
	cases := []struct {
		kind   kind
		is     []error // sentinels it matches
		isNot  []error
		asView func(error) bool // errors.As into its own view
	}{
		{kindPolicy, []error{ErrSandlock, ErrPolicy}, []error{ErrSandbox}, func(e error) bool { var v *PolicyError; return errors.As(e, &v) }},
		{kindLandlock, []error{ErrSandlock, ErrSandbox, ErrConfinement, ErrLandlockUnavail}, []error{ErrSeccomp, ErrPolicy}, func(e error) bool { var v *ConfinementError; return errors.As(e, &v) }},
		{kindNotif, []error{ErrSandlock, ErrSandbox, ErrConfinement, ErrSeccomp, ErrNotif}, []error{ErrLandlockUnavail}, func(e error) bool { var v *SeccompError; return errors.As(e, &v) }},
		{kindBranchConflict, []error{ErrSandbox, ErrBranch, ErrBranchConflict}, []error{ErrChild}, func(e error) bool { var v *BranchError; return errors.As(e, &v) }},
		{kindChild, []error{ErrSandlock, ErrSandbox, ErrChild}, []error{ErrFork}, func(e error) bool { var v *ChildError; return errors.As(e, &v) }},
		{kindMemoryProtect, []error{ErrSandlock, ErrMemoryProtect}, []error{ErrSandbox}, func(e error) bool { var v *MemoryProtectError; return errors.As(e, &v) }},
	}
	for _, c := range cases {
		err := fmt.Errorf("wrapped: %w", newError(c.kind, "test", errors.New("cause")))
		for _, s := range c.is {
			if !errors.Is(err, s) {
				t.Errorf("kind %d: errors.Is(%v) = false, want true", c.kind, s)
			}
		}
		for _, s := range c.isNot {
			if errors.Is(err, s) {
				t.Errorf("kind %d: errors.Is(%v) = true, want false", c.kind, s)
			}
		}
		if !c.asView(err) {
			t.Errorf("kind %d: errors.As into its class's view failed", c.kind)
		}
	}
}

func TestErrorViewsDoNotCross(t *testing.T) {
	err := newError(kindPolicy, "test", errors.New("cause"))
	var ce *ConfinementError
	var se *SandboxError
	if errors.As(err, &ce) || errors.As(err, &se) {
		t.Errorf("a policy error became a ConfinementError or SandboxError view")
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want kind
	}{
		{&spec.PolicyError{Key: "max_cpu", Reason: "out of range"}, kindPolicy},
		{fmt.Errorf("merge: %w", &spec.PolicyError{Key: "env"}), kindPolicy},
		{context.DeadlineExceeded, kindChild},
		{&lifecycle.StepError{Step: lifecycle.StepLandlock, Msg: "landlock: add rule: bad fd", Errno: unix.EBADF}, kindConfinement},
		{&lifecycle.StepError{Step: lifecycle.StepLandlock, Msg: "x", Errno: unix.ENOSYS}, kindLandlock},
		{&lifecycle.StepError{Step: lifecycle.StepSeccomp, Msg: "load filter: invalid argument"}, kindSeccomp},
		{&lifecycle.StepError{Step: lifecycle.StepNotif, Msg: "supervisor exited during create"}, kindNotif},
		{fmt.Errorf("create: %w", &lifecycle.StepError{Step: lifecycle.StepFork, Msg: "start init: EAGAIN"}), kindFork},
		{&lifecycle.StepError{Step: lifecycle.StepChroot, Msg: "chroot /srv: operation not permitted"}, kindConfinement},
		{&lifecycle.StepError{Step: lifecycle.StepPolicy, Msg: "fs_denied: /x: too many levels of symbolic links"}, kindPolicy},
		// The wording never decides: text that names a step is still a plain SandboxError.
		{errors.New("landlock seccomp supervisor chroot start init"), kindSandbox},
		{lifecycle.ErrNotRunning, kindSandbox},
	}
	for _, c := range cases {
		if got := classify(c.err); got != c.want {
			t.Errorf("classify(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestWrapKeepsOwnErrors(t *testing.T) {
	own := newError(kindFork, "start", errors.New("x"))
	if got := wrap("other", own); got != error(own) {
		t.Errorf("wrap re-wrapped an error of this package: got %v, want %v", got, own)
	}
	if wrap("op", nil) != nil {
		t.Errorf("wrap(nil) != nil")
	}
}
