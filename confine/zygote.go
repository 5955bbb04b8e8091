package confine

/*
#include "sl_exec.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Zygote message types on the zs socket; the wire format is described in sl_zygote.c.
const (
	ZygoteSpawn   uint8 = 1 // S->Z: u32 reqid, packed image; 3 stdio fds
	ZygoteSpawned uint8 = 2 // Z->S: u32 reqid, i32 pid, i32 errno, error text; pidfd if pid > 0
	ZygoteExited  uint8 = 3 // Z->S: i32 pid, i32 wait status
	ZygoteDrain   uint8 = 4 // S->Z: exit once no children are left
)

// MaxSpawnMsg is the largest SPAWN datagram the zygote accepts.
const MaxSpawnMsg = C.SL_SPAWN_MAX

// ForkZygote forks the calling thread into the zygote (C fork from a cgo call: the child runs
// only the C loop in sl_zygote.c and never returns to Go). ctl is a SOCK_SEQPACKET socket to
// the supervisor, killFD an O_WRONLY fd on the container cgroup's cgroup.kill (or -1), nullFD
// an O_RDWR fd on /dev/null. The child keeps only ctl, killFD and /dev/null on 0-2. Returns the
// child's pid. The caller locks its OS thread: the zygote inherits that thread's Landlock
// domain, seccomp filters and credentials.
func ForkZygote(ctl, killFD, nullFD int) (int, error) {
	if ctl < 3 || killFD < KillInit || (killFD >= 0 && killFD < 3) || killFD == ctl ||
		nullFD < 0 || nullFD == ctl || nullFD == killFD {
		return 0, fmt.Errorf("fork zygote: bad fds ctl=%d kill=%d null=%d: %w", ctl, killFD, nullFD, unix.EINVAL)
	}
	drop, droplen := goHeapArena()
	pid := C.sl_zygote_fork(C.int(ctl), C.int(killFD), C.int(nullFD), C.uintptr_t(drop), C.size_t(droplen))
	if pid < 0 {
		return 0, fmt.Errorf("fork zygote: %w", unix.Errno(-pid))
	}
	return int(pid), nil
}

// heapProbe is set to an object allocated at run time (so on the heap, never in static data):
// the mapping that holds it is the heap arena.
var heapProbe *[64]byte

// goHeapArena is the anonymous mapping that holds the Go heap (goroutine stacks included),
// (0, 0) when it cannot be told apart. The zygote never touches Go memory: its C loop runs on
// the thread's own stack with static buffers, so it drops its copy of the heap (about 1 MiB
// of an idle container's memory otherwise).
func goHeapArena() (uintptr, uintptr) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, 0
	}
	heapProbe = new([64]byte)
	p := uintptr(unsafe.Pointer(heapProbe))
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		// An anonymous private rw mapping only: "start-end rw-p 00000000 00:00 0".
		if len(f) != 5 || f[1] != "rw-p" || f[4] != "0" {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || p < uintptr(start) || p >= uintptr(end) {
			continue
		}
		if end-start > 1<<30 {
			return 0, 0 // not a heap this small a process would have: leave it alone
		}
		return uintptr(start), uintptr(end - start)
	}
	return 0, 0
}

// KillInit, passed as ForkZygote's killFD, makes the zygote SIGKILL its parent (the
// container's init) when the supervisor hangs up: the fallback for containers without a
// cgroup, weaker in that init's descendants are not reached.
const KillInit = C.SL_Z_KILL_INIT

// EncodeSpawn builds a SPAWN datagram (the 3 stdio fds travel separately, see SendSpawn).
func EncodeSpawn(reqid uint32, packed []byte) []byte {
	b := make([]byte, 5, 5+len(packed))
	b[0] = ZygoteSpawn
	binary.LittleEndian.PutUint32(b[1:], reqid)
	return append(b, packed...)
}

// EncodeDrain builds a DRAIN datagram.
func EncodeDrain() []byte { return []byte{ZygoteDrain} }

// SendSpawn sends a SPAWN request on the zs socket fd with stdio as the new process's 0, 1, 2.
func SendSpawn(fd int, reqid uint32, packed []byte, stdio [3]int) error {
	msg := EncodeSpawn(reqid, packed)
	if len(msg) > MaxSpawnMsg {
		return fmt.Errorf("spawn request: %d bytes, limit %d: %w", len(msg), MaxSpawnMsg, unix.EMSGSIZE)
	}
	if err := unix.Sendmsg(fd, msg, unix.UnixRights(stdio[:]...), nil, unix.MSG_NOSIGNAL); err != nil {
		return fmt.Errorf("send spawn request: %w", err)
	}
	return nil
}

// ZygoteMsg is one message from the zygote: SPAWNED (ReqID, Pid, Errno, Err, PidFD) or EXITED
// (Pid, Status). PidFD is -1 unless a SPAWNED message reports a running process; the receiver
// owns it (it is close-on-exec).
type ZygoteMsg struct {
	Type   uint8
	ReqID  uint32
	Pid    int
	Errno  int
	Err    string
	Status unix.WaitStatus
	PidFD  int
}

// SpawnErr returns the failure a SPAWNED message reports, or nil.
func (m ZygoteMsg) SpawnErr() error {
	if m.Type != ZygoteSpawned || m.Errno == 0 {
		return nil
	}
	return &ExecError{Msg: m.Err, Errno: unix.Errno(m.Errno)}
}

const (
	zygoteRecvBuf = 4096 // SPAWNED carries at most 13 + 512 bytes
	zygoteOOBBuf  = 64   // room for a few fds, so surplus ones arrive and get closed
)

// ReadZygoteMsg receives one message from the zygote on the zs socket fd (blocking).
// io.EOF means the zygote closed its end.
func ReadZygoteMsg(fd int) (ZygoteMsg, error) {
	b := make([]byte, zygoteRecvBuf)
	oob := make([]byte, unix.CmsgSpace(zygoteOOBBuf))
	n, oobn, flags, _, err := unix.Recvmsg(fd, b, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return ZygoteMsg{PidFD: -1}, fmt.Errorf("read zygote message: %w", err)
	}
	return parseZygoteMsg(b[:n], oob[:oobn], flags)
}

// ReadZygoteMsgConn is ReadZygoteMsg for a zs socket wrapped in a *net.UnixConn.
func ReadZygoteMsgConn(conn *net.UnixConn) (ZygoteMsg, error) {
	b := make([]byte, zygoteRecvBuf)
	oob := make([]byte, unix.CmsgSpace(zygoteOOBBuf))
	n, oobn, flags, _, err := conn.ReadMsgUnix(b, oob)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return ZygoteMsg{PidFD: -1}, io.EOF
		}
		return ZygoteMsg{PidFD: -1}, fmt.Errorf("read zygote message: %w", err)
	}
	return parseZygoteMsg(b[:n], oob[:oobn], flags)
}

// parseZygoteMsg decodes one datagram. Received fds are either returned in PidFD or closed.
func parseZygoteMsg(b, oob []byte, flags int) (ZygoteMsg, error) {
	m := ZygoteMsg{PidFD: -1}
	fds, err := rights(oob)
	if err == nil {
		err = m.decode(b, flags, len(fds))
	}
	if err != nil {
		closeFDs(fds)
		return ZygoteMsg{PidFD: -1}, fmt.Errorf("read zygote message: %w", err)
	}
	if len(fds) == 1 {
		m.PidFD = fds[0]
	}
	return m, nil
}

func (m *ZygoteMsg) decode(b []byte, flags, nfds int) error {
	le := binary.LittleEndian
	switch {
	case len(b) == 0:
		return io.EOF
	case flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0:
		return errors.New("message truncated")
	case b[0] == ZygoteSpawned && len(b) >= 13:
		m.Type, m.ReqID = b[0], le.Uint32(b[1:])
		m.Pid, m.Errno = int(int32(le.Uint32(b[5:]))), int(int32(le.Uint32(b[9:])))
		m.Err = string(b[13:])
		if want := boolInt(m.Pid > 0); nfds != want {
			return fmt.Errorf("spawned pid %d with %d fds, want %d", m.Pid, nfds, want)
		}
	case b[0] == ZygoteExited && len(b) == 9:
		m.Type, m.Pid = b[0], int(int32(le.Uint32(b[1:])))
		m.Status = unix.WaitStatus(le.Uint32(b[5:]))
		if nfds != 0 {
			return fmt.Errorf("exited message with %d fds", nfds)
		}
	default:
		return fmt.Errorf("bad message: type %d, %d bytes", b[0], len(b))
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rights extracts every SCM_RIGHTS fd from a control buffer.
func rights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		if got, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
