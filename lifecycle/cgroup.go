package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The container's cgroup is a cgroup2 directory used for membership: cgroup.procs lists every
// process of the container whatever it did (setsid, double fork), cgroup.kill kills them all
// atomically and cgroup.freeze freezes them. No controller is needed for that, which is why this
// works on the v1 "hybrid" hosts where cgroup2 owns no controllers; resource limits use the
// controllers where the host has them (limits.go, cgroupv1.go, resources_v2.go).

// Cgroup2Mount returns where the cgroup2 hierarchy is mounted ("" when it is not). The answer
// is kept for the process while that path still holds a cgroup2 file system: create asks
// twice (its cgroup, the container's cgroup mount), and mountinfo, which it reads, grows by 17
// lines with every running container.
func Cgroup2Mount() string {
	cg2Mount.Lock()
	defer cg2Mount.Unlock()
	if m := cg2Mount.point; m != "" {
		var st unix.Statfs_t
		if unix.Statfs(m, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return m
		}
	}
	cg2Mount.point = ""
	ms, err := readMountinfoOf("cgroup2", true)
	if err != nil {
		return ""
	}
	for _, m := range ms {
		if m.fstype == "cgroup2" {
			cg2Mount.point = m.point
			return m.point
		}
	}
	return ""
}

var cg2Mount struct {
	sync.Mutex
	point string
}

// cgroupDirFor maps the spec's cgroupsPath to a directory in the cgroup2 tree (the v1
// hierarchies use the same path below their roots). With the systemd driver (--systemd-cgroup),
// and for a "slice:prefix:name" path without it (callers that mean systemd's layout), the path
// is the scope in its expanded slice, as runc places it (systemd.go); sd is then set. Otherwise
// it is a cgroupfs path, /sandlock-runtime/<id> when unset.
func cgroupDirFor(mnt, cgroupsPath, id string, systemd bool) (dir string, sd *systemdCgroup, err error) {
	p := cgroupsPath
	if systemd || (strings.Count(p, ":") == 2 && !strings.HasPrefix(p, "/")) {
		s, err := parseSystemdPath(p, id)
		if err != nil {
			return "", nil, err
		}
		if p, err = s.relPath(); err != nil {
			return "", nil, err
		}
		sd = &s
	}
	if p == "" {
		p = "/sandlock-runtime/" + id
	}
	return filepath.Join(mnt, filepath.Clean("/"+p)), sd, nil
}

// maxMkdirRetries bounds how often making a cgroup path starts over because a parent was
// removed meanwhile.
const maxMkdirRetries = 5

// createCgroup makes the container's cgroup and returns every directory it created, deepest
// last, so delete can remove exactly those. It refuses a cgroup that already has processes:
// they would be killed with the container.
func createCgroup(mnt, dir string) ([]string, error) {
	var made []string
	rel, err := filepath.Rel(mnt, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("cgroup %s is outside %s", dir, mnt)
	}
	p := mnt
	parts, retries := strings.Split(rel, "/"), 0
	for i := 0; i < len(parts); i++ {
		p = filepath.Join(p, parts[i])
		err := os.Mkdir(p, 0o755)
		if err == nil {
			made = append(made, p)
			continue
		}
		if errors.Is(err, fs.ErrNotExist) && retries < maxMkdirRetries {
			// A parent went away under us (the last container out of a shared slice
			// removed it, slices.go): make the path again from the top.
			retries, p, i = retries+1, mnt, -1
			continue
		}
		if !errors.Is(err, fs.ErrExist) {
			removeCgroups(made)
			return nil, fmt.Errorf("cgroup %s: %w", p, err)
		}
	}
	pids, err := cgroupProcs(dir)
	if err == nil && len(pids) > 0 {
		err = fmt.Errorf("cgroup %s already has processes %v", dir, pids)
	}
	if err != nil {
		removeCgroups(made)
		return nil, err
	}
	return made, nil
}

// missingDirs lists the dirs from mnt down to dir that do not exist yet, the ones
// createCgroup is about to make, outermost first.
func missingDirs(mnt, dir string) []string {
	var missing []string
	for p := dir; p != mnt && strings.HasPrefix(p, mnt+"/"); p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		}
		missing = append([]string{p}, missing...)
	}
	return missing
}

// removeCgroups removes the given dirs deepest first, leaving any that are still in use.
func removeCgroups(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = unix.Rmdir(dirs[i])
	}
}

func cgroupProcs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

func cgroupWrite(dir, file, val string) error {
	err := os.WriteFile(filepath.Join(dir, file), []byte(val), 0)
	if err != nil {
		return fmt.Errorf("write %s to %s: %w", val, file, err)
	}
	return nil
}

func cgroupEvent(dir, key string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return "", false
	}
	return eventValue(b, key)
}

// eventValue finds key's value in the contents of a cgroup.events file.
func eventValue(b []byte, key string) (string, bool) {
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok && k == key {
			return v, true
		}
	}
	return "", false
}

