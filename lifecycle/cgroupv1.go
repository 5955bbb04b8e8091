package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// On a hybrid host the resource controllers live in cgroup v1 hierarchies, one mount per
// controller (or per group: "cpu,cpuacct"), while cgroup2 has none. Membership, kill and freeze
// stay on the cgroup2 dir; for limits and statistics the container also gets a dir at the same
// path in each v1 hierarchy, and create writes init's pid into them before init confines
// itself, so every process of the container, forked or setsid'd, inherits them.

// v1Joined are the controllers every container joins when the host has them, limits set or
// not: `update` can then set a limit later (the kubelet's CPU manager updates cpuset), and
// `events --stats` (and ctr, podman and the kubelet, which read the controllers themselves) find
// the container's usage. Each costs a mkdir and a migration at create; blkio and hugetlb are
// joined only when config.json sets something for them.
var v1Joined = []string{"memory", "pids", "cpu", "cpuacct", "cpuset"}

// v1Limiting are the v1 controllers linux.resources can set something in.
var v1Limiting = append(slices.Clone(v1Joined), "blkio", "hugetlb", "net_cls", "net_prio", "rdma", "devices")

// v1Known are the v1 controller names a hierarchy's mount options may carry.
var v1Known = append(slices.Clone(v1Limiting), "freezer", "perf_event", "misc")

// v1Mounts returns each mounted v1 controller's mount point.
func v1Mounts() map[string]string {
	ms, err := readMountinfoOf("cgroup", false)
	if err != nil {
		return nil
	}
	return v1MountsOf(ms)
}

// v1MountsOf picks, for each v1 controller, the first mount of its whole hierarchy (root "/")
// in mount order: the host's own (/sys/fs/cgroup/<ctrl>, mounted at boot). Later mounts of the
// same hierarchy come and go (a bundle's rbind of /sys/fs/cgroup under a container's rootfs,
// CRIU's temporary yard): a container's dirs recorded through one of them would be out of
// reach of delete and update once it is unmounted. A bind of a subtree would map the cgroup
// paths wrongly, so it is never taken.
func v1MountsOf(ms []mountEntry) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		if m.fstype != "cgroup" || m.root != "/" {
			continue
		}
		for _, o := range strings.Split(m.superOpts, ",") {
			if _, seen := out[o]; !seen && slices.Contains(v1Known, o) {
				out[o] = m.point
			}
		}
	}
	return out
}

// v1Cgroup is a container's place in the v1 hierarchies.
type v1Cgroup struct {
	Dirs map[string]string `json:"dirs,omitempty"` // controller -> the container's dir
	Made []string          `json:"made,omitempty"` // dirs create made, in the order made
}

