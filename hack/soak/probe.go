package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// runProbe proves the leak counter sees each kind of leak before the soak relies on it: a
// created container, left alone, must show up as processes, mounts, a state dir and a cgroup;
// after `delete --force` as nothing. A blind counter would make every later "0 leaks" worthless.
func runProbe(c *config) phaseResult {
	var r phaseResult
	errFile, err := os.Create(filepath.Join(c.work, "probe.out"))
	if err != nil {
		r.fail("%v", err)
		return r
	}
	defer errFile.Close()
	bundle := bundleDir(c, 0)
	id := fmt.Sprintf("soakprobe%d", os.Getpid())
	if err := writeConfig(c, bundle, id); err != nil {
		r.fail("%v", err)
		return r
	}
	if res := c.rt(errFile, "create", "--bundle", bundle, id); res.code != 0 {
		r.fail("create: %s", res)
		return r
	}
	l := countLeaks(c, nil)
	c.rt(errFile, "delete", "--force", id)
	if len(l.procs) == 0 || len(l.mounts) == 0 || len(l.states) == 0 || len(l.cgroups) == 0 {
		r.fail("the leak counter missed a live container: %s", l)
	}
	after := settledLeaks(c, nil)
	if after.total() > 0 {
		r.fail("left after delete --force: %s", after)
	}
	r.add("leak counter sees a created container (%d processes, %d mounts, %d state dir, %d cgroup) and nothing after delete --force",
		len(l.procs), len(l.mounts), len(l.states), len(l.cgroups))
	return r
}
