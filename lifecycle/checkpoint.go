package lifecycle

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sandlock/sandlock-runtime/cowfs"
	criulite "github.com/sandlock/sandlock-runtime/criu-lite"
)

// CheckpointOpts are runc's checkpoint flags that mean something here.
type CheckpointOpts struct {
	ImagePath    string
	WorkPath     string // accepted; nothing is written there (criu-lite keeps no logs)
	LeaveRunning bool
	AppState     []byte // the Go API's caller data, stored in the image
}

// Checkpoint saves every process of a running (or paused) container into an image
// (docs/checkpoint.md). Unless LeaveRunning, the container is stopped afterwards, as runc does;
// on any failure it keeps running as it was.
func Checkpoint(o *Options, id string, co CheckpointOpts) error {
	c, err := Load(o.Root, id)
	if err != nil {
		return err
	}
	if err := check("checkpoint", id, c.Status()); err != nil {
		return err
	}
	return c.checkpoint(co)
}

func (c *Container) checkpoint(co CheckpointOpts) error {
	st := c.Status()
	if co.ImagePath == "" {
		return errors.New("checkpoint: --image-path is required")
	}
	if c.State.Cgroup == "" {
		return errors.New("checkpoint needs the container's cgroup2 directory (to freeze it), and this container has none (it was created without a writable cgroup: checkpoint needs root)")
	}
	root, err := os.Readlink("/proc/" + strconv.Itoa(c.State.Pid) + "/root")
	if err != nil {
		return err
	}
	var command []string
	if s, err := loadSpec(c.dir); err == nil && s.Process != nil {
		command = s.Process.Args
	}
	if st != Paused {
		if err := freezeCgroup(c.State.Cgroup, true); err != nil {
			return fmt.Errorf("checkpoint: freezing the container: %w", err)
		}
	}
	thawed := false
	thaw := func() error { thawed = true; return freezeCgroup(c.State.Cgroup, false) }
	// listed once frozen: no process can fork or exit behind the list
	pids, err := c.checkpointPids()
	if err != nil {
		_ = thaw()
		return err
	}
	save := func(img *criulite.Image) error {
		img.AppState, img.Command = co.AppState, command
		if err := c.saveLayer(img, co.ImagePath); err != nil {
			return err
		}
		return img.Write(co.ImagePath)
	}
	_, err = criulite.Dump(criulite.DumpOpts{Pids: pids, Root: root, Thaw: thaw, LeaveRunning: co.LeaveRunning, Save: save})
	if !thawed {
		_ = freezeCgroup(c.State.Cgroup, false)
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.ID(), err)
	}
	writeWorkFiles(co.WorkPath)
	if !co.LeaveRunning {
		// the saved processes are dead; the zygote and anything else go with the cgroup
		return killCgroup(c.State.Cgroup)
	}
	if st == Paused {
		return freezeCgroup(c.State.Cgroup, true)
	}
	return nil
}

// saveLayer copies the container's copy-on-write layer (its upper directory) into the image
// while the processes are stopped, so that the files they have open there, and everything
// else they wrote, come back with them (restoreLayer). The container's own layer is left to
// its action: a stopped container was killed (on_error), one left running goes on.
func (c *Container) saveLayer(img *criulite.Image, dir string) error {
	l, err := c.cowLayer()
	if l == nil || err != nil {
		return err
	}
	wd, err := c.cowWorkdir()
	if err != nil {
		return err
	}
	dst := filepath.Join(dir, criulite.COWDir)
	if err := os.RemoveAll(dst); err != nil { // an earlier checkpoint into this directory
		return err
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	if err := cowfs.CopyInto(l.Upper(), dst); err != nil {
		return fmt.Errorf("checkpoint: the copy-on-write layer: %w", err)
	}
	img.Workdir = wd
	return nil
}

// checkpointPids lists the container's processes, init first, the zygote left out (a
// restored container gets its own).
func (c *Container) checkpointPids() ([]int, error) {
	all, err := cgroupProcs(c.State.Cgroup)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(all, c.State.Pid) {
		return nil, fmt.Errorf("checkpoint: init (pid %d) is not in the container's cgroup", c.State.Pid)
	}
	pids := []int{c.State.Pid}
	for _, p := range all {
		if p != c.State.Pid && p != c.State.ZygotePid {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// writeWorkFiles leaves in the work path the file podman's --export archives from there
// (CRIU's stats-dump), empty: criu-lite keeps no statistics (docs/checkpoint.md).
func writeWorkFiles(dir string) {
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o700); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "stats-dump"), nil, 0o600)
	}
}

// Checkpoint saves the container's processes into co.ImagePath (see Checkpoint). The
// checkpointer runs in a child process (the runtime re-executed as checkpoint-helper): this
// process is init's parent, and the wait of an embedder's Wait would take the ptrace stops of
// init that a tracer in this process waits for (the kernel reports a ptraced child's stops to
// every waiter of its tracer's process, whatever the wait's flags).
func (h *Handle) Checkpoint(co CheckpointOpts) error {
	return h.running(func() error {
		exe, err := self()
		if err != nil {
			return err
		}
		args := []string{"checkpoint-helper", "--state-dir", h.cr.cont.dir, "--image-path", co.ImagePath}
		if co.LeaveRunning {
			args = append(args, "--leave-running")
		}
		cmd := exec.Command(exe, args...)
		cmd.Args[0] = "sandlock-runtime"
		cmd.Env = runtimeEnv
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			if msg := strings.TrimSpace(stderr.String()); msg != "" {
				return errors.New(lastLine(msg))
			}
			return fmt.Errorf("checkpoint: %w", err)
		}
		if co.AppState == nil {
			return nil
		}
		img, err := criulite.Load(co.ImagePath)
		if err != nil {
			return err
		}
		img.AppState = co.AppState
		return img.Write(co.ImagePath)
	})
}

// CheckpointHelper is the checkpoint-helper command (see Handle.Checkpoint).
func CheckpointHelper(stateDir string, co CheckpointOpts) error {
	c, err := Load(filepath.Dir(stateDir), filepath.Base(stateDir))
	if err != nil {
		return err
	}
	if err := check("checkpoint", c.ID(), c.Status()); err != nil {
		return err
	}
	return c.checkpoint(co)
}

// lastLine is the last line of s without a "level=... msg=" decoration.
func lastLine(s string) string {
	ls := strings.Split(s, "\n")
	l := ls[len(ls)-1]
	if _, m, ok := strings.Cut(l, "msg="); ok {
		l = strings.Trim(m, `"`)
	}
	return l
}
