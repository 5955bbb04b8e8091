package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/sandlock/sandlock-runtime/lifecycle"
	"github.com/sandlock/sandlock-runtime/spec"
)

// Sandbox runs host commands confined by one policy (the seed's Sandbox). Each command runs in
// a fresh container of the direct mode (see hostSpec); a Sandbox may run several at once, one
// after the other, or as stages of pipelines. It is safe for concurrent use.
type Sandbox struct {
	policy spec.Policy
	opts   options

	mu      sync.Mutex
	running []*lifecycle.Handle // oldest first
	denials []Denial
	changes []Change // the last dry run's
	kept    []string // layers kept by the runs that have ended
	dry     *Sandbox // DryRunInteractive's copy, for Signal
}

// Denial is one refusal the supervisor made for the policy: when, which process, which
// syscall, the object as the process named it (a path, or host:port), the policy field and the
// errno the process got (docs/security.md).
type Denial = lifecycle.AuditRecord

// Denials returns the refusals the supervisor made for the policy in the runs of this Sandbox
// that have ended, oldest first: what a program tried and was not allowed.
func (s *Sandbox) Denials() []Denial {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.denials)
}

// Option configures a Sandbox.
type Option func(*options)

type options struct {
	stateRoot string
	dir       string
	env       []string
	stdin     io.Reader
	logPath   string
	debug     bool
	logger    Logger
	name      string
	dryRun    bool // set only on DryRun's private copy
}

// Logger receives the warnings and debug lines of starting a sandbox (a missing cgroup2
// hierarchy, fields set but not enforced); logrus loggers satisfy it, and a two-method adapter
// serves log/slog. Without WithLogger nothing is reported: the package never writes on the
// program's stderr or touches its global logger.
type Logger = lifecycle.Logger

// WithLogger reports through l (see Logger).
func WithLogger(l Logger) Option { return func(o *options) { o.logger = l } }

// discard is the Logger of a Sandbox without WithLogger.
type discard struct{}

func (discard) Debugf(string, ...any) {}
func (discard) Warnf(string, ...any)  {}

// WithStateRoot keeps the sandboxes' runtime state under dir instead of the default private
// root (/run/sandlock-sandbox for root, $XDG_RUNTIME_DIR/sandlock-sandbox or
// $TMPDIR/sandlock-sandbox-UID otherwise).
func WithStateRoot(dir string) Option { return func(o *options) { o.stateRoot = dir } }

// WithName gives the sandbox's container this ID instead of a generated one: with
// WithStateRoot set to the runtime's --root, the runtime's verbs (state, ps, checkpoint) reach
// it by name. Only one command of the sandbox may run at a time then.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithDir runs commands in dir instead of the current directory.
func WithDir(dir string) Option { return func(o *options) { o.dir = dir } }

// WithEnv gives commands env ("K=V" entries) instead of the caller's environment; the
// policy's clean_env and env apply on top.
func WithEnv(env []string) Option { return func(o *options) { o.env = slices.Clone(env) } }

// WithStdin feeds r to Run's command (the first stage of a pipeline) instead of /dev/null.
func WithStdin(r io.Reader) Option { return func(o *options) { o.stdin = r } }

// WithLog writes the runtime's log (JSON lines) to path, with debug detail if debug is set.
func WithLog(path string, debug bool) Option {
	return func(o *options) { o.logPath, o.debug = path, debug }
}

// New returns a Sandbox for policy. The policy is validated when a command starts: an
// invalid one fails there with a *PolicyError.
func New(policy spec.Policy, opts ...Option) *Sandbox {
	s := &Sandbox{policy: policy.Clone()}
	for _, o := range opts {
		o(&s.opts)
	}
	return s
}

// Policy returns a copy of the sandbox's policy.
func (s *Sandbox) Policy() spec.Policy { return s.policy.Clone() }

// Result is what Run returns (the seed's Result).
type Result struct {
	ExitCode int    // the command's exit code; 128+N when signal N ended it
	Stdout   []byte // captured standard output
	Stderr   []byte // captured standard error
	Err      error  // why the command did not end normally (a *ChildError on timeout), or nil
}

