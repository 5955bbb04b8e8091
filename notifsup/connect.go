package notifsup

import (
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// ConnectConfig mediates the syscalls that name a socket address: connect(2), sendto(2),
// sendmsg(2) and sendmmsg(2). Two policies need it. Where the process sees the host's file
// system (the direct mode, host mode), Landlock (ABI 7) does not govern reaching a pathname
// unix socket, so without this a sandbox reaches every listening host socket its uid may
// write (/run/containerd/containerd.sock as root). With net_allow_hosts, every IPv4 and IPv6
// destination must be one of the addresses the names resolved to at create.
type ConnectConfig struct {
	// The process's Landlock TCP rules, which a connect performed by the supervisor must
	// apply itself: DenyTCP refuses every TCP connect, ConnectTCP (when set) allows only
	// these ports.
	DenyTCP    bool     `json:",omitempty"`
	ConnectTCP []uint16 `json:",omitempty"`
	// AbstractScoped: the process's Landlock domain limits abstract unix sockets to its own
	// (isolate_ipc); the supervisor, outside that domain, cannot connect to them for it.
	AbstractScoped bool `json:",omitempty"`
	// ImageRoot: the process's root is its image (a container chrooted into its rootfs), so a
	// pathname socket is one of its own files: reached as named, in its view, unchecked. Set
	// only where net_allow_hosts alone asks for this feature.
	ImageRoot bool `json:",omitempty"`
	// RestrictHosts: only the IP addresses in AllowHosts (net_allow_hosts, resolved once at
	// create) may be connected or sent to.
	RestrictHosts bool     `json:",omitempty"`
	AllowHosts    []string `json:",omitempty"`
	// BindTCP are the process's Landlock TCP bind ports (net_bind), which a bind performed by
	// the supervisor (port_remap) must apply itself.
	BindTCP []uint16 `json:",omitempty"`
}

const sockaddrMax = 128 // sizeof(struct sockaddr_storage)

// sock is the supervisor's copy of the process's socket (pidfd_getfd: the very open file),
// with what the decisions need to know about it.
type sock struct {
	fd, domain, typ, proto int
}

func (t *target) sock(n int) (*sock, error) {
	fd, err := t.fd(n)
	if err != nil {
		return nil, err
	}
	s := &sock{fd: fd}
	if s.domain, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		unix.Close(fd)
		return nil, unix.ENOTSOCK
	}
	s.typ, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	s.proto, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	return s, nil
}

func (s *sock) close() { unix.Close(s.fd) }

func (s *sock) tcp() bool {
	return (s.domain == unix.AF_INET || s.domain == unix.AF_INET6) && s.typ == unix.SOCK_STREAM &&
		(s.proto == unix.IPPROTO_TCP || s.proto == unix.IPPROTO_MPTCP)
}

// blocking: the socket's open file is in blocking mode (flags asked no MSG_DONTWAIT either).
func (s *sock) blocking(flags int) bool {
	fl, err := unix.FcntlInt(uintptr(s.fd), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_NONBLOCK == 0 && flags&unix.MSG_DONTWAIT == 0
}

// connectHandler performs connect(2) on behalf of the process, on the very socket it named
// (pidfd_getfd), to the address copied out of its memory once (see dest). Never CONTINUE: the
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
	addr, err := t.sockaddr(a[1], a[2])
	if err != nil {
		t.close()
		return errnoResp(errnoOf(err))
	}
	s, err := t.sock(int(int32(a[0])))
	if err != nil {
		t.close()
		return errnoResp(errnoOf(err))
	}
	if s.domain == unix.AF_UNIX {
		// In the process's view and with its credentials: its peer sees its ids.
		defer t.close()
		defer s.close()
		_, err := c.w.inView(t, -1, func() (uint64, error) {
			d, err := m.dest(c.w, t, s, addr, true, 0)
			if err != nil {
				return 0, err
			}
			defer d.close()
			return 0, rawConnect(s.fd, d.name)
		})
		if err != nil {
			return fail(err)
		}
		return seccomp.ScmpNotifResp{}
	}
	t.close()
	d, err := m.dest(c.w, nil, s, addr, true, 0)
	if err != nil {
		s.close()
		return fail(err)
	}
	// A TCP connect on a blocking socket can take minutes: it runs off the workers. No
	// credentials travel with an IP connect.
	c.Defer(func() seccomp.ScmpNotifResp {
		defer s.close()
		if err := rawConnect(s.fd, d.name); err != nil {
			return errnoResp(errnoOf(err))
		}
		return seccomp.ScmpNotifResp{}
	})
	return seccomp.ScmpNotifResp{}
}

// sockaddr copies a socket address (ptr, len) out of the process's memory, clamped as the
// kernel clamps it.
func (t *target) sockaddr(ptr, length uint64) ([]byte, error) {
	n := int(int32(length))
	if ptr == 0 {
		n = 0
	}
	if n < 0 || n > sockaddrMax {
		return nil, unix.EINVAL
	}
	return t.readBytes(ptr, n)
}

// isPathname: an AF_UNIX address naming a file (not abstract: sun_path[0] == 0, not unnamed).
func isPathname(addr []byte) bool {
	return len(addr) > 2 && binary.LittleEndian.Uint16(addr) == unix.AF_UNIX && addr[2] != 0
}

// destination is an address decided on: name is what the kernel is given (the copied address,
// or for a pathname socket the resolved inode's /proc/self/fd name), held is the O_PATH fd that
// name refers to (-1 for none), open until the operation is done.
type destination struct {
	name []byte
	held int
}

func (d *destination) close() {
	if d.held >= 0 {
		unix.Close(d.held)
	}
}

