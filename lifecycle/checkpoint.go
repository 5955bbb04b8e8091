package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

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
	st := c.Status()
	if err := check("checkpoint", id, st); err != nil {
		return err
	}
	if co.ImagePath == "" {
		return errors.New("checkpoint: --image-path is required")
	}
	if c.State.Cgroup == "" {
		return errors.New("checkpoint needs the container's cgroup2 directory (to freeze it), and this container has none")
	}
	pids, err := c.checkpointPids()
	if err != nil {
		return err
	}
	root, err := os.Readlink("/proc/" + strconv.Itoa(c.State.Pid) + "/root")
	if err != nil {
		return err
	}
	if st != Paused {
		if err := freezeCgroup(c.State.Cgroup, true); err != nil {
			return fmt.Errorf("checkpoint: freezing the container: %w", err)
		}
	}
	thawed := false
	thaw := func() error { thawed = true; return freezeCgroup(c.State.Cgroup, false) }
	img, err := criulite.Dump(criulite.DumpOpts{Pids: pids, Root: root, Thaw: thaw, LeaveRunning: co.LeaveRunning,
		Save: func(img *criulite.Image) error { img.AppState = co.AppState; return img.Write(co.ImagePath) }})
	if !thawed {
		_ = freezeCgroup(c.State.Cgroup, false)
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", id, err)
	}
	_ = img
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
