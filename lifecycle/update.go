package lifecycle

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var errNoLimits = errors.New("this container has no cgroup controllers to change (it was created without a writable cgroup)")

// Update changes the resource limits of a created, running or paused container: only the
// fields r sets are written, into the controllers the container joined at create.
func Update(o *Options, id string, r *specs.LinuxResources) error {
	c, err := Load(o.Root, id)
	if err != nil {
		return err
	}
	if c.State == nil {
		return check("update", id, Creating)
	}
	if err := check("update", id, c.Status()); err != nil {
		return err
	}
	rec, ok := loadCgroupRecord(c.dir)
	if !ok {
		return errNoLimits
	}
	if len(rec.V1.Dirs) == 0 {
		mnt := Cgroup2Mount()
		if cgroup2Controllers(mnt) == "" {
			return errNoLimits
		}
		return applyV2(mnt, rec.Dir, r)
	}
	ws, err := v1Writes(r)
	if err != nil {
		return err
	}
	return applyV1(rec.V1, swapFirstWhenRaising(ws, rec.V1.Dirs["memory"]))
}

// swapFirstWhenRaising orders a v1 memory update: the kernel keeps memory.memsw >= memory, so a
// limit raised above the current memsw limit needs the memsw write first.
func swapFirstWhenRaising(ws []cgWrite, memDir string) []cgWrite {
	li, si := -1, -1
	for i, w := range ws {
		switch w.file {
		case "memory.limit_in_bytes":
			li = i
		case "memory.memsw.limit_in_bytes":
			si = i
		}
	}
	if li < 0 || si < 0 || memDir == "" {
		return ws
	}
	b, err := os.ReadFile(filepath.Join(memDir, "memory.memsw.limit_in_bytes"))
	cur, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	newLimit, _ := strconv.ParseInt(ws[li].val, 10, 64)
	if err == nil && (newLimit < 0 || newLimit > cur) {
		ws[li], ws[si] = ws[si], ws[li]
	}
	return ws
}
