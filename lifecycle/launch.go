package lifecycle

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/cowfs"
)

// Handle is a container started in the foreground by Launch, for embedders (package sandbox,
// the sandbox command): its init is our child, and Wait reaps it and removes everything the
// container had (processes, mounts, cgroup, state dir, supervisor). Every method is safe for
// concurrent use; Signal, Pause, Resume and Kill return ErrNotRunning once Wait has cleaned up.
type Handle struct {
	cr       *creation
	waitOnce sync.Once
	mu       sync.Mutex // guards done against the cleanup in Wait
	done     bool
	code     int
	err      error
	denials  []AuditRecord
	changes  []cowfs.Change
	kept     string
}

// Launch creates and starts a container in the foreground, like Run without waiting: the
// caller must call Wait exactly as Run would have waited (it may Kill first). Nothing is
// left behind when it fails.
func Launch(o *Options, c CreateOpts) (*Handle, error) {
	cr, err := launch(o, c, true)
	if err != nil {
		return nil, err
	}
	return &Handle{cr: cr}, nil
}

// launch creates and starts; relayTTY says whether the caller relays a terminal itself.
func launch(o *Options, c CreateOpts, relayTTY bool) (*creation, error) {
	cr, err := create(o, c, relayTTY, true)
	if err != nil {
		return nil, err
	}
	t := time.Now()
	if cr.publishAtStart() {
		cr.cont.State.Started = true
		err = cr.publish(c.PidFile)
	}
	if err == nil {
		err = cr.startHere()
	}
	o.logger().Debugf("run %s: start took %s", c.ID, time.Since(t))
	if err != nil {
		cr.abortStart()
		return nil, err
	}
	cr.closeFiles()
	return cr, nil
}

// abortStart tears down a container whose start (or restore) failed after create.
func (cr *creation) abortStart() {
	cr.dropXS()
	cr.closeFiles()
	// Reaped before the teardown: an embedder lives on after a failed launch, and with a
	// copy-on-write workdir the supervisor records init's exit status (PIDFD_INFO_EXIT,
	// which the kernel gives once init is reaped) before destroy may finish the layer;
	// reaped after, destroy waited for the supervisor in vain and killed it with a warning.
	killCmd(cr.init)
	_ = cr.cont.destroy()
	killCmd(cr.sup)
}

// Pid is the container's init pid: the user's program once started.
func (h *Handle) Pid() int { return h.cr.cont.State.Pid }

// Wait waits for init to exit, destroys the container and returns init's exit code (128+N
// for signal N). Later calls return the same result.
func (h *Handle) Wait() (exitCode int, err error) {
	h.waitOnce.Do(func() {
		code, err := h.cr.waitExit()
		h.mu.Lock()
		defer h.mu.Unlock()
		h.done = true
		h.denials, _ = h.cr.cont.Audit() // read before cleanup removes the state dir
		var cerr error
		if h.cr.dryRun {
			h.changes, cerr = h.cr.cont.COWChanges()
		}
		err = errors.Join(err, cerr)
		t := time.Now()
		h.code, h.err = code, errors.Join(err, h.cr.cleanup())
		h.cr.log.Debugf("run %s: cleanup took %s", h.cr.cont.ID(), time.Since(t))
		h.kept = h.cr.cont.keptLayer
	})
	return h.code, h.err
}

// Command is the container's process.args: the command a checkpoint of it records.
func (h *Handle) Command() []string {
	if p := h.cr.spec.Process; p != nil {
		return slices.Clone(p.Args)
	}
	return nil
}

// KeptLayer is the copy-on-write layer Wait kept (on_exit/on_error KEEP, or a commit refused
// by a branch conflict), for `sandlock-runtime cow commit|abort|diff`; "" for none.
func (h *Handle) KeptLayer() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.kept
}

// Changes is what a dry run's command changed in the workdir, once Wait has returned.
func (h *Handle) Changes() []cowfs.Change {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changes
}

// Denials are the refusals the supervisor made for the policy (the audit log), once Wait has
// returned.
func (h *Handle) Denials() []AuditRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.denials
}

// running runs f unless Wait has cleaned up, holding the lock so that cleanup cannot start
// underneath it.
func (h *Handle) running(f func() error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return ErrNotRunning
	}
	return f()
}

// Signal sends sig to init.
func (h *Handle) Signal(sig os.Signal) error {
	return h.running(func() error {
		if err := h.cr.init.Process.Signal(sig); errors.Is(err, os.ErrProcessDone) {
			return ErrNotRunning
		} else if err != nil {
			return err
		}
		return nil
	})
}

// Kill kills every process of the container (cgroup.kill; without a cgroup init, the zygote
// and init's descendants). Wait still has to be called.
func (h *Handle) Kill() error {
	return h.running(func() error {
		if h.cr.cont.State.Cgroup != "" {
			return killCgroup(h.cr.cont.State.Cgroup)
		}
		below, ok := signalTree(h.cr.init.Process, unix.SIGSTOP)
		if ok {
			_ = h.cr.init.Process.Signal(unix.SIGKILL)
		}
		below.signal(unix.SIGKILL)
		below.close()
		return nil
	})
}

// Pause freezes the container. With a cgroup that is cgroup.freeze, which no process can
// escape. Without one (not root, no writable cgroup2) it is the fallback docs/sandbox.md
// describes: SIGSTOP to init and its descendants, top-down, found through
// /proc/PID/task/TID/children; a process that left init's tree (setsid and a double fork) is
// not reached, and the workload's parent sees the stops.
func (h *Handle) Pause() error { return h.freeze(true) }

