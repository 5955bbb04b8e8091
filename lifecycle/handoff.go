package lifecycle

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The listener's way to the supervisor (docs/design.md, "The start path"). Init names the fd
// number of its seccomp listener on xs and waits; create, init's parent and outside every
// confinement, takes the listener (pidfd_getfd), hands it to the supervisor over the handoff
// socket (queued there until the supervisor reads it) and tells init "taken". The supervisor's
// own start (a Go runtime, its package inits, its configuration) is then off create's path. A
// detached create sends xs along (the supervisor starts init when `start` asks) and waits for
// the supervisor's readiness as before; run and the direct mode (launch) keep xs, do not wait,
// and start init themselves as the supervisor's start would. The program may then run before
// the supervisor answers: its trapped calls wait in the kernel's queue until the supervisor
// reads the listener. The container never holds its listener: create and the supervisor are
// outside it.

// handoffStarted and handoffCreated say, with the handoff, whether launch starts init (the
// supervisor then never does, and refuses a start) or the supervisor does when asked.
const (
	handoffStarted = "started"
	handoffCreated = "created"
)

// takeListener answers init's handover on xs and hands the listener on at once: init may make
// trapped calls before it reports to create (a Go init's runtime does), which only the
// supervisor answers. Init failing before the handover (its error is on initpipe) shows here
// as a hang-up (errNoListener). Failing after that, it hangs up xs: init, waiting for
// "taken", then fails instead of waiting forever with create waiting on initpipe.
func (cr *creation) takeListener(ch *channels) (err error) {
	xs, pidfd := int(ch.xsS.Fd()), int(ch.pidfd.Fd())
	buf := make([]byte, 64)
	n, err := unix.Read(xs, buf)
	if err != nil {
		return fmt.Errorf("%w: %w", errNoListener, err)
	}
	num, ok := strings.CutPrefix(string(buf[:max(n, 0)]), listenerMsg)
	fd, aerr := strconv.Atoi(num)
	if !ok || aerr != nil {
		return errNoListener
	}
	defer func() {
		if err != nil {
			_ = unix.Shutdown(xs, unix.SHUT_RDWR)
		}
	}()
	listener, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return fmt.Errorf("take the seccomp listener from init: %w", err)
	}
	defer unix.Close(listener)
	if err := cr.handOff(listener, ch); err != nil {
		return err
	}
	if _, err := unix.Write(xs, []byte(listenerTaken)); err != nil {
		return fmt.Errorf("tell init its seccomp listener was taken: %w", err)
	}
	return nil
}

// errNoListener: init named no listener (it failed before the hand-over, and says why on
// initpipe).
var errNoListener = errors.New("init sent no seccomp listener")

// handOff gives the supervisor the listener, and xs unless launch starts init itself (then
// the creation keeps xs for startHere).
func (cr *creation) handOff(listener int, ch *channels) error {
	msg, fds := handoffCreated, []int{listener, int(ch.xsS.Fd())}
	if cr.fgStart {
		msg, fds = handoffStarted, fds[:1]
	}
	if err := unix.Sendmsg(int(ch.hoC.Fd()), []byte(msg), unix.UnixRights(fds...), nil, 0); err != nil {
		return fmt.Errorf("hand the seccomp listener to the supervisor: %w", err)
	}
	if cr.fgStart {
		cr.xs, ch.xsS = ch.xsS, nil
		cr.onFail(cr.dropXS)
	}
	return nil
}

// dropXS closes the creation's xs: init, waiting for its start, then exits.
func (cr *creation) dropXS() {
	closeFiles(cr.xs)
	cr.xs = nil
}

// startHere is start for launch: create holds xs, so it tells init to go itself (init runs
// the startContainer hooks and execs; EOF on xs, close-on-exec in init, means the program
// runs), as the supervisor's start would have.
func (cr *creation) startHere() error {
	defer cr.dropXS()
	if err := goInit(int(cr.xs.Fd())); err != nil {
		return err
	}
	return cr.cont.markStarted()
}

// recvHandoff is the supervisor's side of handOff: the listener, xs (-1 when launch starts
// init), and whether launch starts init.
func recvHandoff(fd int) (listener, xs int, started bool, err error) {
	buf := make([]byte, 32)
	oob := make([]byte, unix.CmsgSpace(2*4))
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, -1, false, fmt.Errorf("receive the seccomp listener: %w", err)
	}
	if n == 0 && oobn == 0 { // create's hang-up: it failed, and says so to its caller
		return -1, -1, false, &StepError{Step: StepNotif, Msg: "create ended before it handed over the seccomp listener"}
	}
	fds := parseRights(oob[:oobn])
	msg := string(buf[:n])
	switch {
	case msg == handoffCreated && len(fds) == 2:
		return fds[0], fds[1], false, nil
	case msg == handoffStarted && len(fds) == 1:
		return fds[0], -1, true, nil
	}
	closeAll(fds)
	return -1, -1, false, errors.New("the runtime handed over no seccomp listener (it exited during create)")
}
