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

// signalTracked is the fallback without a writable cgroup: init and its descendants, found
// through /proc/PID/task/TID/children, parents first (the zygote is not signalled but its
// children, exec'd processes, are; with SIGKILL it is killed too). For SIGKILL the tree is
// stopped top-down first and killed after, so that no killed parent's children are reparented
// out of reach. A process that already left init's tree is not reached (docs/design.md).
func (c *Container) signalTracked(sig unix.Signal) error {
	zygote := c.State.ZygotePid
	fd, err := pidfdOf(c.State.Pid, c.State.PidStart)
	if err != nil {
		if sig == unix.SIGKILL {
			c.killZygote()
			return nil
		}
		return ErrNotRunning
	}
	defer unix.Close(fd)
	walk := sig
	if sig == unix.SIGKILL {
		walk = unix.SIGSTOP
	}
	// init through its pidfd: its pid is verified to be the container's; the walk starts only
	// once it is signalled, so its children are the container's.
	if err := unix.PidfdSendSignal(fd, walk, nil, 0); err != nil {
		return fmt.Errorf("signal init: %w", err)
	}
	found := signalDescendants(c.State.Pid, zygote, walk)
	defer found.close()
	if sig != unix.SIGKILL {
		return nil
	}
	_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	found.signal(unix.SIGKILL)
	c.killZygote()
	return nil
}

// killZygote kills the zygote if it is still the process create recorded: once init is gone
// (a stopped container's delete, containerd's kill --all after init's exit) the zygote may be
// long gone too and its pid someone else's.
func (c *Container) killZygote() {
	if c.State.ZygotePid <= 0 {
		return
	}
	if fd, err := pidfdOf(c.State.ZygotePid, c.State.ZygoteStart); err == nil {
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		unix.Close(fd)
	}
}
