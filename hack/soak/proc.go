package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sandlock/sandlock-runtime/internal/children"
)

// Child processes: the runtime commands are started and waited by os/exec (children.Start,
// children.Wait); whatever else becomes our child (container inits and supervisors, reparented
// to this subreaper when create exits) is reaped by the reaper (children.Reap).

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
			children.Reap()
		}
	}()
	return func() { signal.Stop(sigs); close(done); children.Reap() }
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
	if err := children.Start(cmd); err != nil {
		return rtResult{code: -1, out: err.Error()}
	}
	_ = children.Wait(cmd)
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
