package sandbox

import (
	"context"
	"errors"
	"fmt"
	"testing"

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
		{errors.New("landlock: signal scoping needs ABI 6, kernel has 5"), kindConfinement},
		{errors.New("Landlock is not available on this kernel"), kindLandlock},
		{errors.New("seccomp: load filter: invalid argument"), kindSeccomp},
		{errors.New("supervisor exited during create (see the --log file)"), kindNotif},
		{errors.New("start init: fork/exec: resource temporarily unavailable"), kindFork},
		{errors.New("chroot /srv: operation not permitted"), kindConfinement},
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
