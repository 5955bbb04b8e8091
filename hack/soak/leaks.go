package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sandlock/sandlock-runtime/internal/children"
	"github.com/sandlock/sandlock-runtime/internal/mountinfo"
)

// leaks is what is left of the run's containers at one moment.
type leaks struct {
	procs   []string // "PID (why)": runtime binary, container program, our --root in argv, our cgroup
	mounts  []string // mount points under the work dir
	states  []string // entries under the private --root
	cgroups []string // container cgroup dirs under the run's cgroup parent
}

func (l leaks) total() int { return len(l.procs) + len(l.mounts) + len(l.states) + len(l.cgroups) }

func (l leaks) String() string {
	s := fmt.Sprintf("processes %d, mounts %d, state dirs %d, cgroups %d",
		len(l.procs), len(l.mounts), len(l.states), len(l.cgroups))
	for _, d := range [][]string{l.procs, l.mounts, l.states, l.cgroups} {
		if len(d) > 0 {
			s += "\n    " + strings.Join(d, "\n    ")
		}
	}
	return s
}

// settledLeaks counts leaks until there are none or c.settle has passed: a supervisor whose
// container was deleted exits by itself, a moment after delete returns.
func settledLeaks(c *config, baseline map[int]uint64) leaks {
	deadline := time.Now().Add(c.settle)
	for {
		l := countLeaks(c, baseline)
		if l.total() == 0 || time.Now().After(deadline) {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countLeaks looks once. baseline holds processes of the runtime binary that were alive
// before the run (pid -> start time): not ours, not counted.
func countLeaks(c *config, baseline map[int]uint64) leaks {
	if baseline == nil {
		baseline = c.baseline
	}
	return leaks{
		procs:   leakedProcs(c, baseline),
		mounts:  mountsUnder(c.work),
		states:  entries(c.root),
		cgroups: containerCgroups(c.cgParent),
	}
}

// leakedProcs describes every live process that belongs to a container of this run.
func leakedProcs(c *config, baseline map[int]uint64) []string {
	var out []string
	for _, p := range leakedPids(c, baseline) {
		out = append(out, fmt.Sprintf("pid %d (%s): %s", p.pid, p.why, cmdline(p.pid)))
	}
	return out
}

type leakedProc struct {
	pid   int
	start uint64
	why   string
}

// leakedPids finds every live process that belongs to a container of this run.
func leakedPids(c *config, baseline map[int]uint64) []leakedProc {
	inCg := map[int]bool{}
	for _, d := range containerCgroups(c.cgParent) {
		for _, p := range cgroupProcs(d) {
			inCg[p] = true
		}
	}
	self := os.Getpid()
	var out []leakedProc
	for _, pid := range children.Pids() {
		st, ok := children.ReadStat(pid)
		if pid == self || !ok || st.State == 'Z' || st.State == 'X' {
			continue
		}
		if start, ok := baseline[pid]; ok && start == st.Start {
			continue
		}
		if why := procWhy(c, pid, inCg[pid]); why != "" {
			out = append(out, leakedProc{pid, st.Start, why})
		}
	}
	return out
}

// procWhy says why pid counts as a process of this run's containers ("" when it does not).
func procWhy(c *config, pid int, inCgroup bool) string {
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	switch {
	case inCgroup:
		return "in a container cgroup"
	case exe == c.bin:
		return "runtime binary"
	case strings.HasPrefix(exe, c.work+"/"):
		return "program of a bundle"
	case strings.Contains(cmdline(pid), c.root):
		return "names the --root"
	}
	return ""
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// runtimeProcs returns the live processes of the runtime binary (pid -> start time).
func runtimeProcs(bin string) map[int]uint64 {
	m := map[int]uint64{}
	for _, pid := range children.Pids() {
		if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); exe == bin {
			if st, ok := children.ReadStat(pid); ok {
				m[pid] = st.Start
			}
		}
	}
	return m
}

// mountsUnder lists the mount points at or below dir in our mount table.
func mountsUnder(dir string) []string {
	m, err := mountinfo.Under(dir)
	if err != nil {
		return append(m, "mountinfo: "+err.Error())
	}
	return m
}

func entries(dir string) []string {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return []string{dir + ": " + err.Error()}
	}
	var out []string
	for _, e := range ents {
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out
}

// containerCgroups lists every cgroup dir below parent (not parent itself), deepest first.
func containerCgroups(parent string) []string {
	var out []string
	_ = filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != parent {
			out = append([]string{p}, out...)
		}
		return nil
	})
	return out
}

func cgroupProcs(dir string) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}
