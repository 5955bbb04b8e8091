package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	criulite "github.com/sandlock/sandlock-runtime/criu-lite"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandlock/sandlock-runtime/confine"
)

// startProcesses starts init (X) and the supervisor (S) side by side and waits until init
// is confined and S holds the seccomp listener. The channels between them are created here
// and handed over as inherited fds named by flags. Both processes start before create makes
// init's configuration: their starts (the supervisor's Go runtime) overlap that work.
func (cr *creation) startProcesses(o *Options, c CreateOpts) error {
	exe, err := self()
	if err != nil {
		return err
	}
	ch, err := newChannels(cr.cont.dir, cr.cont.State)
	if err != nil {
		return err
	}
	defer ch.closeParentCopies()
	defer ch.closeChildCopies() // a failed start of init or the supervisor leaves them here
	t := time.Now()
	if err := cr.startInit(exe, c, ch); err != nil {
		return err
	}
	if err := cr.startSupervisor(exe, o, ch); err != nil {
		return err
	}
	cr.log.Debugf("create %s: processes: init and supervisor started after %s", c.ID, time.Since(t))
	ch.closeChildCopies()
	if err := cr.configureInit(c, ch); err != nil {
		return err
	}
	cr.log.Debugf("create %s: processes: init's configuration sent after %s", c.ID, time.Since(t))
	return cr.awaitReady(ch, func(what string) {
		cr.log.Debugf("create %s: processes: %s after %s", c.ID, what, time.Since(t))
	})
}

// channels are the fds create wires between init, the zygote and the supervisor.
type channels struct {
	initC, initX *os.File // initpipe: create <-> init
	xsX, xsS     *os.File // init <-> create, then the supervisor (handoff.go)
	hoC, hoS     *os.File // create -> supervisor: the listener and xs (handoff.go)
	zsZ, zsS     *os.File // zygote <-> supervisor
	kill         *os.File // cgroup.kill for the zygote (nil without a cgroup)
	cgdir        *os.File // cgroup dir for CLONE_INTO_CGROUP
	ctl          *os.File // listening control socket
	readyR       *os.File // supervisor readiness
	readyW       *os.File
	pidfd        *os.File // init's pidfd, for the supervisor
}

func newChannels(dir string, st *State) (ch *channels, err error) {
	ch = &channels{}
	defer func() {
		if err != nil {
			ch.closeParentCopies()
			ch.closeChildCopies()
		}
	}()
	if ch.initC, ch.initX, err = socketpair(); err != nil {
		return ch, err
	}
	if ch.xsX, ch.xsS, err = socketpair(); err != nil {
		return ch, err
	}
	if ch.zsZ, ch.zsS, err = socketpair(); err != nil {
		return ch, err
	}
	if ch.hoC, ch.hoS, err = socketpair(); err != nil {
		return ch, err
	}
	if ch.readyR, ch.readyW, err = os.Pipe(); err != nil {
		return ch, err
	}
	fd, err := listenCtl(dir)
	if err != nil {
		return ch, err
	}
	ch.ctl = os.NewFile(uintptr(fd), "ctl")
	if st.Cgroup != "" {
		if ch.kill, err = os.OpenFile(filepath.Join(st.Cgroup, "cgroup.kill"), os.O_WRONLY, 0); err != nil {
			return ch, fmt.Errorf("cgroup.kill: %w", err)
		}
		if ch.cgdir, err = os.Open(st.Cgroup); err != nil {
			return ch, err
		}
	}
	return ch, nil
}