func cgroupFrozen(dir string) bool {
	v, _ := cgroupEvent(dir, "frozen")
	return v == "1"
}

func cgroupPopulated(dir string) bool {
	v, ok := cgroupEvent(dir, "populated")
	return ok && v == "1"
}

// waitCgroupEvent blocks until cgroup.events has key=want or timeout passes. cgroup.events
// raises POLLPRI on every change, so this sleeps in poll; the first waits are short (below).
func waitCgroupEvent(dir, key, want string, timeout time.Duration) error {
	f, err := os.Open(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return err
	}
	defer f.Close()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 512)
	step := firstEventStep
	for {
		// Read through the polled fd itself: kernfs reports a change (POLLPRI|POLLERR) until
		// the fd that is polled reads the file again, so a read through another fd would
		// leave poll returning at once, forever: a busy loop for the container's whole life.
		n, err := f.ReadAt(buf, 0)
		if n == 0 && err != nil {
			// The cgroup was removed under us (delete --force): its files fail from now on,
			// and poll would report them ready forever.
			return fmt.Errorf("cgroup %s: %w", dir, err)
		}
		if v, _ := eventValue(buf[:n], key); v == want {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("cgroup %s: timed out waiting for %s=%s", dir, key, want)
		}
		fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLPRI}}
		ts := unix.NsecToTimespec(int64(min(left, step)))
		if _, err := unix.Ppoll(fds, &ts, nil); err != nil && err != unix.EINTR {
			return err
		}
		step = min(2*step, maxEventStep)
	}
}

// The kernel sends at most one cgroup.events notification per file every 10 ms
// (CGROUP_FILE_NOTIFY_MIN_INTV) and delays the next one until then: a container whose cgroup
// filled up a moment ago (every short run) would see its "populated 0" 10 ms late. The file
// itself is current, so the waits re-read it after 0.25, 0.5, 1, 2 ... ms, and only the long waits
// rely on the notification alone.
const (
	firstEventStep = 250 * time.Microsecond
	maxEventStep   = time.Hour
)

// killCgroup kills every process in the cgroup and waits until it is empty. A cgroup removed
// meanwhile was empty (rmdir refuses a populated one): the owner of a foreground run (sandbox
// --name, run) removes it as soon as its last process is gone, which races checkpoint's kill
// and made it fail with ENODEV once the container was already stopped.
func killCgroup(dir string) error {
	if !cgroupPopulated(dir) {
		return nil
	}
	err := cgroupWrite(dir, "cgroup.kill", "1")
	if err == nil {
		err = waitCgroupEvent(dir, "populated", "0", 10*time.Second)
	}
	if cgroupGone(err) {
		return nil
	}
	return err
}

// cgroupGone: err is what a cgroup's files give once it has been removed.
func cgroupGone(err error) bool { return errors.Is(err, unix.ENODEV) || errors.Is(err, fs.ErrNotExist) }

// freezeCgroup freezes (true) or thaws the cgroup and waits until the kernel says it is done.
func freezeCgroup(dir string, freeze bool) error {
	v := "0"
	if freeze {
		v = "1"
	}
	err := cgroupWrite(dir, "cgroup.freeze", v)
	if err == nil {
		err = waitCgroupEvent(dir, "frozen", v, 10*time.Second)
	}
	if !freeze && cgroupGone(err) {
		return nil // removed: nothing of it is frozen (checkpoint's thaw after its kill)
	}
	return err
}

// pidInCgroup reports whether pid is a member of the cgroup dir (relative to mnt); an error
// when its membership cannot be read (the caller must then assume the worst).
func pidInCgroup(pid int, mnt, dir string) (bool, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false, err
	}
	rel := strings.TrimPrefix(dir, mnt)
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok && (p == rel || strings.HasPrefix(p, rel+"/")) {
			return true, nil
		}
	}
	return false, nil
}

// cgroupRecord is <state>/cgroup: the container's cgroup and the dirs create made for it,
// written as soon as they exist.
type cgroupRecord struct {
	Dir  string   `json:"dir"`
	Made []string `json:"made"`
	V1   v1Cgroup `json:"v1"` // the v1 dirs on a hybrid host (cgroupv1.go)
	// Systemd is the unit create registered with systemd (systemd.go); delete stops it.
	Systemd *systemdCgroup `json:"systemd,omitempty"`
	// Slices: the slice dirs create made are in the root's list (slices.go), which delete
	// sweeps.
	Slices bool `json:"slices,omitempty"`
}

func writeCgroupRecord(stateDir string, b []byte) error {
	return writeFileAtomic(filepath.Join(stateDir, "cgroup"), b, 0o600)
}

func loadCgroupRecord(stateDir string) (cgroupRecord, bool) {
	var r cgroupRecord
	b, err := os.ReadFile(filepath.Join(stateDir, "cgroup"))
	return r, err == nil && json.Unmarshal(b, &r) == nil && r.Dir != ""
}
