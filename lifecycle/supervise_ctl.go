package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
)

// acceptLoop serves the control socket. Peers inside the container, or more confined than the
// supervisor, are refused: the socket is the way into the container's domain with other
// credentials, so only the host's runtime CLI may use it. Each connection is checked and served
// on its own goroutine, so a slow peer never holds up the next one (execs come in bursts).
func (s *supervisor) acceptLoop() {
	for {
		fd, _, err := unix.Accept4(s.a.Ctl, unix.SOCK_CLOEXEC)
		switch err {
		case nil:
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Out of something for a moment: the connection waits in the backlog.
			logrus.Warnf("supervisor: accept: %v", err)
			time.Sleep(50 * time.Millisecond)
			continue
		default:
			logrus.Warnf("supervisor: accept: %v", err)
			return
		}
		s.clients.Add(1)
		go func() {
			defer s.clients.Done()
			if err := s.checkPeer(fd); err != nil {
				refuse(fd, err)
				return
			}
			s.serve(fd)
		}()
	}
}

// checkPeer fails closed: a peer is served only when it is proven to be outside the
// container and no more confined than the supervisor. The peer is pinned by a pidfd taken from
// the socket (SO_PEERPIDFD, the process that connected, whatever happened to its pid since),
// its membership and confinement are read from /proc, and the pidfd must still be alive
// afterwards: then the pid read was that process's own, not a reused one. A peer that exited,
// or whose /proc entry cannot be read, is refused.
func (s *supervisor) checkPeer(fd int) error {
	errInside := errors.New("the supervisor does not serve processes of its own container")
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return err
	}
	pidfd, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, soPeerPidfd)
	if err != nil {
		return fmt.Errorf("identify the peer: %w", err)
	}
	defer unix.Close(pidfd)
	inside, err := s.isContainerProcess(int(cred.Pid))
	if err != nil || inside {
		return errInside
	}
	if sup, err := isSupervisor(int(cred.Pid)); err != nil || sup {
		return errOnBehalf
	}
	confErr := checkConfinement(strconv.Itoa(int(cred.Pid)))
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		return errInside // gone: what was read may have been another process's
	}
	return confErr
}

var errOnBehalf = errors.New("the supervisor does not serve processes of its own container, nor a supervisor connecting on behalf of a confined process")

// isSupervisor tells whether pid is a sandlock supervisor (this one included). A supervisor
// connects to a unix socket by path on behalf of the process it supervises (notifsup's
// connect mediation, where the process has the host's file system): the peer is then the
// unconfined supervisor, not the confined process, so the confinement check would pass. No
// supervisor ever asks for an exec for itself, so every one is refused. It is recognised by
// its command line as startSupervisor writes it ("sandlock-runtime [global flags] supervise
// ..."), which the supervisor never changes; a host process that imitates it only gets
// itself refused.
func isSupervisor(pid int) (bool, error) {
	if pid == os.Getpid() {
		return true, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false, err
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	return len(args) > 1 && args[0] == "sandlock-runtime" && commandWord(args[1:]) == "supervise", nil
}

// commandWord is the subcommand in the runtime's arguments: the first one that is neither a
// global flag nor the value of one.
func commandWord(args []string) string {
	withValue := map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a
		}
		if withValue[a] {
			i++
		}
	}
	return ""
}

// confinement is what /proc/PID/status tells of a process's confinement. Landlock domains are
// not shown there (nor anywhere else a process can read), so a peer confined by Landlock
// alone is not recognised; every sandlock confinement also loads seccomp filters.
type confinement struct {
	filters int  // Seccomp_filters: stacked seccomp programs
	nnp     bool // NoNewPrivs
}

// checkConfinement refuses a peer more confined than the supervisor itself: more seccomp
// filters, or no_new_privs where the supervisor has none. exec is asked for by the runtime's
// CLI as containerd, conmon or an operator runs it, never from inside a sandbox; comparing
// with the supervisor's own state (not with zero) keeps the runtime usable when it runs
// nested in a container that has filters of its own (docker's default profile): the CLI
// there has the same ones.
func checkConfinement(pid string) error {
	own, err := readConfinement("self")
	if err != nil {
		return fmt.Errorf("the supervisor cannot read its own confinement: %w", err)
	}
	peer, err := readConfinement(pid)
	if err != nil {
		return fmt.Errorf("the supervisor cannot read the confinement of its peer: %w", err)
	}
	return moreConfined(peer, own, pid)
}

