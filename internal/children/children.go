// Package children keeps apart, in a process that is a subreaper (the integration tests,
// hack/soak), the children os/exec waits for ("owned": started by Start) and the others that
// become its children (container inits, supervisors, shims and conmons reparented to it), which
// Reap reaps. Reap never reaps an owned one: os/exec's Wait would lose its exit status.
package children

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

var (
	mu    sync.Mutex
	owned = map[int]bool{}
)

// Start starts cmd and records its pid, under the lock Reap holds while it scans.
func Start(cmd *exec.Cmd) error {
	mu.Lock()
	defer mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	owned[cmd.Process.Pid] = true
	return nil
}

// Disown forgets pid once os/exec has reaped it.
func Disown(pid int) {
	mu.Lock()
	delete(owned, pid)
	mu.Unlock()
}

// Wait waits for cmd (started by Start) and forgets its pid.
func Wait(cmd *exec.Cmd) error {
	err := cmd.Wait()
	Disown(cmd.Process.Pid)
	return err
}

// Reap reaps our zombie children that os/exec does not own.
func Reap() {
	mu.Lock()
	defer mu.Unlock()
	self := os.Getpid()
	for _, pid := range Pids() {
		if owned[pid] {
			continue
		}
		if st, ok := ReadStat(pid); ok && st.PPid == self && st.State == 'Z' {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
	}
}

// Orphans reaps the zombies (Reap) and lists our children that os/exec does not own.
func Orphans() []int {
	Reap()
	mu.Lock()
	defer mu.Unlock()
	self := os.Getpid()
	var left []int
	for _, pid := range Pids() {
		if owned[pid] {
			continue
		}
		if st, ok := ReadStat(pid); ok && st.PPid == self {
			left = append(left, pid)
		}
	}
	return left
}

// Pids lists the processes in /proc.
func Pids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Stat is what /proc/PID/stat says of a process's state, parent and start time.
type Stat struct {
	State byte   // R, S, D, Z, ...
	PPid  int    // parent pid
	Start uint64 // start time, clock ticks after boot
}

// ReadStat reads pid's Stat (comm may hold spaces and ')').
func ReadStat(pid int) (Stat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return Stat{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return Stat{}, false
	}
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return Stat{State: f[0][0], PPid: ppid, Start: start}, true
}