// Resume thaws what Pause froze (SIGCONT to the same tree without a cgroup).
func (h *Handle) Resume() error { return h.freeze(false) }

func (h *Handle) freeze(on bool) error {
	return h.running(func() error {
		if cg := h.cr.cont.State.Cgroup; cg != "" {
			return freezeCgroup(cg, on)
		}
		sig := unix.SIGCONT
		if on {
			sig = unix.SIGSTOP
		}
		below, ok := signalTree(h.cr.init.Process, sig)
		below.close()
		if !ok {
			return ErrNotRunning
		}
		return nil
	})
}

// signalTree signals init and its descendants, parents before children, and returns the
// descendants it signalled; ok is false when init is gone. With SIGSTOP it waits for each to
// stop before reading its children, so a stopped parent forks nobody behind the walk; Kill
// stops the tree this way before killing it, because a killed parent's children are
// reparented out of reach.
func signalTree(init *os.Process, sig unix.Signal) (below pidfds, ok bool) {
	// init through its pidfd: once Wait has reaped it, its pid may be someone else's.
	if init.Signal(sig) != nil {
		return nil, false
	}
	return signalDescendants(init.Pid, 0, sig), true
}

// pidfds are processes of a walked tree, each held by a pidfd: a pid read from a children
// file can be reaped and reused by anyone before it is signalled (a child of a process that
// is not stopped, or of one that ignores SIGCHLD, is reaped at once), and a process killed
// at the end of kill --all's walk was stopped long before.
type pidfds []int

func (p pidfds) signal(sig unix.Signal) {
	for _, fd := range p {
		_ = unix.PidfdSendSignal(fd, sig, nil, 0)
	}
}

func (p pidfds) close() {
	for _, fd := range p {
		unix.Close(fd)
	}
}

// signalDescendants signals the descendants of init, signalled already by the caller (through
// its pidfd, so its children are the container's), parents before children, and returns the
// processes it signalled (see signalTree), for the caller to close. zygote (0: none) is
// runtime machinery: it is not signalled, its children (exec'd processes) are.
func signalDescendants(init, zygote int, sig unix.Signal) pidfds {
	type child struct{ pid, parent int }
	generation := func(parent int, kids []int) []child {
		out := make([]child, len(kids))
		for i, k := range kids {
			out[i] = child{k, parent}
		}
		return out
	}
	var done pidfds
	queue := generation(init, nextGeneration(init, sig))
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		fd, ok := childPidfd(c.parent, c.pid)
		if !ok {
			continue
		}
		if c.pid == zygote {
			unix.Close(fd)
			queue = append(queue, generation(c.pid, procChildren(c.pid))...)
			continue
		}
		if unix.PidfdSendSignal(fd, sig, nil, 0) != nil {
			unix.Close(fd)
			continue
		}
		done = append(done, fd)
		queue = append(queue, generation(c.pid, nextGeneration(c.pid, sig))...)
	}
	return done
}

// childPidfd opens a pidfd for pid if it is still a child of parent: the pidfd pins the
// process whose parent was checked, so a pid reused since it was listed is never signalled.
func childPidfd(parent, pid int) (int, bool) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, false
	}
	if _, ppid, err := procParent(pid); err != nil || ppid != parent {
		unix.Close(fd)
		return -1, false
	}
	return fd, true
}

// nextGeneration waits for a stopping process to stop, then lists its children.
func nextGeneration(pid int, sig unix.Signal) []int {
	if sig == unix.SIGSTOP {
		awaitStopped(pid)
	}
	return procChildren(pid)
}

// awaitStopped waits briefly until pid shows state T (stopped), so its child list is final.
func awaitStopped(pid int) {
	for range 50 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i < 0 || i+2 >= len(s) || s[i+2] == 'T' || s[i+2] == 'Z' {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// procChildren lists the children of every thread of pid.
func procChildren(pid int) []int {
	files, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var kids []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			if k, err := strconv.Atoi(w); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

// directTerminals hides the host's terminals and devices from the direct mode's rules
// (confine.HideHostDevices) and grants back
// only the sandbox's own: each stdio file that is a terminal gets a rule on the open file
// itself (init opens /proc/self/fd/N, its own stdio, so no path can be swapped under it), and
// /dev/tty when it leads to one of them, i.e. when our controlling terminal is on stdio.
func directTerminals(rules []confine.PathRule, stdio [3]*os.File) ([]confine.PathRule, error) {
	rules, err := confine.HideHostDevices(rules)
	if err != nil {
		return nil, err
	}
	ctty := controllingTTY()
	ownCtty := false
	for i, f := range stdio {
		rdev, ok := terminalDev(f)
		if !ok {
			continue
		}
		rules = append(rules, confine.PathRule{Path: fmt.Sprintf("/proc/self/fd/%d", i), Write: true})
		ownCtty = ownCtty || (ctty != 0 && rdev == ctty)
	}
	if ownCtty {
		rules = append(rules, confine.PathRule{Path: "/dev/tty", Write: true, NoSymlinks: true})
	}
	return rules, nil
}

// terminalDev returns the device number of f when f is a terminal.
func terminalDev(f *os.File) (uint64, bool) {
	if f == nil {
		return 0, false
	}
	fd := int(f.Fd())
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return 0, false
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return 0, false
	}
	return st.Rdev, true
}

// controllingTTY is this process's controlling terminal (tty_nr of /proc/self/stat), which
// init inherits: it is not started in a new session. 0 when there is none.
func controllingTTY() uint64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // state ppid pgrp session tty_nr ...
	if len(f) < 5 {
		return 0
	}
	n, _ := strconv.ParseUint(f[4], 10, 64)
	return n
}