// uniqueDirs returns the container's dirs, one per hierarchy (cpu and cpuacct may share one).
func (v v1Cgroup) uniqueDirs() []string {
	var out []string
	for _, c := range slices.Sorted(maps.Keys(v.Dirs)) {
		if d := v.Dirs[c]; !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// v1Plan is what makeV1 will do: the container's dir (rel, the cgroup2 path) in the
// hierarchies of the controllers ws needs, where a missing one is an error naming the OCI
// field, and, with joinAll, in those of v1Joined the host has.
type v1Plan struct {
	rel        string
	mounts     map[string]string
	need, join []string
}

// planV1 plans the v1 dirs; nil when there are none to make.
func planV1(rel string, ws []cgWrite, joinAll bool) (*v1Plan, error) {
	if len(ws) == 0 && !joinAll {
		return nil, nil
	}
	mounts := v1Mounts()
	need := v1Controllers(ws)
	for _, w := range ws {
		if _, ok := mounts[w.ctrl]; !ok {
			return nil, fmt.Errorf("%s: this host has no %s cgroup controller (neither cgroup v1 nor cgroup2 offers it)", w.field, w.ctrl)
		}
	}
	join := need
	if joinAll {
		join = append(slices.Clone(need), v1Joined...)
	}
	return &v1Plan{rel: rel, mounts: mounts, need: need, join: join}, nil
}

// planned are the dirs makeV1 may make. The caller records them before any mkdir, with the
// dirs missing now (as the cgroup2 dir's are, in the same write): a crash between a mkdir and
// a record cannot leave a dir that delete --force does not know of.
func (p *v1Plan) planned() []string {
	if p == nil {
		return nil
	}
	return plannedV1(p.mounts, p.join, p.rel)
}

// expected is the v1 record once every planned dir is made: each controller's dir, and the
// dirs planned.
func (p *v1Plan) expected() v1Cgroup {
	if p == nil {
		return v1Cgroup{}
	}
	v := v1Cgroup{Dirs: map[string]string{}, Made: p.planned()}
	for _, c := range p.join {
		if mnt, ok := p.mounts[c]; ok {
			v.Dirs[c] = filepath.Join(mnt, p.rel)
		}
	}
	return v
}

// makeV1 makes the planned dirs and calls save (the state dir's record) once they are done.
func makeV1(p *v1Plan, save func(v1Cgroup) error) (v1Cgroup, error) {
	v := v1Cgroup{Dirs: map[string]string{}}
	if p == nil {
		return v, nil
	}
	for _, c := range p.join {
		mnt, ok := p.mounts[c]
		if _, done := v.Dirs[c]; done || !ok {
			continue
		}
		dir := filepath.Join(mnt, p.rel)
		made, err := mkdirCgroupV1(mnt, dir, c == "cpuset")
		v.Made = append(v.Made, made...)
		if err == nil {
			v.Dirs[c] = dir
		}
		if err != nil && slices.Contains(p.need, c) {
			return v, err
		}
	}
	return v, save(v)
}

// plannedV1 are the dirs makeV1 may make for the controllers join: in each hierarchy, the
// container's dir and its parents that are missing now.
func plannedV1(mounts map[string]string, join []string, rel string) []string {
	var out []string
	for _, c := range join {
		if mnt, ok := mounts[c]; ok {
			for _, d := range missingDirs(mnt, filepath.Join(mnt, rel)) {
				if !slices.Contains(out, d) {
					out = append(out, d)
				}
			}
		}
	}
	return out
}

// mkdirCgroupV1 makes dir and its missing parents under mnt. A new cpuset dir starts with no
// CPUs and no memory nodes, and a process cannot join it: it gets its parent's.
func mkdirCgroupV1(mnt, dir string, cpuset bool) ([]string, error) {
	rel, err := filepath.Rel(mnt, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("cgroup %s is outside %s", dir, mnt)
	}
	var made []string
	p := mnt
	parts, retries := strings.Split(rel, "/"), 0
	for i := 0; i < len(parts); i++ {
		parent := p
		p = filepath.Join(p, parts[i])
		err := os.Mkdir(p, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if errors.Is(err, fs.ErrNotExist) && retries < maxMkdirRetries {
			retries, p, i = retries+1, mnt, -1 // a parent went away meanwhile (createCgroup)
			continue
		}
		if err != nil {
			return made, fmt.Errorf("cgroup %s: %w", p, err)
		}
		made = append(made, p)
		if cpuset {
			if err := inheritCpuset(parent, p); err != nil {
				return made, err
			}
		}
	}
	return made, nil
}

func inheritCpuset(parent, dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		b, err := os.ReadFile(filepath.Join(parent, f))
		if err != nil {
			return err
		}
		if err := writeCgroupFile(dir, f, strings.TrimSpace(string(b))); err != nil {
			return err
		}
	}
	return nil
}

// applyV1 writes ws into the container's dirs.
func applyV1(v v1Cgroup, ws []cgWrite) error {
	for _, w := range ws {
		dir, ok := v.Dirs[w.ctrl]
		if !ok {
			return fmt.Errorf("%s: the container has no %s cgroup (it was created without that controller)", w.field, w.ctrl)
		}
		if err := writeCgroupFile(dir, w.file, w.val); err != nil {
			return fmt.Errorf("%s: %w", w.field, err)
		}
	}
	return nil
}

// joinV1 moves pid (and its threads) into every v1 dir of the container.
func joinV1(v v1Cgroup, pid int) error {
	for _, d := range v.uniqueDirs() {
		if err := writeCgroupFile(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// writeCgroupFile writes val to an existing control file (never creating one: a missing file
// means the kernel does not offer that setting). With plain syscalls: an os.File of a cgroup
// file (pollable, kernfs) is registered with the runtime's poller and deregistered at close,
// three syscalls and the poller's work more for each of the 20-odd writes of a create.
func writeCgroupFile(dir, file, val string) error {
	p := filepath.Join(dir, file)
	if err := writeControlFile(p, val); err != nil {
		return fmt.Errorf("write %q to %s: %w", val, p, err)
	}
	return nil
}

// writeControlFile writes val to the existing file p in one write(2), as the kernel's control
// files take it; the error is the bare errno.
func writeControlFile(p, val string) error {
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	n, err := unix.Write(fd, []byte(val))
	if err == nil && n != len(val) {
		err = io.ErrShortWrite
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}

// remove removes the dirs create made, deepest first. The container's own dirs must go (a v1
// dir stays busy for a moment after its last task exited, so EBUSY is retried briefly); a
// parent still holding another container's dir stays, as removeCgroups leaves it.
func (v v1Cgroup) remove() error {
	own := v.uniqueDirs()
	var errs []error
	for i := len(v.Made) - 1; i >= 0; i-- {
		d := v.Made[i]
		if slices.Contains(own, d) {
			errs = append(errs, rmdirRetry(d))
		} else {
			_ = unix.Rmdir(d)
		}
	}
	return errors.Join(errs...)
}

func rmdirRetry(d string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := unix.Rmdir(d)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.EBUSY || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
