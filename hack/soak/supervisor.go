package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sandlock/sandlock-runtime/internal/children"
	"golang.org/x/sys/unix"
)

// escaper is the container's program for the supervisor trials: a child that left init's
// session and process tree (setsid, in the background) beside init; both must die with the
// supervisor.
var escaper = []string{"sh", "-c", "setsid sleep 1000 & exec sleep 1000"}

// runSupervisorKills SIGKILLs the supervisor of a running container c.supKills times and checks
// that the container dies (every process of its cgroup), is reported stopped and deletes
// without --force, leaving nothing.
func runSupervisorKills(c *config) phaseResult {
	var r phaseResult
	if c.supKills <= 0 {
		return r
	}
	errFile, err := os.Create(filepath.Join(c.work, "supervisor.out"))
	if err != nil {
		r.fail("%v", err)
		return r
	}
	defer errFile.Close()
	var took []time.Duration
	for i := range c.supKills {
		if stopping.Load() {
			break
		}
		id := fmt.Sprintf("soaksup%d-%d", os.Getpid(), i)
		d, err := supervisorTrial(c, bundleDir(c, 0), id, errFile)
		if err != nil {
			r.fail("trial %d (%s): %v", i, id, err)
			sweep(c)
			continue
		}
		took = append(took, d)
	}
	if len(took) > 0 {
		r.add("%d supervisors SIGKILLed under a running container (init + a setsid'd child): all processes gone after median %s, max %s",
			c.supKills, ms(pct(took, 50)), ms(pct(took, 100)))
	}
	return r
}

// supervisorTrial runs one container, kills its supervisor and returns how long the
// container took to be empty.
func supervisorTrial(c *config, bundle, id string, errFile *os.File) (time.Duration, error) {
	if err := writeConfig(c, bundle, id, escaper...); err != nil {
		return 0, err
	}
	cg := filepath.Join(c.cgParent, id)
	for _, args := range [][]string{{"create", "--bundle", bundle, id}, {"start", id}} {
		if res := c.rt(errFile, args...); res.code != 0 {
			return 0, fmt.Errorf("%s: %s", args[0], res)
		}
	}
	if n := waitProcs(cg, 3, 5*time.Second); n < 3 { // init, the zygote, the setsid'd sleep
		return 0, fmt.Errorf("container has %d processes, want 3 (init, zygote, setsid child)", n)
	}
	supPid, supStart, err := supervisorOf(c, id)
	if err != nil {
		return 0, err
	}
	if st, ok := children.ReadStat(supPid); !ok || st.Start != supStart {
		return 0, fmt.Errorf("supervisor %d is not running", supPid)
	}
	t := time.Now()
	if err := unix.Kill(supPid, unix.SIGKILL); err != nil {
		return 0, fmt.Errorf("kill supervisor %d: %w", supPid, err)
	}
	if !waitEmpty(cg, 10*time.Second) {
		return 0, fmt.Errorf("container still has processes %v 10s after its supervisor was killed", cgroupProcs(cg))
	}
	took := time.Since(t)
	return took, afterSupervisor(c, id, errFile)
}

// afterSupervisor checks the dead container: state says stopped, delete (no --force)
// succeeds, nothing is left.
func afterSupervisor(c *config, id string, errFile *os.File) error {
	res := c.rt(errFile, "state", id)
	if res.code != 0 || !strings.Contains(res.out, `"status": "stopped"`) && !strings.Contains(res.out, `"status":"stopped"`) {
		return fmt.Errorf("state after the supervisor died: %s, want stopped", res)
	}
	if res := c.rt(errFile, "delete", id); res.code != 0 {
		return fmt.Errorf("delete: %s", res)
	}
	if l := settledLeaks(c, nil); l.total() > 0 {
		return fmt.Errorf("left after delete: %s", l)
	}
	return nil
}

// supervisorOf reads the supervisor's pid and start time from the container's state.json.
func supervisorOf(c *config, id string) (int, uint64, error) {
	b, err := os.ReadFile(filepath.Join(c.root, id, "state.json"))
	if err != nil {
		return 0, 0, err
	}
	var st struct {
		Pid   int    `json:"supervisorPid"`
		Start uint64 `json:"supervisorStartTime"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, 0, err
	}
	return st.Pid, st.Start, nil
}

// waitProcs waits until cgroup dir has at least n processes, up to d; it returns how many it has.
func waitProcs(dir string, n int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		got := len(cgroupProcs(dir))
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}