// moreConfined refuses a peer with more seccomp filters than the supervisor, or with
// no_new_privs where the supervisor has none.
func moreConfined(peer, own confinement, pid string) error {
	if peer.filters > own.filters || (peer.nnp && !own.nnp) {
		return fmt.Errorf("the supervisor does not serve confined processes: the peer (pid %s) has %d seccomp filters and no_new_privs %v, the supervisor %d and %v",
			pid, peer.filters, peer.nnp, own.filters, own.nnp)
	}
	return nil
}

func readConfinement(pid string) (confinement, error) {
	var c confinement
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return c, err
	}
	seen := 0
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		v = strings.TrimSpace(v)
		switch {
		case !ok:
		case k == "Seccomp_filters":
			c.filters, err = strconv.Atoi(v)
			seen++
		case k == "NoNewPrivs":
			c.nnp = v == "1"
			seen++
		}
		if err != nil {
			return c, fmt.Errorf("/proc/%s/status: %s: %w", pid, k, err)
		}
	}
	if seen != 2 {
		return c, fmt.Errorf("/proc/%s/status: no Seccomp_filters or NoNewPrivs line (Linux >= 5.9 shows both)", pid)
	}
	return c, nil
}

// refuse answers a peer that will not be served and closes the connection so that the answer
// stays readable. A SEQPACKET socket closed with unread messages resets its peer, and a reset
// peer's recv returns ECONNRESET instead of what was queued for it: so shut down first (the
// peer's sends fail with EPIPE from then on), drop whatever it sent before, then close.
func refuse(fd int, why error) {
	_ = sendMsg(fd, ctlMsg{Error: why.Error()})
	_ = unix.Shutdown(fd, unix.SHUT_RDWR)
	buf, oob := make([]byte, 256*1024), make([]byte, unix.CmsgSpace(4*8))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if err != nil || n == 0 && oobn == 0 {
			break
		}
		closeAll(parseRights(oob[:oobn]))
	}
	unix.Close(fd)
}

// SO_PEERPIDFD (Linux 6.5): a pidfd of the process that connected.
const soPeerPidfd = 77

// isContainerProcess: by cgroup membership, or without a cgroup by ancestry (init or the
// zygote above it; weaker, see docs/design.md).
func (s *supervisor) isContainerProcess(pid int) (bool, error) {
	if s.a.Cgroup != "" {
		return pidInCgroup(pid, s.cgMount, s.a.Cgroup)
	}
	for p, n := pid, 0; p > 1 && n < 4096; n++ {
		if p == s.a.InitPid {
			return true, nil
		}
		_, ppid, err := procParent(p)
		if err != nil {
			return false, err
		}
		p = ppid
	}
	return false, nil
}

func procParent(pid int) (string, int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 2 {
		return "", 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	ppid, err := strconv.Atoi(f[1])
	return f[0], ppid, err
}

func (s *supervisor) serve(fd int) {
	// A client that connects and says nothing must not keep the supervisor alive forever.
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 10})
	m, fds, err := recvMsg(fd)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{})
	if err != nil {
		unix.Close(fd)
		return
	}
	switch m.Op {
	case "start":
		err = s.start()
		reply := ctlMsg{}
		if err != nil {
			reply.Error = err.Error()
			_ = errors.As(err, &reply.Err)
		}
		_ = sendMsg(fd, reply)
		unix.Close(fd)
	case "spawn":
		s.spawn(fd, m, fds) // owns fd from here
	default:
		closeAll(fds)
		_ = sendMsg(fd, ctlMsg{Error: fmt.Sprintf("unknown operation %q", m.Op)})
		unix.Close(fd)
	}
}

// start tells init to run the startContainer hooks and exec the user's program, and reports
// how that went: init's end of xs is close-on-exec, so EOF means the program is running, while
// every failure on the way (a hook, a drop step, execve) arrives as text first. The lock is
// not held meanwhile: hooks may take long, and execs must not wait for them.
func (s *supervisor) start() error {
	s.mu.Lock()
	switch {
	case s.started:
		s.mu.Unlock()
		return errors.New("cannot start an already running container")
	case s.initDead:
		s.mu.Unlock()
		return errors.New("cannot start a container that has stopped")
	}
	s.started = true // from here a second start is refused
	s.mu.Unlock()
	if err := goInit(s.a.XS); err != nil {
		return s.failedStart(err)
	}
	return nil
}

