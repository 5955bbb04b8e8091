package lifecycle

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// Pids lists every process of the container (the zygote, runtime machinery, excluded).
func Pids(o *Options, id string) ([]int, error) {
	c, err := Load(o.Root, id)
	if err != nil {
		return nil, err
	}
	if c.State == nil {
		return nil, nil
	}
	if c.State.Cgroup == "" {
		if c.Status() == Stopped {
			return []int{}, nil
		}
		return treePids(c.State.Pid, c.State.ZygotePid), nil
	}
	pids, err := cgroupProcs(c.State.Cgroup)
	if err != nil {
		return nil, err
	}
	out := []int{}
	for _, p := range pids {
		if p != c.State.ZygotePid {
			out = append(out, p)
		}
	}
	return out, nil
}

// treePids is what a container without a cgroup has (docs/design.md, "without a cgroup"):
// init and its descendants, the zygote left out (its children, the exec'd processes, kept).
// A process that left init's tree (setsid and a double fork) is not found, as for pause.
func treePids(init, zygote int) []int {
	out := []int{}
	seen := map[int]bool{}
	for queue := []int{init}; len(queue) > 0; queue = queue[1:] {
		p := queue[0]
		if seen[p] {
			continue
		}
		seen[p] = true
		if p != zygote {
			out = append(out, p)
		}
		queue = append(queue, procChildren(p)...)
	}
	return out
}

// PsTable runs ps(1) with psArgs (default -ef) and keeps the header and the container's rows,
// as runc ps does.
func PsTable(o *Options, id string, psArgs []string) (string, error) {
	pids, err := Pids(o, id)
	if err != nil {
		return "", err
	}
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	out, err := exec.Command("ps", psArgs...).Output()
	if err != nil {
		return "", fmt.Errorf("ps %s: %w", strings.Join(psArgs, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	col := slices.Index(strings.Fields(lines[0]), "PID")
	if col < 0 {
		return "", fmt.Errorf("ps output has no PID column")
	}
	var b bytes.Buffer
	b.WriteString(lines[0] + "\n")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= col {
			continue
		}
		if p, err := strconv.Atoi(f[col]); err == nil && slices.Contains(pids, p) {
			b.WriteString(l + "\n")
		}
	}
	return b.String(), nil
}
