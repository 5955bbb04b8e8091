package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/sandlock/sandlock-runtime/internal/children"
	"golang.org/x/sys/unix"
)

// A delay sweep hits the long steps of create often and the short ones by chance. These
// trials kill create the moment inotify reports each observable step instead: the state dir,
// the cgroup dir, the cgroup record, every line of the mount log, the control socket, the
// exec filters (init is running) and state.json. The kill lands a few microseconds after the
// event, so each trial is repeated.

// createEvent is one observable step of create.
type createEvent struct {
	name string
	dir  string // "root", "cgroup" (the run's cgroup parent) or "state" (the container's dir)
	file string // "" = the container's ID
	mask uint32
	nth  int // the nth such event (mount log lines)
}

func createEvents(mounts int) []createEvent {
	evs := []createEvent{
		{name: "state dir made", dir: "root", mask: unix.IN_CREATE, nth: 1},
		{name: "cgroup dir made", dir: "cgroup", mask: unix.IN_CREATE, nth: 1},
		{name: "cgroup recorded", dir: "state", file: "cgroup", mask: unix.IN_MOVED_TO, nth: 1},
	}
	for k := 1; k <= mounts; k++ {
		evs = append(evs, createEvent{name: fmt.Sprintf("mount log line %d", k), dir: "state",
			file: "mounts", mask: unix.IN_MODIFY, nth: k})
	}
	return append(evs,
		createEvent{name: "control socket made", dir: "state", file: "sup.sock", mask: unix.IN_CREATE, nth: 1},
		createEvent{name: "init started", dir: "state", file: "seccomp.json", mask: unix.IN_MOVED_TO, nth: 1},
		createEvent{name: "state.json written", dir: "state", file: "state.json", mask: unix.IN_MOVED_TO, nth: 1},
	)
}

// runEventCrashes kills create at each event reps times, then checks delete --force.
func runEventCrashes(c *config, mounts, reps int, errFile *os.File, r *phaseResult) {
	// The parent exists beforehand so that its IN_CREATE can be watched; the runtime then
	// does not count it as made by the container and leaves it.
	if err := os.MkdirAll(c.cgParent, 0o755); err != nil {
		r.fail("cgroup parent: %v", err)
		return
	}
	bundle := bundleDir(c, 0)
	hit, n := 0, 0
	var missed []string
	for _, ev := range createEvents(mounts) {
		for rep := range reps {
			if stopping.Load() {
				break
			}
			id := fmt.Sprintf("soakev%d-%d", os.Getpid(), n)
			n++
			fired, stage, fail := eventTrial(c, bundle, id, ev, errFile)
			if fired {
				hit++
			} else {
				missed = append(missed, ev.name)
			}
			if fail != "" {
				r.fail("killed at %q (rep %d, stage %q): %s", ev.name, rep, stage, fail)
				sweep(c)
			}
		}
	}
	gone := "none"
	if len(missed) > 0 {
		gone = strings.Join(slices.Compact(missed), ", ")
	}
	r.add("%d creates SIGKILLed at an observed step (%d steps x %d: state dir, cgroup dir, cgroup record, each of the %d mount log lines (intent, then record, per mount), control socket, init, state.json), each followed by delete --force; %d kills fired at their step; create had exited before: %s",
		n, len(createEvents(mounts)), reps, mounts, hit, gone)
}

// eventTrial starts create, kills it when ev happens, deletes with --force and checks for
// leaks. fired says whether the event was seen before create exited.
func eventTrial(c *config, bundle, id string, ev createEvent, errFile *os.File) (fired bool, stage, fail string) {
	if err := writeConfig(c, bundle, id); err != nil {
		return false, "none", err.Error()
	}
	w, err := newWatcher(c, id, ev)
	if err != nil {
		return false, "none", err.Error()
	}
	defer w.close()
	cmd := c.rtCmd(errFile, "create", "--bundle", bundle, id)
	if err := children.Start(cmd); err != nil {
		return false, "none", err.Error()
	}
	done := make(chan struct{})
	go func() { _ = children.Wait(cmd); close(done) }()
	if fired = w.wait(done, 10*time.Second); fired {
		_ = cmd.Process.Signal(syscall.SIGKILL)
	}
	<-done
	stage = stageOf(c, id)
	return fired, stage, deleteForce(c, id, errFile)
}

// watcher follows one create through inotify: the root (and the cgroup parent) from the
// start, the container's state dir as soon as it exists.
type watcher struct {
	fd    int
	c     *config
	id    string
	ev    createEvent
	state int // watch descriptor of the state dir (-1 until it exists)
	count int // matching events seen
}

func newWatcher(c *config, id string, ev createEvent) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	w := &watcher{fd: fd, c: c, id: id, ev: ev, state: -1}
	if err := os.MkdirAll(c.root, 0o700); err != nil {
		w.close()
		return nil, err
	}
	dirs := []string{c.root}
	if ev.dir == "cgroup" {
		dirs = []string{c.cgParent}
	}
	for _, d := range dirs {
		if _, err := unix.InotifyAddWatch(fd, d, unix.IN_CREATE); err != nil {
			w.close()
			return nil, fmt.Errorf("watch %s: %w", d, err)
		}
	}
	return w, nil
}

func (w *watcher) close() { unix.Close(w.fd) }

// wait returns true as soon as the event happened, false when create exited (done) first or
// d passed.
func (w *watcher) wait(done <-chan struct{}, d time.Duration) bool {
	deadline := time.Now().Add(d)
	buf := make([]byte, 64*1024)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return false
		default:
		}
		fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, 2); err != nil || n == 0 {
			continue
		}
		n, err := unix.Read(w.fd, buf)
		if err != nil {
			continue
		}
		if w.handle(buf[:n]) {
			return true
		}
	}
	return false
}

// handle processes a batch of inotify events and reports whether the awaited one is among them.
func (w *watcher) handle(b []byte) bool {
	for len(b) >= unix.SizeofInotifyEvent {
		e := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(e.Len)
		name := string(bytes.TrimRight(b[unix.SizeofInotifyEvent:end], "\x00"))
		b = b[end:]
		if w.matches(int(e.Wd), e.Mask, name) {
			return true
		}
	}
	return false
}

func (w *watcher) matches(wd int, mask uint32, name string) bool {
	if wd != w.state { // the root or the cgroup parent
		if name != w.id {
			return false
		}
		if w.ev.dir != "state" {
			return true
		}
		return w.watchState()
	}
	if name != w.ev.file || mask&w.ev.mask == 0 {
		return false
	}
	w.count = w.seen()
	return w.count >= w.ev.nth
}

// watchState starts watching the new state dir; what happened in it before the watch was
// added is counted from the files themselves (true: the event is already past).
func (w *watcher) watchState() bool {
	dir := filepath.Join(w.c.root, w.id)
	wd, err := unix.InotifyAddWatch(w.fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_MODIFY)
	if err != nil {
		return errors.Is(err, unix.ENOENT) // gone already: create failed or was killed
	}
	w.state = wd
	w.count = w.seen()
	return w.count >= w.ev.nth
}

// seen counts the awaited events from the file itself: lines of the mount log (inotify merges
// a modification into the one before it while that is unread, so events undercount), 1 for
// any other file once it exists.
func (w *watcher) seen() int {
	path := filepath.Join(w.c.root, w.id, w.ev.file)
	if w.ev.file == "mounts" {
		b, _ := os.ReadFile(path)
		return strings.Count(string(b), "\n")
	}
	if _, err := os.Lstat(path); err != nil { // sup.sock is a socket: stat, never read
		return 0
	}
	return 1
}
