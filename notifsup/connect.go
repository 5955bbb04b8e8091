package notifsup

import (
	"encoding/binary"
	"net"
	"runtime"
	"slices"
	"strconv"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// ConnectConfig mediates connect(2) where the process sees the host's file system (the direct
// mode, host mode): Landlock (ABI 7) does not govern connecting to a pathname unix socket, so
// without this a sandbox reaches every listening host socket its uid may write
// (/run/containerd/containerd.sock as root).
type ConnectConfig struct {
	// The process's Landlock TCP rules, which a connect performed by the supervisor must
	// apply itself: DenyTCP refuses every TCP connect, ConnectTCP (when set) allows only
	// these ports.
	DenyTCP    bool     `json:",omitempty"`
	ConnectTCP []uint16 `json:",omitempty"`
	// AbstractScoped: the process's Landlock domain limits abstract unix sockets to its own
	// (isolate_ipc); the supervisor, outside that domain, cannot connect to them for it.
	AbstractScoped bool `json:",omitempty"`
}

const sockaddrMax = 128 // sizeof(struct sockaddr_storage)

// connectHandler performs connect(2) on behalf of the process, on the very socket it named
// (pidfd_getfd), to the address copied out of its memory once: a pathname unix socket only
// where the policy grants writing (the kernel's own DAC asks for write permission on the
// socket), other addresses as the process's Landlock rules allow them. Never CONTINUE: the
// kernel would read the address (and look up the fd) again, after the check.
func (m *fsMeta) connectHandler(c *Call) seccomp.ScmpNotifResp {
	fail := func(err error) seccomp.ScmpNotifResp {
		c.report("connect", err)
		return errnoResp(errnoOf(err))
	}
	t, err := pinTarget(c.Listener, c.Req, false)
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	a := c.Req.Data.Args
	addr, sock, err := m.connectArgs(t, a)
	if err != nil {
		t.close()
		return errnoResp(errnoOf(err))
	}
	domain, err := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		t.close()
		unix.Close(sock)
		return errnoResp(unix.ENOTSOCK)
	}
	if domain == unix.AF_UNIX && isPathname(addr) {
		defer t.close()
		defer unix.Close(sock)
		err := m.connectUnixPath(c.w, t, sock, addr)
		if err != nil {
			return fail(err)
		}
		return seccomp.ScmpNotifResp{}
	}
	t.close()
	if err := m.connectAllowed(sock, domain, addr); err != nil {
		unix.Close(sock)
		return fail(err)
	}
	// A TCP connect on a blocking socket can take minutes: it runs off the workers.
	c.Defer(func() seccomp.ScmpNotifResp {
		defer unix.Close(sock)
		if err := rawConnect(sock, addr); err != nil {
			return errnoResp(errnoOf(err))
		}
		return seccomp.ScmpNotifResp{}
	})
	return seccomp.ScmpNotifResp{}
}

func (m *fsMeta) connectArgs(t *target, a []uint64) ([]byte, int, error) {
	n := int(int32(a[2]))
	if n < 0 || n > sockaddrMax {
		return nil, -1, unix.EINVAL
	}
	addr, err := t.readBytes(a[1], n)
	if err != nil {
		return nil, -1, err
	}
	sock, err := t.fd(int(int32(a[0])))
	return addr, sock, err
}

// isPathname: an AF_UNIX address naming a file (not abstract: sun_path[0] == 0, not unnamed).
func isPathname(addr []byte) bool {
	return len(addr) > 2 && binary.LittleEndian.Uint16(addr) == unix.AF_UNIX && addr[2] != 0
}

// connectUnixPath resolves the socket's path as the process would (its root, cwd and
// credentials), checks that the policy lets it write there, and connects the process's socket
// to that very inode (through /proc/thread-self/fd: no second lookup of the name).
func (m *fsMeta) connectUnixPath(w *worker, t *target, sock int, addr []byte) error {
	path := string(addr[2:])
	if i := slices.Index(addr[2:], 0); i >= 0 {
		path = string(addr[2 : 2+i])
	}
	root, err := t.rootFD()
	if err != nil {
		return err
	}
	if key, err := keyOf(root); err != nil || !key.sameDir(hostRootKey) {
		return unix.EPERM // only trapped where the process has the host's root
	}
	dirfd := -1
	if len(path) > 0 && path[0] == '/' {
		dirfd = noCwd
	}
	_, err = w.inView(t, dirfd, func() (uint64, error) {
		fd, err := w.resolvePath(path, false)
		if err != nil {
			return 0, err
		}
		defer unix.Close(fd)
		if err := m.check(w, t, fd, true, false); err != nil {
			return 0, err
		}
		via := "/proc/thread-self/fd/" + strconv.Itoa(fd)
		return 0, unix.Connect(sock, &unix.SockaddrUnix{Name: via})
	})
	return err
}

// connectAllowed applies what the process's Landlock domain would to a connect the supervisor
// performs: the TCP port rules, and the abstract unix scope.
func (m *fsMeta) connectAllowed(sock, domain int, addr []byte) error {
	cc := m.connect
	switch domain {
	case unix.AF_UNIX:
		if cc.AbstractScoped && len(addr) > 2 && binary.LittleEndian.Uint16(addr) == unix.AF_UNIX {
			// abstract (or autobind) address outside a scope the supervisor is not in
			return refuse(unix.EPERM, "@"+string(addr[3:]), "isolate_ipc")
		}
		return nil
	case unix.AF_INET, unix.AF_INET6:
		typ, _ := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_TYPE)
		proto, _ := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_PROTOCOL)
		if typ != unix.SOCK_STREAM || (proto != unix.IPPROTO_TCP && proto != unix.IPPROTO_MPTCP) {
			return nil // Landlock governs TCP only
		}
		if len(addr) < 4 || binary.LittleEndian.Uint16(addr) == unix.AF_UNSPEC {
			return nil // a disconnect, or the kernel's own EINVAL
		}
		port := binary.BigEndian.Uint16(addr[2:4])
		if cc.DenyTCP {
			return refuse(unix.EACCES, sockaddrString(addr), "no_network")
		}
		if len(cc.ConnectTCP) > 0 && !slices.Contains(cc.ConnectTCP, port) {
			return refuse(unix.EACCES, sockaddrString(addr), "net_connect")
		}
	}
	return nil
}

// rawConnect connects sock to a sockaddr as the process passed it.
func rawConnect(sock int, addr []byte) error {
	var p unsafe.Pointer
	if len(addr) > 0 {
		p = unsafe.Pointer(&addr[0])
	}
	_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(sock), uintptr(p), uintptr(len(addr)))
	runtime.KeepAlive(addr)
	if e != 0 {
		return e
	}
	return nil
}

// sockaddrString renders an AF_INET or AF_INET6 sockaddr as host:port.
func sockaddrString(addr []byte) string {
	port := int(binary.BigEndian.Uint16(addr[2:4]))
	switch {
	case binary.LittleEndian.Uint16(addr) == unix.AF_INET && len(addr) >= 8:
		return net.JoinHostPort(net.IP(addr[4:8]).String(), strconv.Itoa(port))
	case len(addr) >= 24:
		return net.JoinHostPort(net.IP(addr[8:24]).String(), strconv.Itoa(port))
	}
	return "?:" + strconv.Itoa(port)
}
