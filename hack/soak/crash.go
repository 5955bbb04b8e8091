package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sandlock/sandlock-runtime/internal/children"
)

// The stages of create as its state dir shows them (lifecycle/create.go, docs/design.md "State
// dir"), in order. A create SIGKILLed at a moment is classified by the last one it reached.
var stages = []struct {
	name string
	file string // present in the state dir once create reached the stage ("" = the dir itself)
}{
	{"state dir", ""},
	{"cgroup", "cgroup"},         // setupCgroup: the cgroup record
	{"mounts", "mounts"},         // setupMounts: the first mount recorded
	{"channels", "sup.sock"},     // startProcesses: the control socket, before init starts
	{"init", "seccomp.json"},     // init started, its plan and filters made
	{"state.json", "state.json"}, // finish: hooks done, the container is published
}

// stageOf names the last stage of create that the state dir of id shows.
func stageOf(c *config, id string) string {
	dir := filepath.Join(c.root, id)
	reached := "none"
	for _, s := range stages {
		if _, err := os.Stat(filepath.Join(dir, s.file)); err != nil {
			break
		}
		reached = s.name
	}
	return reached
}

// runCrashes SIGKILLs create after delays spread over its whole run (calibrated on a few
// complete creates), each time runs `delete --force` and checks that nothing is left.
func runCrashes(c *config) phaseResult {
	var r phaseResult
	if c.crashes <= 0 {
		return r
	}
	errFile, err := os.Create(filepath.Join(c.work, "crash.out"))
	if err != nil {
		r.fail("%v", err)
		return r
	}
	defer errFile.Close()
	bundle := bundleDir(c, 0)
	full, mounts, err := calibrate(c, bundle, errFile)
	if err != nil {
		r.fail("calibration: %v", err)
		return r
	}
	span := full * 12 / 10 // past the end too: a create that completes must be deleted as well
	seen := map[string]int{}
	for i := range c.crashes {
		if stopping.Load() {
			break
		}
		step := span / time.Duration(c.crashes)
		delay := step*time.Duration(i) + time.Duration(rand.Int64N(int64(step)+1))
		id := fmt.Sprintf("soakcrash%d-%d", os.Getpid(), i)
		stage, fail := crashTrial(c, bundle, id, delay, errFile)
		seen[stage]++
		if fail != "" {
			r.fail("trial %d (killed after %s, at stage %q): %s", i, ms(delay), stage, fail)
			sweep(c)
		}
	}
	r.add("%d creates SIGKILLed after 0..%s (a complete create takes %s), each followed by delete --force",
		c.crashes, ms(span), ms(full))
	r.add("stage create had reached when killed: %s", stageCounts(seen))
	if c.eventReps > 0 {
		runEventCrashes(c, mounts, c.eventReps, errFile, &r)
	}
	return r
}

// calibrate returns the median wall time of three complete creates and how many mounts
// create records for the bundle.
func calibrate(c *config, bundle string, errFile *os.File) (time.Duration, int, error) {
	var ds []time.Duration
	mounts := 0
	for i := range 3 {
		id := fmt.Sprintf("soakcal%d-%d", os.Getpid(), i)
		if err := writeConfig(c, bundle, id); err != nil {
			return 0, 0, err
		}
		res := c.rt(errFile, "create", "--bundle", bundle, id)
		b, _ := os.ReadFile(filepath.Join(c.root, id, "mounts"))
		mounts = strings.Count(string(b), "\n")
		c.rt(errFile, "delete", "--force", id)
		if res.code != 0 {
			return 0, 0, fmt.Errorf("create: %s", res)
		}
		ds = append(ds, res.took)
	}
	return pct(ds, 50), mounts, nil
}

// crashTrial kills one create after delay, deletes it with --force and returns the stage it
// had reached and what was wrong afterwards ("" when nothing).
func crashTrial(c *config, bundle, id string, delay time.Duration, errFile *os.File) (stage, fail string) {
	if err := writeConfig(c, bundle, id); err != nil {
		return "none", err.Error()
	}
	cmd := c.rtCmd(errFile, "create", "--bundle", bundle, id)
	if err := children.Start(cmd); err != nil {
		return "none", err.Error()
	}
	time.Sleep(delay)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = children.Wait(cmd)
	stage = stageOf(c, id)
	if exitCode(cmd.ProcessState) == 0 {
		stage = "complete"
	}
	return stage, deleteForce(c, id, errFile)
}

// deleteForce runs `delete --force id` after a crashed create and returns what is wrong
// afterwards ("" when nothing is left). What the crash left (the state dir's files, the mounts)
// is part of the message: it tells where in create the kill landed.
func deleteForce(c *config, id string, errFile *os.File) string {
	before := crashLeftovers(c, id)
	if res := c.rt(errFile, "delete", "--force", id); res.code != 0 {
		return "delete --force: " + res.String() + "; the crash left " + before
	}
	if l := settledLeaks(c, nil); l.total() > 0 {
		return "left after delete --force: " + l.String() + "\n    the crash left " + before
	}
	return ""
}

// crashLeftovers describes the state dir of id and the mounts under the work dir.
func crashLeftovers(c *config, id string) string {
	dir := filepath.Join(c.root, id)
	var files []string
	for _, e := range entries(dir) {
		files = append(files, filepath.Base(e))
	}
	log, _ := os.ReadFile(filepath.Join(dir, "mounts"))
	return fmt.Sprintf("state dir files %v, mount log %q, mounted %v", files, log, mountsUnder(c.work))
}

// stageCounts prints the stages in create's order with how often each was seen.
func stageCounts(seen map[string]int) string {
	order := []string{"none"}
	for _, s := range stages {
		order = append(order, s.name)
	}
	order = append(order, "complete")
	var parts []string
	for _, s := range order {
		parts = append(parts, fmt.Sprintf("%s %d", s, seen[s]))
	}
	for s, n := range seen { // anything else is a bug of this program: show it
		if !slices.Contains(order, s) {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
		}
	}
	return strings.Join(parts, ", ")
}
