package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The supervisor's control socket (<state>/sup.sock) speaks SOCK_SEQPACKET: one JSON object per
// datagram, with file descriptors riding along as SCM_RIGHTS where a message needs them.
//
//	client                          supervisor
//	{"op":"start"}            --->
//	                          <---  {} or {"error":"..."}
//	{"op":"spawn","process":..} --> (+ 3 fds: stdin, stdout, stderr)
//	                          <---  {"pid":N} (+ pidfd) or {"error":"..."}
//	                          <---  {"op":"exited","status":S}   (raw wait status)
//
// A spawn client that hangs up before its process exits gets that process killed: the exec'd
// process never outlives the proxy its caller reaps.
//
// A spawn carries an OCI process, not a process image: the supervisor builds the image itself,
// with the container's exec-time seccomp programs and policy rlimits from the state dir and
// capabilities checked against the container's bounding set (execImage), so nothing a client
// sends can lift the container's confinement.

type ctlMsg struct {
	Op      string         `json:"op,omitempty"`
	Process *specs.Process `json:"process,omitempty"` // spawn: what to run
	Pid     int            `json:"pid,omitempty"`
	Status  int            `json:"status,omitempty"`
	Error   string         `json:"error,omitempty"`
	// Err is Error with its structure, when the failure was a step of starting the container.
	Err *StepError `json:"err,omitempty"`
}

const ctlSock = "sup.sock"

// sockPath returns a short path for a socket in dir: unix socket paths are limited to 107 bytes
// but container IDs may be 1024, so the socket is named through an fd on its directory.
func sockPath(dirfd int) string {
	return "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + ctlSock
}

// ctlSocket makes a SEQPACKET socket and hands it, with the short name of <dir>/sup.sock, to
// op (bind or connect); the socket is closed if op fails.
func ctlSocket(dir string, op func(fd int, sa unix.Sockaddr) error) (int, error) {
	dirfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(dirfd)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := op(fd, &unix.SockaddrUnix{Name: sockPath(dirfd)}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func listenCtl(dir string) (int, error) {
	return ctlSocket(dir, func(fd int, sa unix.Sockaddr) error {
		if err := unix.Bind(fd, sa); err != nil {
			return fmt.Errorf("bind %s: %w", filepath.Join(dir, ctlSock), err)
		}
		// Only the owner (the runtime's CLI runs as the user that created the container)
		// may connect; the dir is 0700 already, this holds if it is ever opened up.
		if err := unix.Fchmodat(unix.AT_FDCWD, sa.(*unix.SockaddrUnix).Name, 0o600, 0); err != nil {
			return fmt.Errorf("chmod %s: %w", filepath.Join(dir, ctlSock), err)
		}
		// execs come in bursts (a shim's health checks, kubectl exec, podman exec loops);
		// connections wait here while earlier ones are checked
		return unix.Listen(fd, 128)
	})
}

func dialCtl(dir string) (int, error) {
	return ctlSocket(dir, func(fd int, sa unix.Sockaddr) error {
		if err := unix.Connect(fd, sa); err != nil {
			return fmt.Errorf("connect to supervisor: %w", err)
		}
		return nil
	})
}

func sendMsg(fd int, m ctlMsg, fds ...int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return unix.Sendmsg(fd, b, oob, nil, 0)
}

var errHangup = errors.New("peer hung up")

// recvMsg reads one message and any fds sent with it (CLOEXEC); flags are added to recvmsg's.
func recvMsg(fd int, flags ...int) (ctlMsg, []int, error) {
	var m ctlMsg
	buf := make([]byte, 256*1024)
	oob := make([]byte, unix.CmsgSpace(4*8))
	f := unix.MSG_CMSG_CLOEXEC
	for _, x := range flags {
		f |= x
	}
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, f)
	if err != nil {
		return m, nil, err
	}
	fds := parseRights(oob[:oobn])
	if n == 0 {
		closeAll(fds)
		return m, nil, errHangup
	}
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		closeAll(fds)
		return m, nil, fmt.Errorf("bad control message: %w", err)
	}
	return m, fds, nil
}

func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if r, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, r...)
		}
	}
	return fds
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// request sends one message and waits for the reply.
func request(fd int, m ctlMsg, fds ...int) (ctlMsg, []int, error) {
	if err := sendMsg(fd, m, fds...); err != nil {
		// A supervisor that refused us answered before it hung up: say why.
		if r, _, rerr := recvMsg(fd, unix.MSG_DONTWAIT); rerr == nil && r.Error != "" {
			return r, nil, errors.New(r.Error)
		}
		return ctlMsg{}, nil, fmt.Errorf("send %s to supervisor: %w", m.Op, err)
	}
	r, rfds, err := recvMsg(fd)
	if err != nil {
		return r, nil, fmt.Errorf("%s: no answer from supervisor: %w", m.Op, err)
	}
	if r.Err != nil {
		closeAll(rfds)
		return r, nil, r.Err
	}
	if r.Error != "" {
		closeAll(rfds)
		return r, nil, errors.New(r.Error)
	}
	return r, rfds, nil
}
