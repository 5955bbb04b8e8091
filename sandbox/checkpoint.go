package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	criulite "github.com/sandlock/sandlock-runtime/criu-lite"
	"github.com/sandlock/sandlock-runtime/lifecycle"
)

// Checkpoint is a saved sandbox (the seed's Checkpoint): the processes of its running command
// in an image (docs/checkpoint.md), and the caller's own state beside them.
type Checkpoint struct {
	name     string
	appState []byte
	command  []string
	dir      string // the image: a temporary dir until Save, then the store's
	temp     bool
}

// Name is the name the checkpoint was saved or loaded under ("" before Save).
func (c *Checkpoint) Name() string { return c.name }

// AppState is what the save function returned when the checkpoint was taken (nil without one).
func (c *Checkpoint) AppState() []byte { return slices.Clone(c.appState) }

// Command is the command whose processes the checkpoint holds.
func (c *Checkpoint) Command() []string { return slices.Clone(c.command) }

// DefaultCheckpointStore is ~/.sandlock/checkpoints.
func DefaultCheckpointStore() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".sandlock", "checkpoints")
}

// Checkpoint saves the processes of the sandbox's running command (the oldest, when several
// run), which go on running, and saveFn's bytes with them (saveFn may be nil). It needs root
// and a cgroup (docs/checkpoint.md says what cannot be saved: such a command fails it with a
// *SandboxError naming the resource).
func (s *Sandbox) Checkpoint(saveFn func() ([]byte, error)) (*Checkpoint, error) {
	s.mu.Lock()
	var h *lifecycle.Handle
	if len(s.running) > 0 {
		h = s.running[0]
	}
	s.mu.Unlock()
	if h == nil {
		return nil, newError(kindSandbox, "checkpoint", errors.New("the sandbox is not running"))
	}
	var state []byte
	if saveFn != nil {
		b, err := saveFn()
		if err != nil {
			return nil, newError(kindSandbox, "checkpoint", fmt.Errorf("save function: %w", err))
		}
		state = b
	}
	dir, err := os.MkdirTemp("", "sandlock-checkpoint-")
	if err != nil {
		return nil, newError(kindSandbox, "checkpoint", err)
	}
	if err := h.Checkpoint(lifecycle.CheckpointOpts{ImagePath: dir, LeaveRunning: true, AppState: state}); err != nil {
		os.RemoveAll(dir)
		return nil, wrap("checkpoint", err)
	}
	// The command the image records, without reading back the whole image just written.
	return &Checkpoint{appState: state, command: h.Command(), dir: dir, temp: true}, nil
}

// checkName refuses names that are not one plain path element.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("checkpoint name %q: want a plain file name", name)
	}
	return nil
}

func storeDir(store string) string {
	if store == "" {
		return DefaultCheckpointStore()
	}
	return store
}

