package sandbox

import (
	"context"
	"errors"
	"os"
	"slices"

	"github.com/sandlock/sandlock-runtime/cowfs"
	"github.com/sandlock/sandlock-runtime/spec"
)

// Change is one entry of a dry run's change list (the seed's Change): Kind "A" (added), "M"
// (modified) or "D" (deleted), Path relative to the workdir.
type Change = cowfs.Change

// DryRunResult is what DryRun returns (the seed's DryRunResult): the command's Result and the
// changes it would have made to the workdir.
type DryRunResult struct {
	Result
	Changes []Change
}

// DryRun runs cmd as Run does, in a copy-on-write layer over the policy's workdir that is
// always discarded, and returns what the command changed there (sorted by path). The workdir
// is left untouched. Without a workdir in the policy, the command's directory is the workdir.
func (s *Sandbox) DryRun(ctx context.Context, cmd []string) (*DryRunResult, error) {
	dry, err := s.dryCopy()
	if err != nil {
		return nil, err
	}
	res, err := dry.Run(ctx, cmd)
	s.mu.Lock()
	s.denials = append(s.denials, dry.denials...)
	s.mu.Unlock()
	if res == nil {
		return nil, err
	}
	dry.mu.Lock()
	defer dry.mu.Unlock()
	return &DryRunResult{Result: *res, Changes: dry.changes}, err
}

// dryCopy is the Sandbox a dry run runs in: the same, in dry-run mode, with the command's
// directory as the workdir when the policy has none.
func (s *Sandbox) dryCopy() (*Sandbox, error) {
	dry := &Sandbox{policy: s.policy.Clone(), opts: s.opts}
	dry.opts.dryRun = true
	if dry.policy.WorkdirPath() == "" && dry.policy.ChrootPath() != "" {
		return nil, newError(kindPolicy, "dry_run", &spec.PolicyError{Key: "workdir", Value: "",
			Reason: "a dry run under a chroot needs one: the command starts in the chroot's /, which cannot be a workdir; accepted: a directory in the chroot"})
	}
	if dry.policy.WorkdirPath() == "" {
		wd := s.opts.dir
		if wd == "" {
			var err error
			if wd, err = os.Getwd(); err != nil {
				return nil, newError(kindSandbox, "dry_run", err)
			}
		}
		dry.policy.Workdir = &wd
	}
	return dry, nil
}

// IsBranchConflict reports whether err is a refused commit: another branch changed the
// workdir's paths this one changed too (the seed's BranchConflictError).
func IsBranchConflict(err error) bool { return errors.Is(err, cowfs.ErrBranchConflict) }

// DryRunInteractive is DryRun with this process's stdin, stdout and stderr (RunInteractive's
// way): the command's exit code and its changes.
func (s *Sandbox) DryRunInteractive(ctx context.Context, cmd []string) (int, []Change, error) {
	dry, err := s.dryCopy()
	if err != nil {
		return -1, nil, err
	}
	s.mu.Lock()
	s.dry = dry // Signal, Pause, ... reach it
	s.mu.Unlock()
	code, err := dry.RunInteractive(ctx, cmd)
	dry.mu.Lock()
	defer dry.mu.Unlock()
	return code, dry.changes, err
}

// KeptLayers lists the copy-on-write layers the runs of this Sandbox kept, oldest first: with
// on_exit or on_error KEEP, or when a commit was refused by a branch conflict. Each is a
// directory of fs_storage for `sandlock-runtime cow commit|abort|diff`.
func (s *Sandbox) KeptLayers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.kept)
}
