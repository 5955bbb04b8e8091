package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
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
}

// initReply is init's answer: an error, or the zygote's pid once init is confined and waiting.
type initReply struct {
	Error     string `json:"error,omitempty"`
	ZygotePid int    `json:"zygotePid,omitempty"`
}

// creation holds a container being created. Each step that changes the host pushes its undo,
// and a failure runs them in reverse: a failed create leaves no state dir, process, mount or
// cgroup behind.
type creation struct {
	cont    *Container
	spec    *specs.Spec
	policy  spec.Policy
	init    *exec.Cmd
	sup     *exec.Cmd
	master  *os.File // console master, kept by run when it relays the terminal itself
	undo    []func()
	stdio   [3]*os.File
	closeMe []*os.File
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
	cr, err := create(o, c, false)
	if err != nil {
		return err
	}
	cr.closeFiles()
	return nil
}

func create(o *Options, c CreateOpts, relayTTY bool) (*creation, error) {
	s, iso, pol, err := loadForCreate(o.Root, c)
	if err != nil {
		return nil, err
	}
	if s.Process.Terminal && c.ConsoleSocket == "" && !relayTTY {
		return nil, errors.New("cannot allocate tty if runc will detach without setting console socket")
	}
	cr := &creation{spec: s, policy: pol}
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
	cr.cont = &Container{dir: dir, State: newState(c, cr.spec, iso)}
	if h := cr.policy.HostnameOverride(); h != "" {
		cr.cont.State.Hostname = h // io.sandlock.hostname virtualises uname without a uts namespace
	}
	steps := []struct {
		name string
		run  func(*Options, CreateOpts) error
	}{
		{"cgroup", cr.setupCgroup}, {"mounts", cr.setupMounts}, {"stdio", cr.setupStdio},
		{"processes", cr.startProcesses}, {"finish", cr.finish},
	}
	for _, step := range steps {
		t := time.Now()
		if err := step.run(o, c); err != nil {
			return err
		}
		logrus.Debugf("create %s: %s took %s", c.ID, step.name, time.Since(t))
	}
	return nil
}

func loadForCreate(root string, c CreateOpts) (*specs.Spec, spec.Isolation, spec.Policy, error) {
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
	if pol, err = policyFor(s, c.Policy); err != nil {
		return nil, iso, pol, err
	}
	absBindSources(s, c.Bundle)
	applyPolicyEnv(s.Process, pol)
	return s, iso, pol, nil
}

// policyFor merges the sandlock policy from its sources (docs/policy.md): profile, OCI
// fields, annotations, then what an embedder passes.
func policyFor(s *specs.Spec, over *spec.Policy) (spec.Policy, error) {
	pol, err := spec.PolicyFromSpec(s, spec.DefaultProfileStore())
	if err != nil {
		return pol, err
	}
	if over != nil {
		pol = pol.Merge(*over)
	}
	if err := pol.Validate(); err != nil {
		return pol, err
	}
	if !pol.FDsClosed() {
		// Refused, not ignored: only fds 0-2 and --preserve-fds ever reach the container.
		return pol, errors.New("close_fds: false is not supported: fds above 2 are always closed (pass fds with --preserve-fds); accepted: true")
	}
	if keys := unenforcedAsked(s, pol); len(keys) > 0 {
		logrus.Warnf("policy fields set but not enforced by this release: %s (docs/policy.md)", strings.Join(keys, ", "))
	}
	return pol, nil
}

// unenforcedAsked lists the fields a user asked for (annotation, profile, embedder) that this
// release does not enforce. Those that only come from linux.resources (every podman container
// has a pids limit) are left out: docs/design.md says resources are accepted, not applied.
func unenforcedAsked(s *specs.Spec, pol spec.Policy) []string {
	oci, _ := spec.OCIPolicy(s)
	fromOCI := oci.SetKeys()
	return slices.DeleteFunc(pol.NotEnforced(), func(k string) bool {
		_, annotated := s.Annotations[spec.AnnotationPrefix+k]
		return slices.Contains(fromOCI, k) && !annotated
	})
}

// applyPolicyEnv bakes clean_env and env into the process, so init and every exec that starts
// from the container's process see the same environment.
func applyPolicyEnv(p *specs.Process, pol spec.Policy) {
	if pol.EnvCleaned() {
		p.Env = minimalEnv(p.Env)
	}
	for _, k := range slices.Sorted(maps.Keys(pol.Env)) {
		p.Env = setEnv(p.Env, k, pol.Env[k])
	}
	for _, kv := range confine.GPUEnv(pol) { // gpu_devices: CUDA_VISIBLE_DEVICES
		k, v, _ := strings.Cut(kv, "=")
		p.Env = setEnv(p.Env, k, v)
	}
}

