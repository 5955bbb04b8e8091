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
	cr, err := restoreCreate(o, c, img, !ro.Detach)
	if err != nil {
		return -1, err
	}
	if ro.Detach {
		return 0, nil
	}
	return cr.wait()
}

// LaunchRestore is Launch for an image (as criulite.Load read and verified it): the container
// runs the restored processes, and the caller must Wait for it as after Launch.
func LaunchRestore(o *Options, c CreateOpts, img *criulite.Image) (*Handle, error) {
	cr, err := restoreCreate(o, c, img, true)
	if err != nil {
		return nil, err
	}
	return &Handle{cr: cr}, nil
}

func restoreCreate(o *Options, c CreateOpts, img *criulite.Image, relayTTY bool) (*creation, error) {
	c.restore = true
	c.restorePid = img.Processes[0].Pid
	c.restoreWorkdir, c.restoreLayer = img.Workdir, img.LayerDir()
	cr, err := create(o, c, relayTTY, false)
	if err != nil {
		return nil, err
	}
	res, err := criulite.Restore(img, criulite.RestoreOpts{Pid: cr.init.Process.Pid, Start: cr.cont.start})
	if err != nil {
		cr.abortStart()
		return nil, fmt.Errorf("restore %s: %w", c.ID, err)
	}
	cr.closeFiles()
	for old, pid := range res.Pids {
		if old != pid {
			o.logger().Warnf("restore %s: process %d is now pid %d (its pid was in use): docs/checkpoint.md, Pids", c.ID, old, pid)
		}
	}
	return cr, nil
}
