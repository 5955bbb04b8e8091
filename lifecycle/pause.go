package lifecycle

import "errors"

var errNoCgroup = errors.New("pause and resume need a writable cgroup2 hierarchy, and this container has none")

// Pause freezes every process of a running container.
func Pause(o *Options, id string) error {
	c, err := Load(o.Root, id)
	if err != nil {
		return err
	}
	if err := check("pause", id, c.Status()); err != nil {
		return err
	}
	if c.State.Cgroup == "" {
		return errNoCgroup
	}
	return freezeCgroup(c.State.Cgroup, true)
}
