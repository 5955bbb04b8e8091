package lifecycle

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Start runs the user's program of a created container, then its poststart hooks.
func Start(o *Options, id string) error {
	c, err := Load(o.Root, id)
	if err != nil {
		return err
	}
	if err := check("start", id, c.Status()); err != nil {
		return err
	}
	return c.start()
}

func (c *Container) start() error {
	fd, err := dialCtl(c.dir)
	if err != nil {
		return err
	}
	defer closeAll([]int{fd})
	if _, _, err := request(fd, ctlMsg{Op: "start"}); err != nil {
		return err
	}
	return c.markStarted()
}

// markStarted records a started container and runs its poststart hooks.
func (c *Container) markStarted() error {
	if !c.State.Started { // published as started already (publishAtStart)
		c.State.Started = true
		if err := c.save(); err != nil {
			return err
		}
	}
	if s, err := c.loadSpec(); err == nil && s.Hooks != nil {
		runHooksWarn("poststart", s.Hooks.Poststart, c.ociState(specs.StateRunning))
	}
	return nil
}
