package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/spec"
)

// initConfig is what create sends the init process over initpipe.
type initConfig struct {
	Rootfs      string
	Plan        confine.Plan
	ExecFilters []confine.Filter // loaded by the C exec step, right before execve
	Seccomp     [][]byte         // sandlock's own filters, compiled (and cached) by create
	Process     *specs.Process
	PreserveFDs int
	StartHooks  []specs.Hook
	State       specs.State
	KeepSession bool      // CreateOpts.KeepSession: init stays in the caller's session
	COW         *cowMount `json:",omitempty"` // the copy-on-write workdir init enters
}

// initReply is init's answer: an error, or the zygote's pid once init is confined and waiting.
type initReply struct {
	Error     string     `json:"error,omitempty"`
	Err       *StepError `json:"err,omitempty"` // Error with its structure`
	ZygotePid int        `json:"zygotePid,omitempty"`
}

// creation holds a container being created. Each step that changes the host pushes its undo,
// and a failure runs them in reverse: a failed create leaves no state dir, process, mount or
// cgroup behind.
type creation struct {
	cont    *Container
	spec    *specs.Spec
	policy  spec.Policy
	log     Logger
	init    *exec.Cmd
	sup     *exec.Cmd
	master  *os.File // console master, kept by run when it relays the terminal itself
	undo    []func()
	cow     *cowMount       // the copy-on-write workdir, nil without one
	tree    chan treeResult // the workdir's view being made for init (cowtree.go)
	stdio   [3]*os.File
	closeMe []*os.File
	keep    bool           // run --keep: no cleanup after init exits
	dryRun  bool           // CreateOpts.DryRun
	cg      *cgroupRecord  // nil without a cgroup
	scope   *systemdCgroup // the unit to register with systemd (systemd.go), nil when none
	late    []cgWrite      // limits written once init is waiting (limits.go)
	lateCg  v1Cgroup
	early   []cgWrite             // limits written before init (again after systemd's start)
	res     *specs.LinuxResources // the resources applied (limits.go)
	pinned  []pinnedHost          // net_allow_hosts, resolved once
	direct  bool                  // CreateOpts.Direct
	xs      *os.File              // launch: create's channel to init, for startHere (handoff.go)
	fgStart bool                  // launch: the caller starts init over xs (handoff.go)
	cgSaved []byte                // the cgroup record as last written (saveCgroup)
	cgMount string                // the cgroup2 mount the cgroup is in ("" without a cgroup)
}

func (cr *creation) onFail(f func()) { cr.undo = append(cr.undo, f) }

func (cr *creation) rollback() {
	for i := len(cr.undo) - 1; i >= 0; i-- {
		cr.undo[i]()
	}
	cr.closeFiles()
}

func (cr *creation) closeFiles() {
	for _, f := range cr.closeMe {
		f.Close()
	}
	cr.closeMe = nil
}

// Create creates a container: init is confined and waiting for start when it returns.
func Create(o *Options, c CreateOpts) error {
	cr, err := create(o, c, false, false)
	if err != nil {
		return err
	}
	cr.closeFiles()
	return nil
}

// create makes the container; startHere: the caller starts it next (launch), over the channel
// to init that create then still holds (handoff.go).
func create(o *Options, c CreateOpts, relayTTY, startHere bool) (*creation, error) {
	s, iso, pol, err := loadForCreate(o.Root, c, o.logger())
	if err != nil {
		return nil, err
	}
	if s.Process.Terminal && c.ConsoleSocket == "" && !relayTTY {
		return nil, errors.New("cannot allocate tty if runc will detach without setting console socket")
	}
	if !s.Process.Terminal && c.ConsoleSocket != "" { // runc's rule: nothing would ever reach the socket
		return nil, errors.New("cannot use console socket if runc will not detach or allocate tty (process.terminal is false)")
	}
	cr := &creation{spec: s, policy: pol, log: o.logger(), dryRun: c.DryRun, direct: c.Direct, fgStart: startHere}
	if err := cr.build(o, c, iso); err != nil {
		cr.rollback()
		return nil, err
	}
	return cr, nil
}