func closeFiles(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// closeParentCopies closes create's ends (those the creation did not take: handoff.go).
func (ch *channels) closeParentCopies() { closeFiles(ch.initC, ch.readyR, ch.xsS, ch.hoC, ch.pidfd) }

func (ch *channels) closeChildCopies() {
	closeFiles(ch.initX, ch.xsX, ch.zsZ, ch.zsS, ch.hoS, ch.kill, ch.cgdir, ch.ctl, ch.readyW)
	ch.initX, ch.xsX, ch.zsZ, ch.zsS, ch.hoS, ch.kill, ch.cgdir, ch.ctl, ch.readyW =
		nil, nil, nil, nil, nil, nil, nil, nil, nil
}

// fdArgs appends files to ExtraFiles and returns "--NAME=FD" flags naming their fd numbers in
// the child.
func fdArgs(cmd *exec.Cmd, named ...any) []string {
	var args []string
	for i := 0; i < len(named); i += 2 {
		f, _ := named[i+1].(*os.File)
		fd := -1
		if f != nil {
			cmd.ExtraFiles = append(cmd.ExtraFiles, f)
			fd = 2 + len(cmd.ExtraFiles)
		}
		args = append(args, fmt.Sprintf("--%s=%d", named[i], fd))
	}
	return args
}

func (cr *creation) startInit(exe string, c CreateOpts, ch *channels) error {
	cmd := &exec.Cmd{Path: exe, Env: runtimeEnv}
	for i := 0; i < c.PreserveFDs; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved"))
	}
	useC := cr.useCInit()
	if useC {
		cmd.Args = cInitArgs(cmd, ch.initX, ch.xsX, ch.zsZ, ch.kill)
	} else {
		cmd.Args = append([]string{"sandlock-runtime", "init"},
			fdArgs(cmd, "fd-init", ch.initX, "fd-xs", ch.xsX, "fd-zs", ch.zsZ, "fd-kill", ch.kill)...)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = cr.stdio[0], cr.stdio[1], cr.stdio[2]
	pidfd := -1
	cmd.SysProcAttr = &syscall.SysProcAttr{PidFD: &pidfd}
	if ch.cgdir != nil {
		// Cloned straight into the container cgroup: no window where init is outside it.
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(ch.cgdir.Fd())
	}
	if cr.policy.IsPrivileged() {
		if err := privilegedUserns(cmd.SysProcAttr, cr.spec.Process); err != nil {
			return err
		}
	}
	if cr.cow != nil {
		initCOWNamespace(cmd.SysProcAttr, cr.policy.IsPrivileged())
	}
	start := cmd.Start
	if c.restorePid > 0 {
		start = func() error { return criulite.WithNextPid(c.restorePid, cmd.Start) }
	}
	if err := start(); err != nil {
		return stepErr(StepFork, fmt.Errorf("start init: %w", err))
	}
	cr.init = cmd
	cr.onFail(func() { killCmd(cmd) })
	if cr.cow != nil {
		// Once init is forked: no descriptor or child of the view's making exists during the
		// fork (a --preserve-fds number not open in create could have named one, and the
		// helper's fork could take the pid a restore asked for).
		cr.startTree(exe)
	}
	ch.pidfd = os.NewFile(uintptr(pidfd), "pidfd")
	st := cr.cont.State
	st.Pid = cmd.Process.Pid
	st.PidStart, _ = procStartTime(st.Pid)
	return nil
}

// configureInit puts init in the v1 controllers and sends it its configuration (it waits
// for that before doing anything). The joins wait for the kernel (an RCU grace period, 5-15
// ms on a busy host) while the configuration is made.
func (cr *creation) configureInit(c CreateOpts, ch *channels) error {
	joined := make(chan error, 1)
	go func() { joined <- cr.joinV1(c) }()
	useC := cr.useCInit()
	t := time.Now()
	ic, err := cr.initConfig(c)
	cr.log.Debugf("create %s: processes: plan made in %s (C init: %v)", c.ID, time.Since(t), useC)
	// Before init reads its config, so before it confines itself: every process of the
	// container is forked from init (or the zygote) and inherits these.
	if jerr := <-joined; jerr != nil {
		return jerr
	}
	if err != nil {
		return err
	}
	if cr.cg != nil {
		if err := cr.registerScope(cr.cont.State.Pid); err != nil {
			return err
		}
	}
	if useC {
		return cr.sendCInit(ic, ch.initC)
	}
	if err := sendJSON(ch.initC, ic); err != nil {
		return err
	}
	return cr.sendTree(ch.initC)
}

func (cr *creation) joinV1(c CreateOpts) error {
	if cr.cg == nil {
		return nil
	}
	t := time.Now()
	if err := joinV1(cr.cg.V1, cr.cont.State.Pid); err != nil {
		return err
	}
	cr.log.Debugf("create %s: processes: v1 controllers joined in %s", c.ID, time.Since(t))
	return nil
}

// memView is the memory limit /proc/meminfo shows, and where the container's usage is read.
func (cr *creation) memView() memView {
	res := cr.res // what setupLimits applied: set whenever cr.cg is
	if cr.cg == nil || res == nil || res.Memory == nil || res.Memory.Limit == nil || *res.Memory.Limit <= 0 {
		return memView{}
	}
	usage, limit := filepath.Join(cr.cg.Dir, "memory.current"), filepath.Join(cr.cg.Dir, "memory.max")
	if d, ok := cr.cg.V1.Dirs["memory"]; ok {
		usage, limit = filepath.Join(d, "memory.usage_in_bytes"), filepath.Join(d, "memory.limit_in_bytes")
	}
	return memView{limit: *res.Memory.Limit, usage: usage, limitFile: limit}
}

func (cr *creation) initConfig(c CreateOpts) (initConfig, error) {
	st, s := cr.cont.State, cr.spec
	plan, err := cr.plan(c)
	if err != nil {
		return initConfig{}, stepErr(StepPolicy, err)
	}
	if c.Direct {
		if plan.Landlock.Paths, err = directTerminals(plan.Landlock.Paths, cr.stdio); err != nil {
			return initConfig{}, err
		}
	}
	if c.restore {
		plan.Process.NoASLR = true // set before seccomp; the restored process gets its own back
	}
	if err := cr.pinPolicyHosts(); err != nil {
		return initConfig{}, err
	}
	sup, err := supervisorPlan(cr.policy, &plan, st.Hostname, st.Rootfs, cr.memView(), cr.pinned)
	if err != nil {
		return initConfig{}, stepErr(StepPolicy, err)
	}
	if err := saveSupervisorConfig(cr.cont.dir, sup); err != nil {
		return initConfig{}, err
	}
	ic := initConfig{
		Rootfs: st.Rootfs, Process: s.Process, PreserveFDs: c.PreserveFDs, Plan: plan,
		State: cr.cont.ociState(specs.StateCreated), KeepSession: c.KeepSession, COW: cr.cow,
	}
	if ic.Seccomp, err = confine.Program(plan.Seccomp, cacheDir()); err != nil {
		return ic, err
	}
	st.PolicyRlimits = plan.Process.Rlimits
	var oci *specs.LinuxSeccomp
	if s.Linux != nil {
		oci = s.Linux.Seccomp
	}
	if ic.ExecFilters, err = confine.ExecFilters(oci, plan.Seccomp); err != nil {
		return ic, err
	}
	// exec compiles nothing: it loads the same programs from the state dir.
	if err := saveExecFilters(cr.cont.dir, ic.ExecFilters); err != nil {
		return ic, err
	}
	if s.Hooks != nil {
		ic.StartHooks = s.Hooks.StartContainer
	}
	return ic, nil
}

func (cr *creation) startSupervisor(exe string, o *Options, ch *channels) error {
	st := cr.cont.State
	cmd := &exec.Cmd{Path: exe, Env: runtimeEnv}
	args := []string{"sandlock-runtime"}
	if o.LogPath != "" {
		args = append(args, "--log", o.LogPath, "--log-format", o.LogFormat)
	}
	if o.Debug {
		args = append(args, "--debug")
	}
	args = append(args, "supervise", "--state-dir", cr.cont.dir, "--init-pid", strconv.Itoa(st.Pid),
		"--cgroup", st.Cgroup, "--hostname", st.Hostname)
	if cr.cgMount != "" {
		args = append(args, "--cgroup-mount", cr.cgMount) // saves the supervisor a mountinfo read
	}
	if st.Isolation.IsolateSignals {
		args = append(args, "--kill-on-init-exit")
	}
	cmd.Args = append(args, fdArgs(cmd, "fd-handoff", ch.hoS, "fd-zs", ch.zsS, "fd-ctl", ch.ctl,
		"fd-pidfd", ch.pidfd, "fd-ready", ch.readyW)...)
	// Its own session, stdio on /dev/null: it must hold no copy of the container's stdio and
	// must not get the caller's terminal signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return stepErr(StepFork, fmt.Errorf("start supervisor: %w", err))
	}
	cr.sup = cmd
	cr.onFail(func() { killCmd(cmd) })
	st.SupPid = cmd.Process.Pid
	st.SupStart, _ = procStartTime(st.SupPid)
	return nil
}

