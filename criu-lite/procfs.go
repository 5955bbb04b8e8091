package criulite

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

func procPath(pid int, rest string) string { return fmt.Sprintf("/proc/%d/%s", pid, rest) }

// statFields returns /proc/PID/stat's fields from the state (field 3) on, and the comm.
func statFields(pid int) ([]string, string, error) {
	b, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return nil, "", err
	}
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return nil, "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strings.Fields(string(b[j+1:])), string(b[i+1 : j]), nil
}

// statField returns field n (1-based, as proc(5) numbers them) as a number.
func statField(f []string, n int) uint64 {
	if n-3 >= len(f) {
		return 0
	}
	v, _ := strconv.ParseInt(f[n-3], 10, 64)
	return uint64(v)
}

// statusFields reads /proc/PID/status into a map.
func statusFields(pid int) (map[string]string, error) {
	b, err := os.ReadFile(procPath(pid, "status"))
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, nil
}

func ids(s string) [4]int {
	var out [4]int
	for i, f := range strings.Fields(s) {
		if i < 4 {
			out[i], _ = strconv.Atoi(f)
		}
	}
	return out
}

// tasks lists a process's threads, the leader first.
func tasks(pid int) ([]int, error) {
	ents, err := os.ReadDir(procPath(pid, "task"))
	if err != nil {
		return nil, err
	}
	out := []int{pid}
	for _, e := range ents {
		if t, err := strconv.Atoi(e.Name()); err == nil && t != pid {
			out = append(out, t)
		}
	}
	sort.Ints(out[1:])
	return out, nil
}

// fdList lists a process's open fds in order.
func fdList(pid int) ([]int, error) {
	ents, err := os.ReadDir(procPath(pid, "fd"))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}

// fdinfo reads /proc/PID/fdinfo/FD's "key: value" lines.
func fdinfo(pid, fd int) (map[string]string, error) {
	b, err := os.ReadFile(procPath(pid, "fdinfo/"+strconv.Itoa(fd)))
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			if _, dup := m[k]; !dup {
				m[k] = strings.TrimSpace(v)
			}
		}
	}
	return m, nil
}

// inRoot turns a host path seen through /proc into the container's path under root.
func inRoot(root, p string) (string, bool) {
	if root == "/" {
		return p, true
	}
	if p == root {
		return "/", true
	}
	rel, ok := strings.CutPrefix(p, root+"/")
	if !ok {
		return "", false
	}
	return filepath.Clean("/" + rel), true
}
