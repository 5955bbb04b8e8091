package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var errNoLimits = errors.New("this container has no cgroup controllers to change: it was created without a writable cgroup, " +
	"or it is a sandbox (sandbox --name), which joins only the controllers of the limits it was started with (-m, --max-processes, --max-cpu)")

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
	unlock, err := lockFile(filepath.Join(c.dir, "update.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	old, err := c.loadResources()
	if err != nil {
		return err
	}
	if err := sameDevices(r.Devices, old.Devices); err != nil {
		return err
	}
	noDev := *r
	noDev.Devices = nil
	if m := noDev.Memory; m != nil && m.Limit != nil && *m.Limit == -1 && m.Swap == nil {
		// runc's rule: no memory limit and no swap said means no memory+swap limit either (the
		// kernel refuses an unlimited memory under a limited memory+swap).
		mm := *m
		mm.Swap = ptrTo(int64(-1))
		noDev.Memory = &mm
	}
	r = &noDev
	merged, err := mergeResources(old, r)
	if err != nil {
		return err
	}
	if err := memoryUnderSwap(merged.Memory); err != nil {
		return err
	}
	rec, ok := loadCgroupRecord(c.dir)
	if !ok {
		return errNoLimits
	}
	if err := applyUpdate(rec, r, merged); err != nil {
		return err
	}
	// Written back once applied, as runc writes an update into its state: `state`, a later
	// partial update and the records read it.
	if err := saveResources(c.dir, merged); err != nil {
		return err
	}
	if rec.Systemd != nil {
		// systemd rewrites a unit's attributes from its properties at each daemon-reload.
		return rec.Systemd.setUnitLimits(merged)
	}
	return nil
}

func applyUpdate(rec cgroupRecord, r, merged *specs.LinuxResources) error {
	if len(rec.V1.Dirs) == 0 {
		mnt := Cgroup2Mount()
		offered := strings.Fields(cgroup2Controllers(mnt))
		if len(offered) == 0 {
			return errNoLimits
		}
		return applyV2(mnt, rec.Dir, offered, v2Delta(r, merged))
	}
	ws, err := v1Writes(r)
	if err != nil {
		return err
	}
	return applyV1(rec.V1, swapFirstWhenRaising(ws, rec.V1.Dirs["memory"]))
}

// memoryUnderSwap refuses limits in which the memory limit exceeds the memory+swap limit (the
// kernel's EINVAL on cgroup v1, refused on cgroup2 too): typically `update --memory` raising the
// limit of a max_memory container, whose memory+swap create set to the same value, without
// --memory-swap. Said before anything is written, with what to do.
func memoryUnderSwap(m *specs.LinuxMemory) error {
	if m == nil || m.Limit == nil || m.Swap == nil || *m.Swap <= 0 || (*m.Limit >= 0 && *m.Swap >= *m.Limit) {
		return nil
	}
	if *m.Limit < 0 {
		return fmt.Errorf("%smemory.limit: none (-1) under the memory+swap limit in force, %d; accepted: a limit <= %d, or --memory-swap -1 with it", resPrefix, *m.Swap, *m.Swap)
	}
	return fmt.Errorf("%smemory.limit: %d is above the memory+swap limit in force, %d (max_memory sets both); accepted: a limit <= %d, or --memory-swap with it (>= the limit, -1 for none)", resPrefix, *m.Limit, *m.Swap, *m.Swap)
}

// sameDevices accepts an update's device list only when it is the one create applied (the
// config's rules, which the applied list starts with): containerd sends the container's whole
// linux.resources with every update, and the device list is not changed by update (runc's
// neither); a different list is refused rather than silently kept.
func sameDevices(upd, applied []specs.LinuxDeviceCgroup) error {
	if len(upd) == 0 || (len(upd) <= len(applied) && reflect.DeepEqual(upd, applied[:len(upd)])) {
		return nil
	}
	return fmt.Errorf("%sdevices: update cannot change the device list set at create (runc's update neither); accepted: no devices, or the container's own list", resPrefix)
}

// lockFile takes an exclusive flock on path (made if missing) until unlock: two updates of one
// container at once would each write back only their own change.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
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