func (cr *creation) awaitReady(ch *channels, logStep func(string)) error {
	terr := cr.takeListener(ch)
	var r initReply
	if err := recvJSON(ch.initC, &r); err != nil {
		if cr.oomKilled() {
			return fmt.Errorf("init: %w: it was OOM-killed (memory limit too low?)", err)
		}
		return fmt.Errorf("init: %w", err)
	}
	if terr != nil && !errors.Is(terr, errNoListener) { // init's failure is create's hang-up
		return &StepError{Step: StepNotif, Msg: terr.Error()}
	}
	if r.Err != nil {
		return r.Err
	}
	if r.Error != "" {
		return errors.New(r.Error)
	}
	if terr != nil { // init confined itself, yet its listener did not come
		return &StepError{Step: StepNotif, Msg: terr.Error()}
	}
	cr.cont.State.ZygotePid = r.ZygotePid
	if r.ZygotePid > 0 { // init's child, alive: init waits for start
		cr.cont.State.ZygoteStart, _ = procStartTime(r.ZygotePid)
	}
	logStep("init confined")
	if cr.fgStart {
		return nil // launch starts init itself: nothing waits for the supervisor (handoff.go)
	}
	b := make([]byte, 1)
	if n, _ := ch.readyR.Read(b); n != 1 {
		return &StepError{Step: StepNotif, Msg: "supervisor exited during create (see the --log file)"}
	}
	logStep("supervisor ready")
	return nil
}

