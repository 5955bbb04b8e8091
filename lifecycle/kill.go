package lifecycle

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Kill sends sig to the container's init, or with all to every process of the container.
// kill --all is also allowed once the container has stopped: containerd sends it after init
// exits to clean up whatever init left behind.
func Kill(o *Options, id string, sig unix.Signal, all bool) error {
	c, err := Load(o.Root, id)
	if err != nil {
		return err
	}
	if c.State == nil {
		return ErrNotRunning
	}
	st := c.Status()
	if all {
		return c.signalAll(sig)
	}
	if err := check("kill", id, st); err != nil {
		return err
	}
	return c.signalInit(sig)
}

func (c *Container) signalInit(sig unix.Signal) error {
	fd, err := pidfdOf(c.State.Pid, c.State.PidStart)
	if err != nil {
		return ErrNotRunning
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal init: %w", err)
	}
	return nil
}

// signalAll signals every process of the container. SIGKILL goes through cgroup.kill, which
// cannot miss a process that forks while it runs.
func (c *Container) signalAll(sig unix.Signal) error {
	cg := c.State.Cgroup
	if cg == "" {
		return c.signalTracked(sig)
	}
	if sig == unix.SIGKILL {
		return killCgroup(cg)
	}
	pids, err := cgroupProcs(cg)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if pid == c.State.ZygotePid && sig != unix.SIGKILL {
			continue // the zygote is runtime machinery, not a workload
		}
		_ = unix.Kill(pid, sig)
	}
	return nil
}

// signalTracked is the fallback without a writable cgroup: it reaches init only (and with
// SIGKILL the zygote). docs/design.md states what is weaker.
func (c *Container) signalTracked(sig unix.Signal) error {
	if err := c.signalInit(sig); err != nil && sig != unix.SIGKILL {
		return err
	}
	if sig == unix.SIGKILL && c.State.ZygotePid > 0 {
		_ = unix.Kill(c.State.ZygotePid, sig)
	}
	return nil
}