// Success reports exit code 0 and no error.
func (r *Result) Success() bool { return r != nil && r.Err == nil && r.ExitCode == 0 }

// Run runs cmd with stdout and stderr captured. When ctx ends first, the sandbox is killed and
// the result (with what was captured) comes back with a *ChildError that wraps ctx.Err(), as
// both Result.Err and the error. Errors before the command ran leave the Result nil.
func (s *Sandbox) Run(ctx context.Context, cmd []string) (*Result, error) {
	return Pipe(s.Cmd(cmd)).Run(ctx)
}

// RunInteractive runs cmd with this process's stdin, stdout and stderr and returns its exit
// code. ctx ends it as it ends Run.
func (s *Sandbox) RunInteractive(ctx context.Context, cmd []string) (int, error) {
	h, err := s.start(ctx, cmd, [3]*os.File{os.Stdin, os.Stdout, os.Stderr})
	if err != nil {
		return -1, err
	}
	return s.wait(ctx, h)
}

// Pid is the pid of the sandbox's command while it runs (the oldest, when several do), 0
// otherwise.
func (s *Sandbox) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.running) == 0 {
		return 0
	}
	return s.running[0].Pid()
}

// Pause freezes every running command of the sandbox: the cgroup freezer as root, SIGSTOP to
// each command's process tree without a cgroup (docs/sandbox.md). It fails with a
// *SandboxError when nothing runs.
func (s *Sandbox) Pause() error { return s.each("pause", (*lifecycle.Handle).Pause) }

// Resume thaws what Pause froze.
func (s *Sandbox) Resume() error { return s.each("resume", (*lifecycle.Handle).Resume) }

// Signal sends sig to the command (the container's init) of every running command.
func (s *Sandbox) Signal(sig os.Signal) error {
	return s.each("signal", func(h *lifecycle.Handle) error { return h.Signal(sig) })
}

func (s *Sandbox) each(op string, f func(*lifecycle.Handle) error) error {
	s.mu.Lock()
	hs := slices.Clone(s.running)
	dry := s.dry
	s.mu.Unlock()
	if dry != nil {
		dry.mu.Lock()
		hs = append(hs, dry.running...)
		dry.mu.Unlock()
	}
	if len(hs) == 0 {
		return newError(kindSandbox, op, errors.New("the sandbox is not running"))
	}
	var errs []error
	for _, h := range hs {
		errs = append(errs, f(h))
	}
	return wrap(op, errors.Join(errs...))
}

// start launches cmd in a new container with the given stdio and tracks it.
func (s *Sandbox) start(ctx context.Context, cmd []string, stdio [3]*os.File) (*lifecycle.Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, newError(kindChild, "start", err)
	}
	o, c, err := s.launchOpts(cmd, stdio)
	if err != nil {
		return nil, err
	}
	h, err := lifecycle.Launch(o, c)
	if err != nil {
		return nil, wrap("start", err)
	}
	s.mu.Lock()
	s.running = append(s.running, h)
	s.mu.Unlock()
	return h, nil
}