// oomKilled: the container's memory cgroup has OOM-killed a process (memory.events on
// cgroup2, memory.oom_control on v1, whose oom_kill counts the kills): init dying before it was
// ready under a memory limit too low to start it says so, as runc does.
func (cr *creation) oomKilled() bool {
	if cr.cg == nil {
		return false
	}
	file := filepath.Join(cr.cg.Dir, "memory.events")
	if d, ok := cr.cg.V1.Dirs["memory"]; ok {
		file = filepath.Join(d, "memory.oom_control")
	}
	return readKeyed(file)["oom_kill"] > 0
}

func sendJSON(f *os.File, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return err
}

// recvJSON reads one SOCK_SEQPACKET datagram and decodes it; EOF means the peer died.
func recvJSON(f *os.File, v any) error {
	buf := make([]byte, 1<<20)
	n, err := f.Read(buf)
	if errors.Is(err, syscall.ECONNRESET) {
		// init exited with a message of create's unread (the workdir's view, which it takes
		// after its configuration): the kernel reports the reset first, then what init wrote.
		n, err = f.Read(buf)
	}
	if errors.Is(err, io.EOF) || (err == nil && n == 0) {
		return errors.New("exited before it was ready")
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(buf[:n], v)
}

const seccompFile = "seccomp.json"

// saveExecFilters writes nothing when there are no programs: execFilters reads a missing file
// as none.
func saveExecFilters(dir string, fs []confine.Filter) error {
	if len(fs) == 0 {
		return nil
	}
	b, err := json.Marshal(fs)
	if err != nil {
		return err
	}
	return writeFileNew(filepath.Join(dir, seccompFile), b, 0o600)
}

// execFilters are the container's compiled exec-time seccomp programs (the policy's syscall
// list, the OCI profile).
func (c *Container) execFilters() ([]confine.Filter, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, seccompFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var fs []confine.Filter
	return fs, json.Unmarshal(b, &fs)
}

// cacheDir holds compiled seccomp programs, shared by every --root (containerd, podman and
// direct use all hit the same cache) in the default state root, which belongs to the user
// running the runtime; '#' cannot start a container ID, so list never takes it for one.
func cacheDir() string {
	return filepath.Join(DefaultRoot(), "#seccomp-cache")
}

// privilegedUserns clones init into a new user namespace in which the caller's uid and gid are
// 0 (policy privileged): with the copy-on-write workdir's (cow.go), the only namespaces this runtime creates, and only when asked. An
// unprivileged caller may map its own ids, nothing else, so the process must run as 0 inside;
// setgroups is denied in the namespace, as the kernel requires for such a mapping. Landlock,
// seccomp (which still refuses unshare, setns and mount) and no_new_privs apply as always:
// "root" there owns nothing of the host.
func privilegedUserns(a *syscall.SysProcAttr, p *specs.Process) error {
	if p.User.UID != 0 || p.User.GID != 0 || len(p.User.AdditionalGids) > 0 {
		return fmt.Errorf("privileged: the process runs as uid 0, gid 0 in its user namespace, not %d:%d (process.user); accepted: uid 0, gid 0, no additional groups",
			p.User.UID, p.User.GID)
	}
	a.Cloneflags |= syscall.CLONE_NEWUSER
	a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
	a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	a.GidMappingsEnableSetgroups = false
	return nil
}

// plan is the container's confinement plan. In the direct mode the runtime's own directories
// are denied to the sandbox (as fs_denied) when a writable rule reaches them: the state root
// (this sandbox's state dir, and its neighbours': config.json with its hooks, the mount log,
// the audit log), the default root, which holds the compiled seccomp programs every later
// create of this user loads (cacheDir), and the sandboxes' default state roots. Found by the fourth escape pass: `sandbox -w /run`
// replaced a cached program with one that allows every call, and the next sandbox of the
// same policy (and every container of the host) ran without sandlock's filter.
func (cr *creation) plan(c CreateOpts) (confine.Plan, error) {
	st, s := cr.cont.State, cr.spec
	base := cowWritable(landlockFor(st.Rootfs, s, st.Isolation), cr.cow)
	plan, err := confine.PlanFor(cr.policy, base, st.Rootfs)
	if err != nil {
		return plan, err
	}
	if !c.Direct {
		return cr.hideInBinds(plan, base)
	}
	var hide []string
	for i, d := range cr.runtimeDirs() {
		if slices.Contains(hide, d) || !writableBy(plan.Landlock.Paths, d) || d == tmpStateRoot() {
			// A user's fallback under $TMPDIR is left writable: hiding it would carve the
			// common `-w /tmp`, where a carved directory refuses bind(2) of a unix socket,
			// and what the sandbox could rewrite there is its own record (the hooks and
			// the mounts delete acts on are create's, in memory; a user unmounts nothing).
			continue
		}
		// It must exist to be denied by inode: the two this create uses are made (the runtime
		// makes them anyway; where the runtime's user may not, neither may the sandbox, the
		// same user), the other sandboxes' roots only hidden where they exist.
		if i < 2 {
			if err := os.MkdirAll(d, 0o700); errors.Is(err, fs.ErrPermission) {
				continue
			} else if err != nil {
				return plan, fmt.Errorf("%s is writable under the policy and cannot be made: %w", d, err)
			}
		} else if _, err := os.Lstat(d); err != nil {
			continue
		}
		hide = append(hide, d)
	}
	if len(hide) == 0 {
		return plan, nil
	}
	cr.log.Debugf("create %s: the runtime's directories denied to the sandbox: %v", c.ID, hide)
	pol := cr.policy.Clone()
	pol.FSDenied = append(pol.FSDenied, hide...)
	return confine.PlanFor(pol, base, st.Rootfs)
}

// hideInBinds denies a container the runtime's directories that a writable bind mount brings
// into its rootfs (`-v /run:/run`): the same files as in the direct mode, by their path in
// the container. Host mode (root.path /) shares the host's tree on purpose and is left as it
// is.
func (cr *creation) hideInBinds(plan confine.Plan, base confine.LandlockConfig) (confine.Plan, error) {
	st := cr.cont.State
	if st.Rootfs == "/" {
		return plan, nil
	}
	var hide, dirs []string
	for _, m := range cr.spec.Mounts {
		if !slices.Contains(m.Options, "bind") && !slices.Contains(m.Options, "rbind") || slices.Contains(m.Options, "ro") {
			continue
		}
		src, err := filepath.EvalSymlinks(m.Source)
		if err != nil || !filepath.IsAbs(src) {
			continue
		}
		if dirs == nil { // those that exist, looked up once, at the first writable bind
			dirs = []string{}
			for _, d := range cr.runtimeDirs() {
				if _, err := os.Lstat(d); err == nil {
					dirs = append(dirs, d)
				}
			}
		}
		for _, d := range dirs {
			rel, err := filepath.Rel(src, d)
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				continue
			}
			inside := filepath.Join(m.Destination, rel)
			if slices.Contains(hide, inside) || !writableBy(plan.Landlock.Paths, filepath.Join(st.Rootfs, inside)) {
				continue
			}
			hide = append(hide, inside)
		}
	}
	if len(hide) == 0 {
		return plan, nil
	}
	cr.log.Debugf("create %s: the runtime's directories denied in its bind mounts: %v", cr.cont.ID(), hide)
	pol := cr.policy.Clone()
	pol.FSDenied = append(pol.FSDenied, hide...)
	return confine.PlanFor(pol, base, st.Rootfs)
}