// Save stores the checkpoint as name in store ("" = DefaultCheckpointStore), replacing one of
// that name.
func (c *Checkpoint) Save(name, store string) error {
	if err := checkName(name); err != nil {
		return newError(kindSandbox, "checkpoint save", err)
	}
	dir := storeDir(store)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return newError(kindSandbox, "checkpoint save", err)
	}
	tmp, err := os.MkdirTemp(dir, ".save-")
	if err != nil {
		return newError(kindSandbox, "checkpoint save", err)
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{criulite.PagesFile, criulite.ManifestFile, criulite.SumFile, criulite.InventoryFile} {
		b, err := os.ReadFile(filepath.Join(c.dir, f))
		if err != nil {
			return newError(kindSandbox, "checkpoint save", err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o600); err != nil {
			return newError(kindSandbox, "checkpoint save", err)
		}
	}
	final := filepath.Join(dir, name)
	if err := os.RemoveAll(final); err != nil {
		return newError(kindSandbox, "checkpoint save", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return newError(kindSandbox, "checkpoint save", err)
	}
	if c.temp {
		os.RemoveAll(c.dir)
	}
	c.name, c.dir, c.temp = name, final, false
	return nil
}

// LoadCheckpoint reads checkpoint name from store and verifies it (a corrupt, truncated or
// foreign image is a *SandboxError).
func LoadCheckpoint(name, store string) (*Checkpoint, error) {
	if err := checkName(name); err != nil {
		return nil, newError(kindSandbox, "checkpoint load", err)
	}
	dir := filepath.Join(storeDir(store), name)
	img, err := criulite.Load(dir)
	if err != nil {
		return nil, newError(kindSandbox, "checkpoint load", err)
	}
	return &Checkpoint{name: name, appState: img.AppState, command: img.Command, dir: dir}, nil
}

// RestoreCheckpoint loads checkpoint name and calls restoreFn with its app state (the seed's
// Checkpoint.restore); Sandbox.Restore runs its processes again.
func RestoreCheckpoint(name string, restoreFn func([]byte) error, store string) (*Checkpoint, error) {
	c, err := LoadCheckpoint(name, store)
	if err != nil {
		return nil, err
	}
	if restoreFn != nil {
		if err := restoreFn(c.AppState()); err != nil {
			return nil, newError(kindSandbox, "checkpoint restore", err)
		}
	}
	return c, nil
}

// ListCheckpoints lists the names saved in store, sorted.
func ListCheckpoints(store string) ([]string, error) {
	ents, err := os.ReadDir(storeDir(store))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, newError(kindSandbox, "checkpoint list", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && checkName(e.Name()) == nil {
			if _, err := os.Stat(filepath.Join(storeDir(store), e.Name(), criulite.ManifestFile)); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	return out, nil
}

// DeleteCheckpoint removes checkpoint name from store.
func DeleteCheckpoint(name, store string) error {
	if err := checkName(name); err != nil {
		return newError(kindSandbox, "checkpoint delete", err)
	}
	dir := filepath.Join(storeDir(store), name)
	if _, err := os.Stat(filepath.Join(dir, criulite.ManifestFile)); err != nil {
		return newError(kindSandbox, "checkpoint delete", fmt.Errorf("no checkpoint %q in %s", name, storeDir(store)))
	}
	if err := os.RemoveAll(dir); err != nil {
		return newError(kindSandbox, "checkpoint delete", err)
	}
	return nil
}

// Restore runs the checkpoint's processes again in a new container of this sandbox (its
// policy, not the one the checkpoint was taken under) with stdout and stderr captured, and
// returns like Run once they end.
func (s *Sandbox) Restore(ctx context.Context, c *Checkpoint) (*Result, error) {
	if len(c.command) == 0 {
		return nil, newError(kindSandbox, "restore", errors.New("the checkpoint holds no command"))
	}
	out, err := newCapture()
	if err != nil {
		return nil, newError(kindSandbox, "restore", err)
	}
	errc, err := newCapture()
	if err != nil {
		return nil, newError(kindSandbox, "restore", err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, newError(kindSandbox, "restore", err)
	}
	defer devnull.Close()
	o, co, err := s.launchOpts(c.command, [3]*os.File{devnull, out.w, errc.w})
	if err != nil {
		return nil, err
	}
	img, err := criulite.Load(c.dir)
	if err != nil {
		return nil, wrap("restore", err)
	}
	h, err := lifecycle.LaunchRestore(o, co, img)
	out.w.Close()
	errc.w.Close()
	if err != nil {
		return nil, wrap("restore", err)
	}
	s.mu.Lock()
	s.running = append(s.running, h)
	s.mu.Unlock()
	code, werr := s.wait(ctx, h)
	r := &Result{ExitCode: code, Stdout: out.bytes(), Stderr: errc.bytes(), Err: werr}
	return r, werr
}

// RestoreInteractive restores the image in imageDir (a checkpoint's directory, as
// `sandlock-runtime checkpoint --image-path` writes it) with this process's stdin, stdout and
// stderr, and returns its exit code, as RunInteractive.
func (s *Sandbox) RestoreInteractive(ctx context.Context, imageDir string) (int, error) {
	img, err := criulite.Load(imageDir)
	if err != nil {
		return -1, newError(kindSandbox, "restore", err)
	}
	if len(img.Command) == 0 {
		return -1, newError(kindSandbox, "restore", errors.New("the checkpoint holds no command"))
	}
	o, co, err := s.launchOpts(img.Command, [3]*os.File{os.Stdin, os.Stdout, os.Stderr})
	if err != nil {
		return -1, err
	}
	h, err := lifecycle.LaunchRestore(o, co, img)
	if err != nil {
		return -1, wrap("restore", err)
	}
	s.mu.Lock()
	s.running = append(s.running, h)
	s.mu.Unlock()
	return s.wait(ctx, h)
}
