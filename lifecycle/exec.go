package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ExecOpts are the flags of exec.
type ExecOpts struct {
	ID            string
	ProcessFile   string   // --process: a specs.Process JSON file
	Args          []string // used when ProcessFile is empty
	Env           []string
	Cwd           string
	User          *specs.User // --user uid[:gid]
	Tty           bool
	Detach        bool
	PidFile       string
	ConsoleSocket string
	Caps          []string // --cap: added to the bounding, effective and permitted sets, as runc does
	NoNewPrivs    bool     // --no-new-privs
}

// Exec runs a new process in the container, in the same Landlock domain and under the same
// seccomp filters as init (it is forked by the zygote). In the foreground it returns the
// process's exit code; detached, it leaves an exec proxy whose pid goes to the pid-file and
// which exits exactly as the process does.
func Exec(o *Options, e ExecOpts) (int, error) {
	c, err := Load(o.Root, e.ID)
	if err != nil {
		return -1, err
	}
	if err := check("exec", e.ID, c.Status()); err != nil {
		return -1, err
	}
	p, err := c.execProcess(e)
	if err != nil {
		return -1, err
	}
	if p.Terminal && e.Detach && e.ConsoleSocket == "" {
		return -1, errors.New("cannot allocate tty if runc will detach without setting console socket")
	}
	if !p.Terminal && e.ConsoleSocket != "" { // runc's rule: nothing would ever reach the socket
		return -1, errors.New("cannot use console socket if runc will not detach or allocate tty (no --tty)")
	}
	// Checked here too so that a bad process fails before a console is handed out; the
	// supervisor builds the image that is applied (execImage).
	if _, err := imageFor(p); err != nil {
		return -1, err
	}
	return c.runExec(o, e, p)
}

// execProcess builds the process: from --process, or the container's own process with the
// arguments and flags of this call applied, as runc does.
func (c *Container) execProcess(e ExecOpts) (*specs.Process, error) {
	var p specs.Process
	if e.ProcessFile != "" {
		b, err := os.ReadFile(e.ProcessFile)
		if err != nil {
			return nil, fmt.Errorf("process file: %w", err)
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("process file %s: %w", e.ProcessFile, err)
		}
	} else {
		if c.State.ProcessConfig != nil {
			p = *c.State.ProcessConfig
		}
		p.Args = e.Args
		p.Terminal = e.Tty
		p.Env = append(append([]string{}, p.Env...), e.Env...)
		if e.Cwd != "" {
			p.Cwd = e.Cwd
		}
		if e.User != nil {
			p.User = *e.User
		}
	}
	if len(p.Args) == 0 {
		return nil, errors.New("exec: no command given (args or --process)")
	}
	p.NoNewPrivileges = p.NoNewPrivileges || e.NoNewPrivs
	addCaps(&p, e.Caps)
	return &p, nil
}

// addCaps adds exec --cap capabilities as runc does: to the bounding, effective and permitted
// sets (ambient ones would need them inheritable too, which --cap never made them). The
// supervisor refuses any outside the container's bounding set.
func addCaps(p *specs.Process, caps []string) {
	if len(caps) == 0 {
		return
	}
	c := &specs.LinuxCapabilities{}
	if p.Capabilities != nil {
		cp := *p.Capabilities
		c = &cp
	}
	c.Bounding = append(slices.Clone(c.Bounding), caps...)
	c.Effective = append(slices.Clone(c.Effective), caps...)
	c.Permitted = append(slices.Clone(c.Permitted), caps...)
	p.Capabilities = c
}