// runtimeDirs are the runtime's directories kept from a sandbox (plan, hideInBinds): the state
// root, the default root and the sandboxes' default state roots.
func (cr *creation) runtimeDirs() []string {
	return append([]string{filepath.Dir(cr.cont.dir), DefaultRoot()}, SandboxStateRoots()...)
}

// writableBy: a rule grants writing dir or a directory above it.
func writableBy(rules []confine.PathRule, dir string) bool {
	for _, r := range rules {
		if r.Write && (r.Path == "/" || dir == r.Path || strings.HasPrefix(dir, strings.TrimSuffix(r.Path, "/")+"/")) {
			return true
		}
	}
	return false
}

// SandboxStateRoots are where the direct mode keeps its sandboxes' state by default, the one in
// use first (package sandbox's DefaultStateRoot): /run/sandlock-sandbox for root;
// $XDG_RUNTIME_DIR/sandlock-sandbox, else $TMPDIR/sandlock-sandbox-UID, for a user, who may
// have run sandboxes with either.
func SandboxStateRoots() []string {
	if os.Geteuid() == 0 {
		return []string{"/run/sandlock-sandbox"}
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return []string{filepath.Join(d, "sandlock-sandbox"), tmpStateRoot()}
	}
	return []string{tmpStateRoot()}
}

// tmpStateRoot is a user's fallback state root, under $TMPDIR ("" for root, who has none).
func tmpStateRoot() string {
	if os.Geteuid() == 0 {
		return ""
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("sandlock-sandbox-%d", os.Geteuid()))
}