func (cr *creation) build(o *Options, c CreateOpts, iso spec.Isolation) error {
	dir, err := makeStateDir(o.Root, c.ID)
	if err != nil {
		return err
	}
	cr.onFail(func() { os.RemoveAll(dir) })
	cr.cont = &Container{dir: dir, State: newState(c, cr.spec, iso), log: cr.log}
	if h := cr.policy.HostnameOverride(); h != "" {
		cr.cont.State.Hostname = h // io.sandlock.hostname virtualises uname without a uts namespace
	}
	steps := []struct {
		name string
		run  func(*Options, CreateOpts) error
	}{
		{"cgroup", cr.setupCgroup}, {"mounts", cr.setupMounts}, {"cow", cr.setupCOW}, {"stdio", cr.setupStdio},
		{"processes", cr.startProcesses}, {"cowfs", cr.holdCOWFS}, {"limits", cr.lateLimits}, {"finish", cr.finish},
	}
	for _, step := range steps {
		t := time.Now()
		if err := step.run(o, c); err != nil {
			return err
		}
		cr.log.Debugf("create %s: %s took %s", c.ID, step.name, time.Since(t))
	}
	return nil
}

func loadForCreate(root string, c CreateOpts, log Logger) (*specs.Spec, spec.Isolation, spec.Policy, error) {
	var pol spec.Policy
	if err := spec.ValidateID(c.ID); err != nil {
		return nil, spec.Isolation{}, pol, err
	}
	s := c.Spec
	if s == nil {
		var err error
		if s, err = spec.LoadBundle(c.Bundle); err != nil {
			return nil, spec.Isolation{}, pol, err
		}
	}
	joinNamespaces(root, s)
	iso, err := spec.Translate(s)
	if err != nil {
		return nil, iso, pol, err
	}
	if pol, err = policyFor(s, c.Policy, log); err != nil {
		return nil, iso, pol, err
	}
	if err := checkChroot(s, pol, c.Bundle); err != nil {
		return nil, iso, pol, err
	}
	absBindSources(s, c.Bundle)
	applyPolicyEnv(s.Process, pol)
	return s, iso, pol, nil
}

// absBindSources resolves relative bind-mount sources against the bundle, as runc does.
func absBindSources(s *specs.Spec, bundle string) {
	b, _ := filepath.Abs(bundle)
	for i, m := range s.Mounts {
		isBind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
		if isBind && m.Source != "" && !filepath.IsAbs(m.Source) {
			s.Mounts[i].Source = filepath.Join(b, m.Source)
		}
	}
}

func makeStateDir(root, id string) (string, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", fmt.Errorf("state root %s: %w", root, err)
	}
	dir := stateDir(root, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", ErrExist
		}
		return "", fmt.Errorf("state dir: %w", err)
	}
	return dir, nil
}

func newState(c CreateOpts, s *specs.Spec, iso spec.Isolation) *State {
	bundle, _ := filepath.Abs(c.Bundle)
	return &State{
		ID: c.ID, Bundle: bundle, Rootfs: rootfsPath(bundle, s.Root.Path), Created: time.Now().UTC(),
		Annotations: s.Annotations, Hostname: iso.Hostname, Isolation: iso,
		ProcessConfig: s.Process,
	}
}

// rootfsPath is root.path resolved against the bundle, symlinks followed.
func rootfsPath(bundle, root string) string {
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, root)
	}
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	return root
}

// checkChroot refuses a policy chroot that would be ignored. A container's root is root.path,
// which init chroots into; the policy's chroot is applied by being that root (the direct mode
// turns --chroot into root.path), so any other value is refused rather than dropped.
func checkChroot(s *specs.Spec, pol spec.Policy, bundle string) error {
	c := pol.ChrootPath()
	if c == "" {
		return nil
	}
	abs, _ := filepath.Abs(bundle)
	root := rootfsPath(abs, s.Root.Path)
	if rootfsPath("/", c) == root {
		return nil
	}
	return fmt.Errorf("chroot %s: a container's root is root.path (%s), which is what init chroots into: set root.path instead; accepted: chroot unset or equal to root.path", c, root)
}

