package lifecycle

// Resume thaws a paused container.
func Resume(o *Options, id string) error {
	c, err := Load(o.Root, id)
	if err != nil {
		return err
	}
	if err := check("resume", id, c.Status()); err != nil {
		return err
	}
	if c.State.Cgroup == "" {
		return errNoCgroup
	}
	return freezeCgroup(c.State.Cgroup, false)
}