func (c *Container) runExec(o *Options, e ExecOpts, p *specs.Process) (int, error) {
	stdio := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	var master, slave *os.File
	if p.Terminal {
		var name string
		var err error
		var m *os.File
		m, slave, name, err = openConsole(c.State.Rootfs, c.State.ContainerPTS, p.ConsoleSize)
		if err != nil {
			return -1, fmt.Errorf("console: %w", err)
		}
		defer func() {
			if slave != nil {
				slave.Close()
			}
		}()
		defer m.Close()
		master, stdio = m, [3]*os.File{slave, slave, slave}
		if e.ConsoleSocket != "" {
			if err := sendConsole(e.ConsoleSocket, m, name); err != nil {
				return -1, fmt.Errorf("console socket: %w", err)
			}
			master = nil
		}
	}
	conn, pidfd, err := c.spawn(p, stdio)
	if err != nil {
		return -1, err
	}
	if slave != nil {
		// The process has its own copy now; ours would keep the pty from hanging up when it
		// exits, and the relay waits for that hang-up.
		slave.Close()
		slave = nil
	}
	if e.Detach {
		return 0, startExecProxy(conn, pidfd, e.PidFile)
	}
	defer unix.Close(conn)
	defer unix.Close(pidfd)
	if master != nil {
		stop := relayConsole(master)
		defer stop()
	}
	ws, err := awaitExit(conn, pidfd)
	if err != nil {
		return -1, err
	}
	return exitCode(ws), nil
}

// spawn asks the supervisor to have the zygote start the process with these stdio fds.
func (c *Container) spawn(p *specs.Process, stdio [3]*os.File) (conn, pidfd int, err error) {
	conn, err = dialCtl(c.dir)
	if err != nil {
		return -1, -1, err
	}
	r, fds, err := request(conn, ctlMsg{Op: "spawn", Process: p},
		int(stdio[0].Fd()), int(stdio[1].Fd()), int(stdio[2].Fd()))
	if err != nil {
		unix.Close(conn)
		return -1, -1, err
	}
	if len(fds) != 1 || r.Pid <= 0 {
		closeAll(fds)
		unix.Close(conn)
		return -1, -1, errors.New("exec: supervisor sent no pidfd")
	}
	return conn, fds[0], nil
}

// startExecProxy forks the proxy (P) that the caller reaps. It inherits the connection on
// which the supervisor will report the exit status and the process's pidfd for forwarding
// signals; its stdio is /dev/null so no copy of the container's stdio stays open.
func startExecProxy(conn, pidfd int, pidFile string) error {
	// Each fd is wrapped once and closed through its wrapper: a second owner of the same
	// number (unix.Close here, the wrapper's finalizer later) could close whatever reused it.
	c, p := os.NewFile(uintptr(conn), "conn"), os.NewFile(uintptr(pidfd), "pidfd")
	defer c.Close()
	defer p.Close()
	exe, err := self()
	if err != nil {
		return err
	}
	cmd := &exec.Cmd{Path: exe, Env: runtimeEnv}
	cmd.Args = append([]string{"sandlock-runtime", "exec-proxy"}, fdArgs(cmd, "fd-conn", c, "fd-pidfd", p)...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start exec proxy: %w", err)
	}
	if pidFile == "" {
		return nil
	}
	return writeFileAtomic(absPath(pidFile), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
}

// ExecProxy is P: it forwards signals to the exec'd process and ends as it ended.
func ExecProxy(conn, pidfd int) {
	ws, err := awaitExit(conn, pidfd)
	if err != nil {
		os.Exit(255)
	}
	mirrorExit(ws)
}

// awaitExit forwards catchable signals to the process and returns its wait status once the
// supervisor reports it.
func awaitExit(conn, pidfd int) (unix.WaitStatus, error) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			sig, ok := s.(syscall.Signal)
			if !ok || sig == unix.SIGCHLD || sig == unix.SIGURG || sig == unix.SIGWINCH {
				continue
			}
			_ = unix.PidfdSendSignal(pidfd, sig, nil, 0)
		}
	}()
	m, _, err := recvMsg(conn)
	if err != nil {
		return 0, fmt.Errorf("exec: lost the supervisor before the process exited: %w", err)
	}
	if m.Op != "exited" {
		return 0, fmt.Errorf("exec: unexpected message %q", m.Op)
	}
	return unix.WaitStatus(m.Status), nil
}