func (s *Sandbox) launchOpts(cmd []string, stdio [3]*os.File) (*lifecycle.Options, lifecycle.CreateOpts, error) {
	var c lifecycle.CreateOpts
	if err := checkReexec(); err != nil {
		return nil, c, newError(kindSandbox, "start", err)
	}
	if len(cmd) == 0 {
		return nil, c, newError(kindSandbox, "start", errors.New("empty command"))
	}
	if err := checkLandlock(); err != nil {
		return nil, c, err
	}
	// The workdir and fs_storage, given relative, are the caller's (WithDir, else the
	// process's directory); fs_storage could not be the workdir's: it must be outside it.
	wd, storage := s.policy.WorkdirPath(), s.policy.FSStoragePath()
	if s.policy.ChrootPath() != "" && wd != "" && !filepath.IsAbs(wd) {
		wd = filepath.Join("/", wd) // the chroot's: the command starts in its /
	}
	if (wd != "" && !filepath.IsAbs(wd)) || (storage != "" && !filepath.IsAbs(storage)) {
		dir := s.opts.dir
		if dir == "" {
			var err error
			if dir, err = os.Getwd(); err != nil {
				return nil, c, newError(kindSandbox, "start", err)
			}
		}
		if wd != "" && !filepath.IsAbs(wd) {
			wd = filepath.Join(dir, wd)
		}
		if storage != "" && !filepath.IsAbs(storage) {
			storage = filepath.Join(dir, storage)
		}
	}
	proc, err := hostProcess(&s.opts, cmd, wd)
	if err != nil {
		return nil, c, newError(kindSandbox, "start", err)
	}
	base := s.policy
	if wd != "" || storage != "" { // absolute now: the command's cwd is the workdir, which relative paths start from
		base = base.Clone()
		if wd != "" {
			base.Workdir = &wd
		}
		if storage != "" {
			base.FSStorage = &storage
		}
	}
	pol := directPolicy(base, proc.Cwd)
	if err := pol.Validate(); err != nil {
		return nil, c, newError(kindPolicy, "start", err)
	}
	sp, err := hostSpec(pol, proc)
	if err != nil {
		return nil, c, wrap("start", err)
	}
	if err := checkPathsExist(pol, sp.Root.Path); err != nil {
		return nil, c, newError(kindPolicy, "start", err)
	}
	root, err := s.stateRoot()
	if err != nil {
		return nil, c, newError(kindSandbox, "start", err)
	}
	o := &lifecycle.Options{Root: root, LogPath: s.opts.logPath, LogFormat: "json", Debug: s.opts.debug, Logger: s.opts.logger}
	if o.Logger == nil {
		o.Logger = discard{}
	}
	// KeepSession: the command keeps the caller's terminal, as a command run directly would
	// (Direct then grants that terminal, and only that one).
	id := newID()
	if s.opts.name != "" {
		id = s.opts.name
	}
	c = lifecycle.CreateOpts{ID: id, Spec: sp, Stdio: &stdio, Policy: &pol, Direct: true, KeepSession: true, DryRun: s.opts.dryRun}
	return o, c, nil
}

// wait waits for h, killing it if ctx ends first, and stops tracking it.
func (s *Sandbox) wait(ctx context.Context, h *lifecycle.Handle) (int, error) {
	stop := context.AfterFunc(ctx, func() { _ = h.Kill() })
	code, err := h.Wait()
	killed := !stop()
	s.mu.Lock()
	s.running = slices.DeleteFunc(s.running, func(x *lifecycle.Handle) bool { return x == h })
	s.denials = append(s.denials, h.Denials()...)
	s.changes = h.Changes()
	if k := h.KeptLayer(); k != "" {
		s.kept = append(s.kept, k)
	}
	s.mu.Unlock()
	if killed {
		return code, newError(kindChild, "run", errors.Join(ctx.Err(), err))
	}
	return code, wrap("run", err)
}

// stateRoot makes sure the private state root exists, is a directory we own and nobody else
// can enter (it holds the supervisors' control sockets).
func (s *Sandbox) stateRoot() (string, error) {
	dir := s.opts.stateRoot
	if dir == "" {
		dir = DefaultStateRoot()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("state root: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("state root: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("state root %s: must be a directory owned by uid %d with mode 0700; "+
			"give one that is (sandlock-runtime --root DIR, WithStateRoot in Go)", dir, os.Geteuid())
	}
	return dir, nil
}

// DefaultStateRoot is where sandboxes keep their runtime state unless WithStateRoot says
// otherwise: beside, not inside, the runtime's --root, so `list` does not show them.
func DefaultStateRoot() string { return lifecycle.SandboxStateRoots()[0] }

var idSeq atomic.Uint64

// newID is unique on the host: pid and sequence, plus randomness against a crashed earlier
// process with the same pid that left its state behind.
func newID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("sb-%d-%d-%s", os.Getpid(), idSeq.Add(1), hex.EncodeToString(b))
}
