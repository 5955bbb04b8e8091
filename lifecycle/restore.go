package lifecycle

import (
	"fmt"

	criulite "github.com/sandlock/sandlock-runtime/criu-lite"
)

// RestoreOpts are runc's restore flags beyond create's.
type RestoreOpts struct {
	ImagePath string
	Detach    bool
}

// Restore creates a container from its bundle, confined the normal way, and restores the
// image's processes into it instead of starting its program afresh. The image is read and
// verified before anything is created. Detached, it returns once the processes run;
// otherwise it waits like run and returns init's exit code.
func Restore(o *Options, c CreateOpts, ro RestoreOpts) (int, error) {
	img, err := criulite.Load(ro.ImagePath)
	if err != nil {
		return -1, err
	}
	c.restore = true
	cr, err := create(o, c, !ro.Detach)
	if err != nil {
		return -1, err
	}
	_, err = criulite.Restore(img, criulite.RestoreOpts{Pid: cr.init.Process.Pid, Start: cr.cont.start})
	if err != nil {
		cr.closeFiles()
		_ = cr.cont.destroy()
		killCmd(cr.init)
		killCmd(cr.sup)
		return -1, fmt.Errorf("restore %s: %w", c.ID, err)
	}
	cr.closeFiles()
	if ro.Detach {
		return 0, nil
	}
	return cr.wait()
}
