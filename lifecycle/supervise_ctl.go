package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
)

// acceptLoop serves the control socket. Peers inside the container are refused: the socket
// is the way into the container's domain with other credentials, so only the host may use it.
func (s *supervisor) acceptLoop() {
	for {
		fd, _, err := unix.Accept4(s.a.Ctl, unix.SOCK_CLOEXEC)
		if err != nil {
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			logrus.Warnf("supervisor: accept: %v", err)
			return
		}
		if err := s.checkPeer(fd); err != nil {
			_ = sendMsg(fd, ctlMsg{Error: err.Error()})
			unix.Close(fd)
			continue
		}
		s.clients.Add(1)
		go func() {
			defer s.clients.Done()
			s.serve(fd)
		}()
	}
}

// checkPeer fails closed: a peer is served only when it is proven to be outside the
// container. The peer is pinned by a pidfd taken from the socket (SO_PEERPIDFD, the process that
// connected, whatever happened to its pid since), its membership is read from /proc, and the
// pidfd must still be alive afterwards: then the pid read was that process's own, not a reused
// one. A peer that exited, or whose /proc entry cannot be read, is refused.
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
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		return errInside // gone: what was read may have been another process's
	}
	return nil
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

// start tells init to exec the user's program and reports whether execve succeeded: init's
// end of xs is close-on-exec, so EOF means the program is running.
func (s *supervisor) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("cannot start an already running container")
	}
	if s.initDead {
		return errors.New("cannot start a container that has stopped")
	}
	if err := unix.Send(s.a.XS, []byte("go"), 0); err != nil {
		return fmt.Errorf("signal init: %w", err)
	}
	s.started = true
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(s.a.XS, buf, 0)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if n > 0 {
		return decodeStepErr(StepExec, buf[:n])
	}
	return nil
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
	reply, exited, err := s.askZygote(m.Image, [3]int{stdio[0], stdio[1], stdio[2]})
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