// goInit tells init, waiting on xs, to run the startContainer hooks and exec the program, and
// returns how that went: init's end of xs is close-on-exec, so EOF means the program runs,
// while a failure on the way (a hook, a drop step, execve) arrives as text first.
func goInit(xs int) error {
	if err := unix.Send(xs, []byte("go"), 0); err != nil {
		return fmt.Errorf("signal init: %w", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(xs, buf, 0)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if n > 0 {
		return decodeStepErr(StepExec, buf[:n])
	}
	return nil
}

// failedStart settles a start that failed: init exits after reporting, and the error goes
// back only once it is gone, so that the caller's next `state` already says stopped. An init
// that does not exit within a few seconds (it reported nothing and hangs) is killed.
func (s *supervisor) failedStart(err error) error {
	if !s.awaitInitExit(5000) {
		_ = unix.PidfdSendSignal(s.a.InitPidfd, unix.SIGKILL, nil, 0)
		s.awaitInitExit(5000)
	}
	return err
}

// awaitInitExit waits up to ms milliseconds for init to exit (its pidfd turns readable).
func (s *supervisor) awaitInitExit(ms int) bool {
	fds := []unix.PollFd{{Fd: int32(s.a.InitPidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, ms)
		if err != unix.EINTR {
			return err == nil && n > 0
		}
	}
}

// spawn runs an exec request through the zygote and then waits for the process to exit,
// answering the client with its status. A client that hangs up first gets its process killed.
func (s *supervisor) spawn(fd int, m ctlMsg, stdio []int) {
	defer unix.Close(fd)
	defer closeAll(stdio)
	if len(stdio) != 3 {
		_ = sendMsg(fd, ctlMsg{Error: "spawn needs exactly 3 stdio fds"})
		return
	}
	image, err := execImage(s.a.StateDir, m.Process)
	if err != nil {
		_ = sendMsg(fd, ctlMsg{Error: err.Error()})
		return
	}
	reply, exited, err := s.askZygote(image, [3]int{stdio[0], stdio[1], stdio[2]})
	if err != nil {
		_ = sendMsg(fd, ctlMsg{Error: err.Error()})
		return
	}
	pidfd := reply.PidFD
	defer unix.Close(pidfd)
	if err := sendMsg(fd, ctlMsg{Pid: reply.Pid}, pidfd); err != nil {
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		return
	}
	hangup := make(chan struct{})
	go func() {
		b := make([]byte, 1)
		_, _, _ = unix.Recvfrom(fd, b, 0) // returns on hang-up (or any stray message)
		close(hangup)
	}()
	select {
	case st := <-exited:
		_ = sendMsg(fd, ctlMsg{Op: "exited", Status: st})
	case <-hangup:
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	}
	// fd is closed only once the reader is done with it. A process that exits at once can
	// report before the reader even started; closed then, its fd number would go to the next
	// connection and the late reader would swallow that client's request. Shutting down our
	// read side ends the reader's receive (now or when it starts) and leaves the "exited"
	// message readable by the client.
	_ = unix.Shutdown(fd, unix.SHUT_RD)
	<-hangup
}

func (s *supervisor) askZygote(image []byte, stdio [3]int) (confine.ZygoteMsg, chan int, error) {
	s.mu.Lock()
	if s.initDead || !s.zygoteOK {
		s.mu.Unlock()
		return confine.ZygoteMsg{}, nil, errors.New("cannot exec in a stopped container")
	}
	s.nextReq++
	id := s.nextReq
	p := pendingSpawn{reply: make(chan confine.ZygoteMsg, 1), exited: make(chan int, 1)}
	s.pending[id] = p
	err := confine.SendSpawn(s.a.ZS, id, image, stdio)
	if err != nil {
		delete(s.pending, id)
	}
	s.mu.Unlock()
	if err != nil {
		return confine.ZygoteMsg{}, nil, fmt.Errorf("send to zygote: %w", err)
	}
	r := <-p.reply
	if r.Pid <= 0 {
		return r, nil, fmt.Errorf("exec failed: %s", zygoteErr(r))
	}
	return r, p.exited, nil
}

func zygoteErr(r confine.ZygoteMsg) string {
	if r.Err != "" {
		return r.Err
	}
	return unix.Errno(r.Errno).Error()
}
