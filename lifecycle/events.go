package lifecycle

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Event is one line of `events`: runc's {"type": "stats"|"oom", "id": ..., "data": ...}, and
// "denied" with an AuditRecord as data for each refusal the supervisor made for the policy.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

// auditPoll is how often the stream looks for new lines in the audit log.
const auditPoll = 200 * time.Millisecond

// Events reports the container's events to emit until it stops or is deleted: its statistics
// every interval, "oom" each time the OOM killer acts in its memory cgroup, and "denied" for
// each refusal in its audit log (those already recorded first).
func Events(o *Options, id string, interval time.Duration, emit func(Event) error) error {
	c, err := Load(o.Root, id)
	if err != nil {
		return err
	}
	if _, err := ContainerStats(o, id); err != nil {
		return err
	}
	rec, _ := loadCgroupRecord(c.dir)
	oom, stop := watchOOM(rec)
	defer stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	audit := time.NewTicker(auditPoll)
	defer audit.Stop()
	seen := 0
	for {
		select {
		case <-audit.C:
			records, err := c.Audit()
			if err != nil || len(records) <= seen {
				continue
			}
			for _, r := range records[seen:] {
				if err := emit(Event{Type: "denied", ID: id, Data: r}); err != nil {
					return err
				}
			}
			seen = len(records)
		case <-oom:
			if err := emit(Event{Type: "oom", ID: id}); err != nil {
				return err
			}
		case <-tick.C:
			s, err := ContainerStats(o, id)
			if err != nil {
				return nil // stopped or deleted: the stream ends, as runc's does
			}
			if err := emit(Event{Type: "stats", ID: id, Data: s}); err != nil {
				return err
			}
		}
	}
}

// watchOOM signals on the returned channel each time the OOM killer acts in the container: a v1
// memory cgroup notifies an eventfd registered in cgroup.event_control; a cgroup2 one raises
// POLLPRI on memory.events, whose oom_kill counter says what happened.
func watchOOM(rec cgroupRecord) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	var wait func() bool
	var closeFn func()
	if m := rec.V1.Dirs["memory"]; m != "" {
		wait, closeFn = v1OOMWaiter(m)
	} else {
		wait, closeFn = v2OOMWaiter(rec.Dir)
	}
	if wait == nil {
		return ch, func() {}
	}
	go func() {
		for wait() {
			select {
			case ch <- struct{}{}:
			case <-done:
				return
			}
		}
	}()
	// The fds stay open while the watcher may block on them (closing an fd another thread
	// reads could hand its number to a new file); the events command exits when it returns.
	return ch, func() { close(done); _ = closeFn }
}

func v1OOMWaiter(dir string) (func() bool, func()) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, nil
	}
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err == nil {
		err = writeCgroupFile(dir, "cgroup.event_control", fmt.Sprintf("%d %d", efd, ctl.Fd()))
	}
	if err != nil {
		unix.Close(efd)
		if ctl != nil {
			ctl.Close()
		}
		return nil, nil
	}
	buf := make([]byte, 8)
	wait := func() bool {
		n, err := unix.Read(efd, buf)
		// The kernel also signals when the cgroup is removed: then memory.oom_control is gone.
		_, gone := os.Stat(filepath.Join(dir, "memory.oom_control"))
		return err == nil && n == 8 && binary.NativeEndian.Uint64(buf) > 0 && gone == nil
	}
	return wait, func() { unix.Close(efd); ctl.Close() }
}

func v2OOMWaiter(dir string) (func() bool, func()) {
	f, err := os.Open(filepath.Join(dir, "memory.events"))
	if err != nil {
		return nil, nil
	}
	buf := make([]byte, 512)
	// Read through the polled fd (see waitCgroupEvent); a removed cgroup reads nothing.
	count := func() (uint64, bool) {
		n, err := f.ReadAt(buf, 0)
		v, _ := eventValue(buf[:n], "oom_kill")
		c, _ := strconv.ParseUint(v, 10, 64)
		return c, n > 0 || err == nil
	}
	last, _ := count()
	wait := func() bool {
		for {
			fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLPRI}}
			if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
				return false
			}
			c, ok := count()
			if !ok {
				return false
			}
			if c > last {
				last = c
				return true
			}
		}
	}
	return wait, func() { f.Close() }
}
