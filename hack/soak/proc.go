package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Child processes: the runtime commands are started and waited by os/exec ("owned"); whatever
// else becomes our child (container inits and supervisors, reparented to this subreaper when
// create exits) is reaped by the reaper, which must never reap an owned one.

var (
	ownedMu sync.Mutex
	owned   = map[int]bool{}
)

// startOwned starts cmd and records its pid under the lock the reaper holds while it scans.
func startOwned(cmd *exec.Cmd) error {
	ownedMu.Lock()
	defer ownedMu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	owned[cmd.Process.Pid] = true
	return nil
}

// waitOwned waits for cmd and forgets its pid (os/exec has reaped it).
func waitOwned(cmd *exec.Cmd) error {
	err := cmd.Wait()
	ownedMu.Lock()
	delete(owned, cmd.Process.Pid)
	ownedMu.Unlock()
	return err
}

// startReaper reaps orphans on every SIGCHLD (and every 100 ms, for a signal coalesced away
// while a scan ran). It returns the function that stops it.
func startReaper() (stop func()) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD)
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-sigs:
			case <-tick.C:
			}
			reapOrphans()
		}
	}()
	return func() { signal.Stop(sigs); close(done); reapOrphans() }
}

// reapOrphans reaps our zombie children that os/exec does not own.
func reapOrphans() {
	ownedMu.Lock()
	defer ownedMu.Unlock()
	self := os.Getpid()
	for _, pid := range allPids() {
		if owned[pid] {
			continue
		}
		if st, ok := readStat(pid); ok && st.ppid == self && st.state == 'Z' {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
	}
}

func allPids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

type procStat struct {
	state byte
	ppid  int
	start uint64
}

// readStat reads the state, parent and start time of pid (comm may hold spaces and ')').
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return procStat{state: f[0][0], ppid: ppid, start: start}, true
}

// ---- the runtime's commands ----

// rtResult is one runtime command: its exit status, output (stdout and stderr) and how long
// it took.
type rtResult struct {
	code int // exit code; 128+N when killed by signal N; -1 when it could not start
	out  string
	took time.Duration
}

func (r rtResult) String() string {
	return fmt.Sprintf("exit %d: %s", r.code, strings.TrimSpace(r.out))
}

// rtCmd prepares `bin --root ROOT args...`. Its stdio are files, not pipes: create's fds 0-2
// become the container's, and a pipe would stay open as long as the container lives.
func (c *config) rtCmd(errFile *os.File, args ...string) *exec.Cmd {
	cmd := exec.Command(c.bin, append([]string{"--root", c.root}, args...)...)
	cmd.Stdout, cmd.Stderr = errFile, errFile
	return cmd
}

// rt runs a runtime command to completion; errFile (truncated first) collects its output.
func (c *config) rt(errFile *os.File, args ...string) rtResult {
	_ = errFile.Truncate(0)
	_, _ = errFile.Seek(0, 0)
	cmd := c.rtCmd(errFile, args...)
	t := time.Now()
	if err := startOwned(cmd); err != nil {
		return rtResult{code: -1, out: err.Error()}
	}
	_ = waitOwned(cmd)
	r := rtResult{code: exitCode(cmd.ProcessState), took: time.Since(t)}
	b, _ := os.ReadFile(errFile.Name())
	r.out = string(b)
	return r
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
