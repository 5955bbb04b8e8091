package criulite

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// unixSock is what sock_diag says about a unix socket.
type unixSock struct {
	typ    int
	state  int
	peer   uint64
	name   string
	rqueue uint32
}

// sock_diag constants for AF_UNIX (linux/unix_diag.h).
const (
	sockDiagByFamily = 20
	udiagShowName    = 0x01
	udiagShowPeer    = 0x04
	udiagShowRqlen   = 0x10
	unixDiagName     = 0
	unixDiagPeer     = 2
	unixDiagRqlen    = 4
)

// unixSockets lists every unix socket of the network namespace of pid's, by inode.
func unixSockets(pid int) (map[uint64]unixSock, error) {
	ns, err := os.Open(procPath(pid, "ns/net"))
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	var self unix.Stat_t
	var their unix.Stat_t
	if unix.Stat("/proc/self/ns/net", &self) != nil || unix.Fstat(int(ns.Fd()), &their) != nil || self.Ino != their.Ino {
		return nil, fmt.Errorf("process %d is in another network namespace: its unix sockets cannot be inspected", pid)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	// nlmsghdr + unix_diag_req{family, protocol, pad, states, ino, show, cookie[2]}
	req := make([]byte, 16+24)
	binary.LittleEndian.PutUint32(req[0:], uint32(len(req)))
	binary.LittleEndian.PutUint16(req[4:], sockDiagByFamily)
	binary.LittleEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	req[16] = unix.AF_UNIX
	binary.LittleEndian.PutUint32(req[20:], 0xffffffff) // every state
	binary.LittleEndian.PutUint32(req[28:], udiagShowName|udiagShowPeer|udiagShowRqlen)
	binary.LittleEndian.PutUint32(req[32:], 0xffffffff)
	binary.LittleEndian.PutUint32(req[36:], 0xffffffff)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	out := map[uint64]unixSock{}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return out, nil
			case syscall.NLMSG_ERROR:
				return nil, fmt.Errorf("sock_diag: error reply")
			}
			if len(m.Data) < 16 {
				continue
			}
			s := unixSock{typ: int(m.Data[1]), state: int(m.Data[2])}
			ino := uint64(binary.LittleEndian.Uint32(m.Data[4:]))
			parseUnixAttrs(m.Data[16:], &s)
			out[ino] = s
		}
	}
}

func parseUnixAttrs(b []byte, s *unixSock) {
	const hdr = int(unsafe.Sizeof(unix.RtAttr{}))
	for len(b) >= hdr {
		l := int(binary.LittleEndian.Uint16(b[0:]))
		t := binary.LittleEndian.Uint16(b[2:])
		if l < hdr || l > len(b) {
			return
		}
		v := b[hdr:l]
		switch t {
		case unixDiagName:
			s.name = string(v)
		case unixDiagPeer:
			if len(v) >= 4 {
				s.peer = uint64(binary.LittleEndian.Uint32(v))
			}
		case unixDiagRqlen:
			if len(v) >= 4 {
				s.rqueue = binary.LittleEndian.Uint32(v)
			}
		}
		b = b[(l+3)&^3:]
	}
}