// minimalEnv keeps what a program needs to find its tools and terminal.
func minimalEnv(env []string) []string {
	var out []string
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if k == "PATH" || k == "TERM" || k == "HOME" || k == "LANG" {
			out = append(out, e)
		}
	}
	return out
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
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
	rootfs := s.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if r, err := filepath.EvalSymlinks(rootfs); err == nil {
		rootfs = r
	}
	return &State{
		ID: c.ID, Bundle: bundle, Rootfs: rootfs, Created: time.Now().UTC(),
		Annotations: s.Annotations, Hostname: iso.Hostname, Isolation: iso,
		ProcessConfig: s.Process,
	}
}

func (cr *creation) setupCgroup(o *Options, c CreateOpts) error {
	mnt := Cgroup2Mount()
	if mnt == "" || unix.Access(mnt, unix.W_OK) != nil {
		logrus.Warnf("no writable cgroup2 hierarchy: processes are tracked without a cgroup (see docs/design.md)")
		return nil
	}
	cgPath := ""
	if cr.spec.Linux != nil {
		cgPath = cr.spec.Linux.CgroupsPath
	}
	dir := cgroupDirFor(mnt, cgPath, c.ID)
	made, err := createCgroup(mnt, dir)
	if err != nil {
		return err
	}
	st := cr.cont.State
	st.Cgroup, st.CgroupMade = dir, made
	// Recorded now, not only in state.json at the end: delete --force after a crash of create
	// must find the cgroup as it finds the mounts.
	if err := saveCgroupRecord(cr.cont.dir, dir, made); err != nil {
		return err
	}
	cr.onFail(func() {
		if err := killCgroup(dir); err != nil {
			logrus.Warn(err)
		}
		removeCgroups(made)
	})
	return nil
}

func (cr *creation) setupMounts(o *Options, c CreateOpts) error {
	ml := mountLog{path: filepath.Join(cr.cont.dir, "mounts")}
	cr.onFail(func() {
		paths, _ := ml.list()
		if err := undoMounts(paths); err != nil {
			logrus.Warn(err)
		}
	})
	st := cr.cont.State
	hidePIDs(cr.spec, cr.policy, st.Rootfs)
	if err := cr.hostnameFile(); err != nil {
		return err
	}
	if err := setupRootfs(st.Rootfs, cr.spec, ml.record); err != nil {
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
// complete container is ever visible to callers as created.
func (cr *creation) finish(o *Options, c CreateOpts) error {
	st := cr.cont.State
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
	if err := cr.cont.save(); err != nil {
		return err
	}
	if c.PidFile != "" {
		if err := writeFileAtomic(absPath(c.PidFile), []byte(strconv.Itoa(st.Pid)), 0o644); err != nil {
			return fmt.Errorf("pid-file: %w", err)
		}
	}
	return nil
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
	return writeFileAtomic(filepath.Join(dir, "config.json"), b, 0o600)
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

// hidePIDs mounts the container's /proc with hidepid=ptraceable for isolate_pids (a PID
// namespace's stand-in): a process then sees in /proc only the processes it may ptrace, and
// Landlock allows ptrace only within the container's domain, so host processes (and the
// supervisor) vanish from /proc. In host mode /proc is the host's own mount and stays as it is.
func hidePIDs(s *specs.Spec, pol spec.Policy, rootfs string) {
	if !pol.PIDsIsolated() {
		return
	}
	if rootfs == "/" {
		logrus.Warn("isolate_pids: in host mode (root.path /) /proc is the host's: foreign pids stay visible there")
		return
	}
	for i, m := range s.Mounts {
		if m.Type == "proc" && !slices.ContainsFunc(m.Options, func(o string) bool { return strings.HasPrefix(o, "hidepid=") }) {
			s.Mounts[i].Options = append(slices.Clone(m.Options), "hidepid=ptraceable")
		}
	}
}

// hostnameFile shows the container's hostname in /proc/sys/kernel/hostname too (uname is
// answered by the supervisor): Go's os.Hostname and others read that file first. A read-only
// bind of a file in the state dir over the container's own /proc entry; image mode only.
func (cr *creation) hostnameFile() error {
	st := cr.cont.State
	if st.Hostname == "" || st.Rootfs == "/" || !hasMount(cr.spec, "/proc", "proc") {
		return nil
	}
	src := filepath.Join(cr.cont.dir, "hostname")
	if err := os.WriteFile(src, []byte(st.Hostname+"\n"), 0o444); err != nil {
		return err
	}
	cr.spec.Mounts = append(cr.spec.Mounts, specs.Mount{
		Destination: "/proc/sys/kernel/hostname", Type: "bind", Source: src, Options: []string{"bind", "ro"},
	})
	return nil
}
