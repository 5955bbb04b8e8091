package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// verbs of one cycle, in order; "exit" is the wait for init to die after kill.
var cycleVerbs = []string{"create", "start", "kill", "exit", "delete"}

// timings collects how long each verb took, across workers.
type timings struct {
	mu sync.Mutex
	d  map[string][]time.Duration
}

func (t *timings) add(verb string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.d == nil {
		t.d = map[string][]time.Duration{}
	}
	t.d[verb] = append(t.d[verb], d)
}

// runCycles runs c.cycles create/start/kill/delete cycles, c.parallel at a time, then checks
// that nothing is left.
func runCycles(c *config) phaseResult {
	var r phaseResult
	var tm timings
	var failMu sync.Mutex
	work := make(chan int)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range c.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, f := range worker(c, w, work, &tm) {
				failMu.Lock()
				r.fail("%s", f)
				failMu.Unlock()
			}
		}()
	}
	sent := 0
	for ; sent < c.cycles && !stopping.Load(); sent++ {
		work <- sent
	}
	close(work)
	wg.Wait()
	wall := time.Since(t0)
	r.add("%d cycles (create, start, kill KILL, wait for exit, delete), %d in parallel: wall %.1fs, %.1f cycles/s, load %s",
		sent, c.parallel, wall.Seconds(), float64(sent)/wall.Seconds(), loadAvg())
	r.add("%s", tm.summary())
	l := settledLeaks(c, nil)
	r.add("leaks after the cycles: %s", l)
	if l.total() > 0 {
		r.fail("%d leaks after the cycles", l.total())
	}
	return r
}

// worker runs the cycles it is handed on its own bundle and returns its failures.
func worker(c *config, w int, work <-chan int, tm *timings) []string {
	bundle := bundleDir(c, w)
	errFile, err := os.Create(filepath.Join(c.work, "w"+strconv.Itoa(w)+".out"))
	if err != nil {
		return []string{err.Error()}
	}
	defer errFile.Close()
	var fails []string
	for n := range work {
		id := fmt.Sprintf("soak%d-%d", os.Getpid(), n)
		if err := cycle(c, bundle, id, errFile, tm); err != nil {
			fails = append(fails, fmt.Sprintf("cycle %s: %v", id, err))
			c.rt(errFile, "delete", "--force", id) // the next cycles start clean
		}
	}
	return fails
}

// cycle is one container's life: create, start, kill, wait for init to exit, delete.
func cycle(c *config, bundle, id string, errFile *os.File, tm *timings) error {
	if err := writeConfig(c, bundle, id); err != nil {
		return err
	}
	pidFile := filepath.Join(bundle, "pid")
	if err := c.step(tm, errFile, "create", "create", "--bundle", bundle, "--pid-file", pidFile, id); err != nil {
		return err
	}
	pidfd, err := openInit(pidFile)
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	if err := c.step(tm, errFile, "start", "start", id); err != nil {
		return err
	}
	if err := c.step(tm, errFile, "kill", "kill", id, "KILL"); err != nil {
		return err
	}
	t := time.Now()
	if !pidfdExited(pidfd, 10*time.Second) {
		return fmt.Errorf("init still alive 10s after kill KILL")
	}
	tm.add("exit", time.Since(t))
	return c.step(tm, errFile, "delete", "delete", id)
}

// step runs one runtime command and records its time under verb.
func (c *config) step(tm *timings, errFile *os.File, verb string, args ...string) error {
	r := c.rt(errFile, args...)
	if r.code != 0 {
		return fmt.Errorf("%s: %s", verb, r)
	}
	tm.add(verb, r.took)
	return nil
}

// openInit opens a pidfd on the pid create wrote: init, still alive (it waits for start).
func openInit(pidFile string) (int, error) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return -1, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1, fmt.Errorf("pid-file: %w", err)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd of init %d: %w", pid, err)
	}
	return fd, nil
}

// pidfdExited waits until the process behind fd has exited (a pidfd polls readable then).
func pidfdExited(fd int, d time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		if err == nil && n == 1 {
			return true
		}
		if err != nil && err != unix.EINTR {
			return false
		}
	}
}

// summary prints the median and 95th percentile of each verb.
func (t *timings) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	for _, v := range cycleVerbs {
		if ds := t.d[v]; len(ds) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s/%s", v, ms(pct(ds, 50)), ms(pct(ds, 95))))
		}
	}
	return "per verb, median/p95: " + strings.Join(parts, ", ")
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