// dest decides on addr, copied once, for an operation on s: connect (a connect, where an
// AF_UNSPEC address disconnects) or a send with flags. For an AF_UNIX socket it runs on the
// worker in the process's view (t's); for the others t may be nil. The answer is the address
// to hand the kernel, or the refusal.
func (m *fsMeta) dest(w *worker, t *target, s *sock, addr []byte, connect bool, flags int) (*destination, error) {
	d := &destination{name: addr, held: -1}
	switch s.domain {
	case unix.AF_UNIX:
		if isPathname(addr) {
			return m.unixPath(w, t, addr)
		}
		if m.connect.AbstractScoped && len(addr) > 2 && binary.LittleEndian.Uint16(addr) == unix.AF_UNIX {
			// abstract (or autobind) address outside a scope the supervisor is not in
			return nil, refuse(unix.EPERM, "@"+string(addr[3:]), "isolate_ipc")
		}
	case unix.AF_INET, unix.AF_INET6:
		if err := m.inetAllowed(s, addr, connect, flags); err != nil {
			return nil, err
		}
		d.name = m.connectTo(s, addr) // port_remap: a virtual port on this host is its real one
	case unix.AF_NETLINK:
		// The kernel's own sockets (glibc asks rtnetlink for the host's addresses).
	default:
		if m.connect.RestrictHosts && len(addr) > 0 {
			return nil, refuse(unix.EACCES, "family "+strconv.Itoa(s.domain), "net_allow_hosts")
		}
	}
	return d, nil
}

// unixPath resolves a pathname socket as the process would (its root, cwd and credentials:
// the worker is in its view). With the host's root it checks that the policy lets the process
// write there and names that very inode (no second lookup of the name); in its image, the
// socket is one of its own files and the copied name is used as it is.
func (m *fsMeta) unixPath(w *worker, t *target, addr []byte) (*destination, error) {
	path := string(addr[2:])
	if i := slices.Index(addr[2:], 0); i >= 0 {
		path = string(addr[2 : 2+i])
	}
	root, err := t.rootFD()
	if err != nil {
		return nil, err
	}
	if key, err := keyOf(root); err != nil || !key.sameDir(hostRootKey) {
		if m.connect.ImageRoot && w.beneath < 0 {
			// The worker's root is the image's; a worker that could not take it (beneath)
			// would resolve the copied name from the supervisor's root.
			return &destination{name: addr, held: -1}, nil
		}
		return nil, unix.EPERM // only trapped where the process has the host's root
	}
	fd, err := w.resolvePath(path, false)
	if err != nil {
		return nil, err
	}
	if err := m.check(w, t, fd, true, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &destination{name: unixName("/proc/self/fd/" + strconv.Itoa(fd)), held: fd}, nil
}

// unixName is a sockaddr_un naming path.
func unixName(path string) []byte {
	b := make([]byte, 2+len(path)+1)
	binary.LittleEndian.PutUint16(b, unix.AF_UNIX)
	copy(b[2:], path)
	return b
}

// inetAllowed applies to an IP destination what the process's Landlock domain would (the TCP
// port rules) and net_allow_hosts. The address is read as the kernel of s's family reads it,
// whatever its family field says (UDP takes an AF_UNSPEC address as AF_INET, an IPv6 socket
// sends to an AF_INET one): an address that cannot be read is refused.
func (m *fsMeta) inetAllowed(s *sock, addr []byte, connect bool, flags int) error {
	if len(addr) == 0 {
		return nil // a send on a connected socket: its peer was decided at connect
	}
	if len(addr) < 2 {
		return unix.EINVAL
	}
	fam := binary.LittleEndian.Uint16(addr)
	if connect && fam == unix.AF_UNSPEC {
		return nil // a disconnect
	}
	if s.tcp() && !connect && flags&unix.MSG_FASTOPEN == 0 {
		return nil // TCP ignores the address of a send (save Fast Open's)
	}
	ip, ok := destIP(s.domain, fam, addr)
	if !ok {
		if s.domain == unix.AF_INET6 && fam == unix.AF_UNSPEC {
			return nil // udpv6 takes a short AF_UNSPEC address as none
		}
		return unix.EINVAL
	}
	port := binary.BigEndian.Uint16(addr[2:4])
	object := net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
	if m.connect.RestrictHosts && !m.hosts[ip] {
		return refuse(unix.EACCES, object, "net_allow_hosts")
	}
	if !s.tcp() {
		return nil // Landlock governs TCP only
	}
	if m.connect.DenyTCP {
		return refuse(unix.EACCES, object, "no_network")
	}
	if len(m.connect.ConnectTCP) > 0 && !slices.Contains(m.connect.ConnectTCP, port) {
		return refuse(unix.EACCES, object, "net_connect")
	}
	return nil
}

// destIP reads the IP address of addr as a socket of domain does: IPv4 at bytes 4-8, IPv6 at
// 8-24; an IPv4-mapped IPv6 address is its IPv4 address.
func destIP(domain int, fam uint16, addr []byte) (netip.Addr, bool) {
	v4 := domain == unix.AF_INET || fam == unix.AF_INET
	switch {
	case v4 && len(addr) >= 8:
		return netip.AddrFrom4([4]byte(addr[4:8])), true
	case !v4 && len(addr) >= 24:
		return netip.AddrFrom16([16]byte(addr[8:24])).Unmap(), true
	}
	return netip.Addr{}, false
}

// parseHosts is the allowed set; an entry that is not an address allows nothing.
func parseHosts(hs []string) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for _, h := range hs {
		if a, err := netip.ParseAddr(h); err == nil {
			out[a.Unmap()] = true
		}
	}
	return out
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