func (cr *creation) setupCgroup(o *Options, c CreateOpts) error {
	res := resourcesFor(cr.spec, cr.policy)
	mnt := Cgroup2Mount()
	if mnt == "" || unix.Access(mnt, unix.W_OK) != nil {
		if err := noCgroupLimits(cr.spec, res); err != nil {
			return err
		}
		cr.log.Warnf("no writable cgroup2 hierarchy: processes are tracked without a cgroup (see docs/design.md)")
		return nil
	}
	cgPath := ""
	if cr.spec.Linux != nil {
		cgPath = cr.spec.Linux.CgroupsPath
	}
	dir, sd, err := cgroupDirFor(mnt, cgPath, c.ID, o.SystemdCgroup)
	if err != nil {
		return err
	}
	if o.SystemdCgroup && systemdBooted() {
		cr.scope = sd // registered with systemd once init exists (startInit)
	}
	lp, err := cr.planLimits(mnt, dir, res)
	if err != nil {
		return err
	}
	// Recorded before the mkdirs, with the dirs missing now (cgroup2's and the v1 ones), not
	// only in state.json at the end: delete --force after a crash of create, even between a
	// mkdir and a record, must find the cgroup as it finds the mounts (hack/soak).
	// What is recorded is what the record will say once every mkdir went as planned (the v1
	// dirs each controller gets included: delete takes a dir not made yet for one already
	// removed), so that in the common case the record made after the mkdirs is the same and
	// is not written again (saveCgroup).
	planned, plannedV1 := missingDirs(mnt, dir), lp.v1.expected()
	if err := cr.saveCgroup(cgroupRecord{Dir: dir, Made: planned, V1: plannedV1}); err != nil {
		return err
	}
	made, err := createCgroup(mnt, dir)
	if err != nil {
		return err
	}
	st := cr.cont.State
	st.Cgroup, st.CgroupMade = dir, made
	cr.cgMount = mnt
	cr.cg = &cgroupRecord{Dir: dir, Made: made}
	// Rewritten only when a race changed what was made (a parent made or removed meanwhile by
	// another container): delete must remove exactly the dirs this create made.
	if !slices.Equal(made, planned) {
		if err := cr.saveCgroup(cgroupRecord{Dir: dir, Made: made, V1: plannedV1}); err != nil {
			return err
		}
	}
	cr.onFail(func() {
		if err := killCgroup(dir); err != nil {
			cr.log.Warnf("%v", err)
		}
		if err := cr.cg.V1.remove(); err != nil {
			cr.log.Warnf("%v", err)
		}
		removeCgroups(cr.cg.Made)
	})
	if err := cr.setupLimits(mnt, dir, cr.cg, res, lp); err != nil {
		return err
	}
	if sd != nil && cr.scope == nil {
		// Slices without systemd: the last container out removes them (slices.go).
		own := append([]string{dir}, cr.cg.V1.uniqueDirs()...)
		made := append(slices.Clone(cr.cg.Made), cr.cg.V1.Made...)
		if err := recordSlices(filepath.Dir(cr.cont.dir), made, own); err != nil {
			return err
		}
		cr.cg.Slices = true
		if err := cr.saveCgroup(*cr.cg); err != nil {
			return err
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	cr.cont.State.Resources = b // in state.json (resources_record.go)
	return nil
}

// saveCgroup writes the cgroup record unless it says what the last one create wrote says.
func (cr *creation) saveCgroup(r cgroupRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if cr.cgSaved != nil && bytes.Equal(b, cr.cgSaved) {
		return nil
	}
	if err := writeCgroupRecord(cr.cont.dir, b); err != nil {
		return err
	}
	cr.cgSaved = b
	return nil
}

func (cr *creation) setupMounts(o *Options, c CreateOpts) error {
	ml := mountLog{path: filepath.Join(cr.cont.dir, "mounts")}
	cr.onFail(func() {
		paths, _ := ml.list()
		if err := undoMounts(paths); err != nil {
			cr.log.Warnf("%v", err)
		}
	})
	st := cr.cont.State
	hidePIDs(cr.spec, cr.policy, st.Rootfs, cr.log)
	if err := privateMqueue(cr.spec, cr.policy.IPCIsolated(), st.Rootfs); err != nil {
		return err
	}
	if err := cr.hostnameFile(); err != nil {
		return err
	}
	if err := cr.pinPolicyHosts(); err != nil {
		return err
	}
	if err := cr.etcHostsMount(); err != nil {
		return err
	}
	w := ml.writer()
	defer w.close() // before any process of the container exists (startProcesses)
	if err := setupRootfs(st.Rootfs, cr.spec, w.record); err != nil {
		return err
	}
	st.ContainerPTS = st.Rootfs != "/" && hasMount(cr.spec, "/dev/pts", "devpts")
	return nil
}

func hasMount(s *specs.Spec, dest, typ string) bool {
	for _, m := range s.Mounts {
		if filepath.Clean(m.Destination) == dest && m.Type == typ {
			return true
		}
	}
	return false
}

// setupStdio decides the init's stdio: the caller's fds 0-2 (they ARE the container's stdio),
// or a pty slave when process.terminal is set.
func (cr *creation) setupStdio(o *Options, c CreateOpts) error {
	cr.stdio = [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	if c.Stdio != nil {
		cr.stdio = *c.Stdio
	}
	p := cr.spec.Process
	if !p.Terminal {
		return nil
	}
	st := cr.cont.State
	master, slave, name, err := openConsole(st.Rootfs, st.ContainerPTS, p.ConsoleSize)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	cr.closeMe = append(cr.closeMe, slave)
	cr.onFail(func() { master.Close() })
	cr.stdio = [3]*os.File{slave, slave, slave}
	cr.master = master
	if c.ConsoleSocket != "" {
		if err := sendConsole(c.ConsoleSocket, master, name); err != nil {
			return fmt.Errorf("console socket %s: %w", c.ConsoleSocket, err)
		}
	}
	return nil
}

// finish runs the create-time hooks, then publishes state.json and the pid-file: only a
// complete container is ever visible to callers as created (or, published at start, as
// started).
func (cr *creation) finish(o *Options, c CreateOpts) error {
	hs := cr.spec.Hooks
	ost := cr.cont.ociState(specs.StateCreated)
	if hs != nil {
		//lint:ignore SA1019 prestart is deprecated but still part of the spec callers use
		if err := runHooks("prestart", hs.Prestart, ost); err != nil {
			return err
		}
		if err := runHooks("createRuntime", hs.CreateRuntime, ost); err != nil {
			return err
		}
		if err := runHooks("createContainer", hs.CreateContainer, ost); err != nil {
			return err
		}
	}
	if err := saveSpec(cr.cont.dir, cr.spec); err != nil {
		return err
	}
	cr.cont.spec = cr.spec // run and the direct mode start and clean up without reading it back
	if cr.publishAtStart() {
		return nil
	}
	return cr.publish(c.PidFile)
}

// publish writes state.json, then the pid-file.
func (cr *creation) publish(pidFile string) error {
	if err := cr.cont.save(); err != nil {
		return err
	}
	if pidFile != "" {
		if err := writeFileAtomic(absPath(pidFile), []byte(strconv.Itoa(cr.cont.State.Pid)), 0o644); err != nil {
			return fmt.Errorf("pid-file: %w", err)
		}
	}
	return nil
}

// publishAtStart: a container that create starts at once (run, the direct mode, the Go API)
// and that has no hooks is published once, as started, right before the start (launch):
// state.json written once instead of twice (a file made and renamed, 0.1-1 ms on a busy
// ext4). Nobody can tell: before that, the state dir without state.json reads as "creating"
// (delete --force undoes it from the cgroup record and the mount log, as after a crash), and
// no hook runs that could look in between.
func (cr *creation) publishAtStart() bool {
	return cr.fgStart && cr.spec.Hooks == nil
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func saveSpec(dir string, s *specs.Spec) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return writeFileNew(filepath.Join(dir, "config.json"), b, 0o600)
}

// spec is the container's config.json: the one create saved when this process made the
// container, else read from the state dir.
func (c *Container) loadSpec() (*specs.Spec, error) {
	if c.spec != nil {
		return c.spec, nil
	}
	return loadSpec(c.dir)
}

func loadSpec(dir string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	return &s, json.Unmarshal(b, &s)
}

// ociState is the state hooks receive, with the status they run in.
func (c *Container) ociState(status specs.ContainerState) specs.State {
	s := c.State
	return specs.State{
		Version: specs.Version, ID: s.ID, Status: status, Pid: s.Pid,
		Bundle: s.Bundle, Annotations: s.Annotations,
	}
}

func socketpair() (a, b *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sp0"), os.NewFile(uintptr(fds[1]), "sp1"), nil
}

// killCmd kills a process this runtime started and reaps it.
func killCmd(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_, _ = cmd.Process.Wait()
}
