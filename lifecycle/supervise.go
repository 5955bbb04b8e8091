package lifecycle

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/notifsup"
)

// SuperviseArgs are the supervisor's flags: the fds create hands over and what they mean.
type SuperviseArgs struct {
	StateDir string
	InitPid  int
	Cgroup   string
	// CgroupMount is where the cgroup2 hierarchy of Cgroup is mounted, as create found it; ""
	// to look it up (a mountinfo read).
	CgroupMount string
	Hostname    string
	HandOff     int // create's channel: the listener and xs come over it (handoff.go)
	XS, ZS      int // init, zygote channels
	Ctl         int // listening control socket
	InitPidfd   int
	Ready       int
	// KillOnInitExit ends every process of the container when init exits, as the kernel
	// does when the init of a PID namespace dies: the stand-in for a requested pid namespace.
	KillOnInitExit bool
}

// supervisor is S in docs/design.md: outside every confinement, it holds the container's
// seccomp listener and is the only way into the container's Landlock domain (through Z).
type supervisor struct {
	a       SuperviseArgs
	cgMount string

	mu           sync.Mutex
	started      bool
	initDead     bool
	zygoteOK     bool
	nextReq      uint32
	pending      map[uint32]pendingSpawn // spawn requests by id
	exits        map[int]chan int        // exit statuses by pid
	zygoteOut    chan struct{}           // closed when Z is gone
	clients      sync.WaitGroup          // control connections still being served
	exitRecorded chan struct{}           // closed once init's exit status is recorded (or cannot be)
}

// pendingSpawn is an exec request waiting for the zygote's answer, then for the exit.
type pendingSpawn struct {
	reply  chan confine.ZygoteMsg
	exited chan int
}

// Supervise runs the supervisor until the container's last process is gone.
func Supervise(a SuperviseArgs) error {
	mnt := a.CgroupMount
	if mnt == "" {
		mnt = Cgroup2Mount()
	}
	s := &supervisor{
		a: a, cgMount: mnt, zygoteOK: true,
		pending: map[uint32]pendingSpawn{}, exits: map[int]chan int{},
		zygoteOut: make(chan struct{}),
	}
	listener, xs, started, err := recvHandoff(a.HandOff)
	if err != nil {
		// Nobody can answer the container's trapped calls: it must not run on. A create that
		// gave up (its hang-up) reports why itself and undoes the container: nothing to log.
		var se *StepError
		if errors.As(err, &se) {
			s.killQuietly()
		} else {
			s.killContainer(err.Error())
		}
		return err
	}
	unix.Close(a.HandOff)
	s.a.XS, s.started = xs, started
	ready := os.NewFile(uintptr(a.Ready), "ready")
	_, _ = ready.Write([]byte{1})
	ready.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := loadSupervisorConfig(a.StateDir)
	if err != nil {
		// Without its configuration the supervisor cannot answer what the filter traps: the
		// container must not run with those syscalls unanswered (or answered wrongly).
		s.killContainer(err.Error())
		return err
	}
	cfg.Hostname = s.hostname()
	cfg.Proc.InitPid = a.InitPid
	if rel, ok := strings.CutPrefix(a.Cgroup, s.cgMount); ok && s.cgMount != "" && strings.HasPrefix(rel, "/") && rel != "/" {
		cfg.Proc.Cgroup = rel // the container's processes are its cgroup's
	}
	cfg.dir = a.StateDir
	audit := openAudit(a.StateDir)
	defer audit.close()
	go func() {
		if err := notifsup.Serve(ctx, listener, cfg.features(), notifsup.WithAudit(audit.record)); err != nil {
			logrus.Warnf("supervisor %s: notifications: %v", a.StateDir, err)
		}
	}()
	go s.zygoteLoop()
	go s.acceptLoop()
	s.waitInit()
	s.waitEmpty()
	// Every exec client gets its status before the supervisor goes: Z's hang-up settles the
	// statuses it could not report, then the spawn handlers finish sending them.
	<-s.zygoteOut
	s.clients.Wait()
	<-s.exitRecorded // delete reads it once the supervisor is gone
	return nil
}

func (s *supervisor) hostname() string {
	if s.a.Hostname != "" {
		return s.a.Hostname
	}
	h, _ := os.Hostname()
	return h
}

// waitInit blocks until init exits, then lets the zygote drain: no new exec once init is gone.
func (s *supervisor) waitInit() {
	fds := []unix.PollFd{{Fd: int32(s.a.InitPidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			break
		}
	}
	s.mu.Lock()
	s.initDead = true
	s.mu.Unlock()
	s.exitRecorded = make(chan struct{})
	go func() {
		recordInitExit(s.a.StateDir, s.a.InitPidfd)
		close(s.exitRecorded)
	}()
	if s.a.KillOnInitExit && s.a.Cgroup != "" {
		_ = cgroupWrite(s.a.Cgroup, "cgroup.kill", "1")
	}
	_ = unix.Send(s.a.ZS, confine.EncodeDrain(), 0)
}

// waitEmpty returns once no process of the container is left.
func (s *supervisor) waitEmpty() {
	if s.a.Cgroup == "" {
		<-s.zygoteOut
		return
	}
	for cgroupPopulated(s.a.Cgroup) {
		_ = waitCgroupEvent(s.a.Cgroup, "populated", "0", time.Hour)
	}
}

// killContainer is the last resort when part of the supervision is gone.
func (s *supervisor) killContainer(why string) {
	logrus.Errorf("container %s: %s: killing every process of the container", s.a.StateDir, why)
	s.killQuietly()
}

func (s *supervisor) killQuietly() {
	if s.a.Cgroup != "" {
		_ = cgroupWrite(s.a.Cgroup, "cgroup.kill", "1")
		return
	}
	_ = unix.PidfdSendSignal(s.a.InitPidfd, unix.SIGKILL, nil, 0)
}

// zygoteLoop routes the zygote's messages. Its hang-up while init is alive means the
// container lost its way to exec and its guard against an unsupervised life: kill it.
func (s *supervisor) zygoteLoop() {
	defer close(s.zygoteOut)
	for {
		m, err := confine.ReadZygoteMsg(s.a.ZS)
		if err != nil {
			s.mu.Lock()
			s.zygoteOK = false
			dead := s.initDead
			s.mu.Unlock()
			if !dead {
				s.killContainer("zygote exited")
			}
			s.failPending()
			return
		}
		s.route(m)
	}
}

func (s *supervisor) route(m confine.ZygoteMsg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m.Type {
	case confine.ZygoteSpawned:
		p, ok := s.pending[m.ReqID]
		if !ok {
			if m.PidFD >= 0 {
				unix.Close(m.PidFD)
			}
			return
		}
		delete(s.pending, m.ReqID)
		if m.Pid > 0 {
			// Registered here, under the lock, so an EXITED that follows at once finds it.
			s.exits[m.Pid] = p.exited
		}
		p.reply <- m
	case confine.ZygoteExited:
		if ch, ok := s.exits[m.Pid]; ok {
			delete(s.exits, m.Pid)
			ch <- int(m.Status)
		}
	}
}

func (s *supervisor) failPending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range s.pending {
		delete(s.pending, id)
		p.reply <- confine.ZygoteMsg{Type: confine.ZygoteSpawned, Err: "zygote exited", PidFD: -1}
	}
	for pid, ch := range s.exits {
		delete(s.exits, pid)
		ch <- int(unix.SIGKILL) // killed with the container; its real status is lost with Z
	}
}
