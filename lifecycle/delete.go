package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/cowfs"
)

// Delete removes a stopped (or created) container; force also kills a running one. Deleting a
// missing container with force succeeds, as runc does. After it, nothing of the container is
// left: no process, mount, cgroup or state dir, also after a crash of the runtime mid-create.
func Delete(o *Options, id string, force bool) error {
	c, err := Load(o.Root, id)
	if errors.Is(err, ErrNotExist) && force {
		return nil
	}
	if err != nil {
		return err
	}
	st := c.Status()
	if st == Creating && !force {
		return fmt.Errorf("container %s is being created; use delete --force to remove what a failed create left", id)
	}
	if st != Creating && !force {
		if err := check("delete", id, st); err != nil {
			return err
		}
	}
	c.log = o.Logger
	err = c.destroy()
	if err == nil && c.keptLayer != "" { // KEEP (an error names the layer itself)
		c.logger().Warnf("container %s: kept its copy-on-write layer %s (sandlock-runtime cow diff|commit|abort %s)", id, c.keptLayer, c.keptLayer)
	}
	return err
}

func (c *Container) destroy() error {
	var errs []error
	s := c.State
	supDone := make(chan error, 1)
	if s != nil {
		if s.Cgroup != "" {
			if cgroupFrozen(s.Cgroup) {
				_ = freezeCgroup(s.Cgroup, false)
			}
			errs = append(errs, killCgroup(s.Cgroup))
		} else {
			_ = c.signalTracked(unix.SIGKILL)
		}
		c.logger().Debugf("delete %s: processes killed", c.ID())
		// The supervisor notices the empty container and exits by itself: wait for that
		// while the mounts come down.
		go func() { supDone <- c.stopSupervisor() }()
	} else {
		// A create that crashed before state.json: its cgroup record says what to kill.
		if r, ok := loadCgroupRecord(c.dir); ok {
			errs = append(errs, killCgroup(r.Dir))
		}
		supDone <- nil
	}
	t := time.Now()
	// The layer before the mounts (a max_disk tmpfs holds it until its action is done), and
	// after the supervisor, which records init's exit status for a caller-reaped init.
	if c.hasCOW() {
		err := <-supDone
		supDone <- err
	}
	cowErr := c.finishCOW()
	if cowErr != nil && !keepsLayer(cowErr) && !errors.Is(cowErr, cowfs.ErrLost) {
		errs = append(errs, cowErr)
		cowErr = nil
	}
	paths, err := mountLog{path: filepath.Join(c.dir, "mounts")}.list()
	errs = append(errs, err, undoMounts(paths))
	c.logger().Debugf("delete %s: %d mounts undone in %s", c.ID(), len(paths), time.Since(t))
	errs = append(errs, <-supDone)
	c.logger().Debugf("delete %s: supervisor gone after %s", c.ID(), time.Since(t))
	errs = append(errs, c.removeCgroupDirs()...)
	c.logger().Debugf("delete %s: cgroups removed after %s", c.ID(), time.Since(t))
	if s != nil {
		if sp, err := c.loadSpec(); err == nil && sp.Hooks != nil {
			runHooksWarn("poststop", sp.Hooks.Poststop, c.ociState(specs.StateStopped))
		}
	}
	if err := errors.Join(errs...); err != nil {
		// Keep the state dir: it is the record a later delete --force needs.
		return fmt.Errorf("delete %s: %w", c.ID(), err)
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return err
	}
	return cowErr // a branch conflict (the container is gone, its layer kept), or a lost layer
}

// removeCgroupDirs removes what create made in the cgroup hierarchies, innermost first: the
// systemd unit, the v1 dirs, the cgroup2 dirs (from state.json, or the record of a create that
// crashed before it), then the slices of the root's list no container uses any more.
func (c *Container) removeCgroupDirs() []error {
	r, ok := loadCgroupRecord(c.dir)
	made := r.Made
	if c.State != nil {
		made = c.State.CgroupMade
	}
	var errs []error
	if ok && r.Systemd != nil {
		errs = append(errs, r.Systemd.stopScope())
	}
	if ok {
		errs = append(errs, r.V1.remove())
	}
	removeCgroups(made)
	if ok && r.Slices {
		errs = append(errs, sweepSlices(filepath.Dir(c.dir), append([]string{r.Dir}, r.V1.uniqueDirs()...)))
	}
	return errs
}

// stopSupervisor waits briefly for the supervisor to notice the container is empty and exit,
// then kills it: it must not outlive the container.
func (c *Container) stopSupervisor() error {
	s := c.State
	fd, err := pidfdOf(s.SupPid, s.SupStart)
	if err != nil {
		return nil // already gone
	}
	defer unix.Close(fd)
	if waitPidfd(fd, 2*time.Second) {
		return nil
	}
	c.logger().Warnf("container %s: supervisor %d still running after the container; killing it", s.ID, s.SupPid)
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && err != unix.ESRCH {
		return err
	}
	waitPidfd(fd, 2*time.Second)
	return nil
}

// waitPidfd waits until the process behind fd exits (pidfds poll readable then).
func waitPidfd(fd int, d time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(d/time.Millisecond))
	return err == nil && n == 1
}
