package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/spec"
)

// Status is the OCI status of a container plus runc's "paused".
type Status string

const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Stopped  Status = "stopped"
	Paused   Status = "paused"
)

// The state machine in one table: which operation each status allows. Everything not listed is
// refused with a *TransitionError and changes nothing.
var allowed = map[string]map[Status]bool{
	"start":      {Created: true},
	"kill":       {Created: true, Running: true, Paused: true},
	"delete":     {Created: true, Stopped: true},
	"exec":       {Created: true, Running: true},
	"pause":      {Running: true},
	"resume":     {Paused: true},
	"update":     {Created: true, Running: true, Paused: true},
	"events":     {Created: true, Running: true, Paused: true},
	"checkpoint": {Running: true, Paused: true},
}

func check(op, id string, st Status) error {
	if allowed[op][st] {
		return nil
	}
	switch {
	case op == "kill" && st == Stopped:
		return ErrNotRunning
	case op == "pause" && st != Running:
		return ErrNotRunning
	case op == "resume" && st != Paused:
		return ErrNotPaused
	}
	return &TransitionError{Op: op, ID: id, Status: st}
}

// State is what <root>/<id>/state.json holds. Status is not stored: it is derived each time
// from the init process and the cgroup, so it can never go stale after a crash.
type State struct {
	ID            string            `json:"id"`
	Pid           int               `json:"pid"`
	PidStart      uint64            `json:"pidStartTime"`
	SupPid        int               `json:"supervisorPid"`
	SupStart      uint64            `json:"supervisorStartTime"`
	ZygotePid     int               `json:"zygotePid"`
	ZygoteStart   uint64            `json:"zygoteStartTime,omitempty"`
	Bundle        string            `json:"bundle"`
	Rootfs        string            `json:"rootfs"`
	Created       time.Time         `json:"created"`
	Owner         string            `json:"owner"`
	Annotations   map[string]string `json:"annotations,omitempty"`
	Cgroup        string            `json:"cgroup,omitempty"` // absolute cgroup2 dir; "" = no cgroup
	CgroupMade    []string          `json:"cgroupMade,omitempty"`
	Started       bool              `json:"started"`
	ContainerPTS  bool              `json:"containerPTS"`
	Hostname      string            `json:"hostname,omitempty"`
	Isolation     spec.Isolation    `json:"isolation"`
	ProcessConfig *specs.Process    `json:"process,omitempty"`
	PolicyRlimits []confine.Rlimit  `json:"policyRlimits,omitempty"` // the policy's limits (exec leaves those resources alone)
	// Resources are the linux.resources create applied (resources_record.go), kept encoded:
	// only `state` and `update` decode them, not every command that loads the container.
	Resources json.RawMessage `json:"resources,omitempty"`
}

// Container is a container found in the state root.
type Container struct {
	dir   string
	State *State      // nil while being created (or after a crashed create)
	cowFS *os.File    // the tmpfs of an unprivileged max_disk layer, held by the foreground runtime
	spec  *specs.Spec // config.json as create saved it, when this process created it
	// keptLayer is the copy-on-write layer destroy kept (KEEP, or a refused commit)
	keptLayer string
	// log is the creator's Logger (an embedder's: the Go API's WithLogger); nil, loaded from
	// the state root, is logrus's, the CLI's.
	log Logger
}

func (c *Container) logger() Logger {
	if c.log == nil {
		return logrus.StandardLogger()
	}
	return c.log
}

const stateFile = "state.json"

func stateDir(root, id string) string { return filepath.Join(root, id) }

// Load finds container id under root.
func Load(root, id string) (*Container, error) {
	if err := spec.ValidateID(id); err != nil {
		return nil, err
	}
	dir := stateDir(root, id)
	if _, err := os.Lstat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNotExist
		}
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	c := &Container{dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state of %s: %w", id, err)
	}
	c.State = new(State)
	if err := json.Unmarshal(b, c.State); err != nil {
		return nil, fmt.Errorf("state of %s is corrupt: %w", id, err)
	}
	return c, nil
}

// ID returns the container's ID (also for a container still being created).
func (c *Container) ID() string { return filepath.Base(c.dir) }

// Status derives the container's status.
func (c *Container) Status() Status {
	s := c.State
	if s == nil {
		return Creating
	}
	if !processAlive(s.Pid, s.PidStart) {
		return Stopped
	}
	if s.Cgroup != "" && cgroupFrozen(s.Cgroup) {
		return Paused
	}
	if s.Started {
		return Running
	}
	return Created
}

func (c *Container) save() error {
	b, err := json.Marshal(c.State)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(c.dir, stateFile), b, 0o600)
}

// PortsAnnotation is the annotation `state` adds under port_remap: a JSON object, virtual TCP
// port -> real port on the host.
const PortsAnnotation = "io.sandlock.ports"

// OCIState is the state document printed by `state` and passed to hooks.
func (c *Container) OCIState() specs.State {
	st := specs.State{Version: specs.Version, ID: c.ID(), Status: specs.ContainerState(c.Status())}
	if s := c.State; s != nil {
		st.Bundle, st.Annotations = s.Bundle, s.Annotations
		if b, err := os.ReadFile(filepath.Join(c.dir, portsFile)); err == nil {
			// port_remap: the real port of each virtual one, as the supervisor bound them.
			st.Annotations = maps.Clone(st.Annotations)
			if st.Annotations == nil {
				st.Annotations = map[string]string{}
			}
			st.Annotations[PortsAnnotation] = string(b)
		}
		if st.Status != specs.StateStopped {
			st.Pid = s.Pid
		}
	}
	return st
}

// writeFileAtomic writes through a temp file and rename so readers never see a partial file;
// the pid-file contract (read whole, Atoi) depends on it.
// The temp file is removed only when something failed: a removal after the rename was an
// unlink and an rmdir that fail, at each of the state dir's writes.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeFileNew writes a file that create makes once in the container's fresh state dir and
// nobody rewrites (config.json, supervisor.json, seccomp.json, the first resources.json): no
// reader can meet it half-written, because each reads it only after a later step of create
// (state.json, published last, or init's reply) or ignores an unreadable one (delete of a
// crashed create), so it needs no temp file and rename. On ext4 those cost about 0.1 ms of
// CPU a file. O_EXCL: a file of that name already there is an error, never overwritten.
func writeFileNew(path string, data []byte, mode os.FileMode) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(mode.Perm()))
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	for len(data) > 0 {
		var n int
		if n, err = unix.Write(fd, data); err != nil { // n is -1 then
			break
		}
		data = data[n:]
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &fs.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// procStartTime reads field 22 of /proc/PID/stat. The second result is false when the process
// is gone or a zombie: a zombie init counts as stopped, as in runc.
func procStartTime(pid int) (uint64, bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// comm may contain spaces and parentheses: split after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	t, err := strconv.ParseUint(f[19], 10, 64)
	return t, err == nil
}

func processAlive(pid int, start uint64) bool {
	t, ok := procStartTime(pid)
	return ok && t == start
}

// pidfdOf opens a pidfd for pid after checking it is still the process we recorded, so a
// recycled pid is never signalled.
func pidfdOf(pid int, start uint64) (int, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, err
	}
	if !processAlive(pid, start) {
		unix.Close(fd)
		return -1, unix.ESRCH
	}
	return fd, nil
}

// List returns every container under root, sorted by ID.
func List(root string) ([]*Container, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cs []*Container
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		c, err := Load(root, e.Name())
		if err != nil {
			continue
		}
		cs = append(cs, c)
	}
	return cs, nil
}
