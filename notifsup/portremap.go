package notifsup

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// PortMap is port_remap's state for one container: each TCP port the container binds (its
// virtual port) is bound on the host as a real port, the same one when it is free, a free one
// chosen by the kernel otherwise, so that two containers on the host's network can both bind
// 8080. The container sees only its virtual ports: getsockname and getpeername answer them, a
// connect to a loopback address and a virtual port reaches the real one, and /proc/net/tcp and
// /proc/net/tcp6 show them (ProcNetFiles).
type PortMap struct {
	mu       sync.Mutex
	real     map[uint16]uint16 // virtual -> real
	virtual  map[uint16]uint16 // real -> virtual
	onChange func(map[uint16]uint16)
	changes  chan portChange
	once     sync.Once
}

// NewPortMap makes an empty map; onChange, when set, gets a copy of virtual -> real after
// each new mapping (the runtime writes it to the state dir: how a user finds the real port).
func NewPortMap(onChange func(map[uint16]uint16)) *PortMap {
	return &PortMap{real: map[uint16]uint16{}, virtual: map[uint16]uint16{}, onChange: onChange}
}

func (p *PortMap) realOf(v uint16) (uint16, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.real[v]
	return r, ok
}

func (p *PortMap) virtualOf(r uint16) (uint16, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.virtual[r]
	return v, ok
}

// bindHandler performs bind(2) of a TCP socket to a non-zero port on behalf of the process,
// on its very socket, in its view (a port below 1024 needs its own capability): to the real
// port of that virtual port, chosen at its first bind. The TCP bind rules (net_bind,
// no_network), which Landlock would apply to the process, are applied here. Other sockets and
// port 0 are NotMine: the kernel then binds what the (possibly changed) memory says, with
// Landlock's rules, exactly as without port_remap, which breaks no property: only the
// virtualisation of that one bind is lost to a process racing itself.
func (m *fsMeta) bindHandler(c *Call, t *target) seccomp.ScmpNotifResp {
	a := c.Req.Data.Args
	addr, err := t.sockaddr(a[1], a[2])
	if err != nil || len(addr) < 4 {
		return NotMine()
	}
	s, err := t.sock(int(int32(a[0])))
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	defer s.close()
	fam := binary.LittleEndian.Uint16(addr)
	v := binary.BigEndian.Uint16(addr[2:4])
	if !s.tcp() || v == 0 || int(fam) != s.domain {
		return NotMine()
	}
	if err := m.bindAllowed(v, addr); err != nil {
		c.report("bind", err)
		return errnoResp(errnoOf(err))
	}
	_, err = c.w.inView(t, -1, func() (uint64, error) { return 0, m.ports.bind(s.fd, addr, v) })
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	return seccomp.ScmpNotifResp{}
}

func (m *fsMeta) bindAllowed(v uint16, addr []byte) error {
	object := ":" + strconv.Itoa(int(v))
	if ip, ok := destIP(int(binary.LittleEndian.Uint16(addr)), binary.LittleEndian.Uint16(addr), addr); ok {
		object = ip.String() + object
	}
	if m.connect.DenyTCP {
		return refuse(unix.EACCES, object, "no_network")
	}
	if len(m.connect.BindTCP) > 0 && !slices.Contains(m.connect.BindTCP, v) {
		return refuse(unix.EACCES, object, "net_bind")
	}
	return nil
}

// bind binds fd to addr with the real port of v: the one already chosen, or v itself when it
// is free, or one the kernel picks.
func (p *PortMap) bind(fd int, addr []byte, v uint16) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := slices.Clone(addr)
	if r, ok := p.real[v]; ok {
		binary.BigEndian.PutUint16(b[2:4], r)
		return rawBind(fd, b)
	}
	err := rawBind(fd, b)
	if err == unix.EADDRINUSE || err == unix.EACCES {
		binary.BigEndian.PutUint16(b[2:4], 0)
		err = rawBind(fd, b)
	}
	if err != nil {
		return err
	}
	local, err := rawName(fd, unix.SYS_GETSOCKNAME)
	if err != nil || len(local) < 4 {
		return unix.EADDRNOTAVAIL
	}
	r := binary.BigEndian.Uint16(local[2:4])
	p.real[v], p.virtual[r] = r, v
	p.changed()
	return nil
}

// changed hands a copy of the map to onChange and waits for it, which runs on a goroutine of
// its own: bind runs on a worker that holds the process's root and credentials, where no file
// of the supervisor may be written. p.mu is held, so the copies arrive in order.
func (p *PortMap) changed() {
	if p.onChange == nil {
		return
	}
	p.once.Do(func() {
		p.changes = make(chan portChange)
		go func() {
			for c := range p.changes {
				p.onChange(c.m)
				close(c.done)
			}
		}()
	})
	c := portChange{m: maps.Clone(p.real), done: make(chan struct{})}
	p.changes <- c
	<-c.done
}

type portChange struct {
	m    map[uint16]uint16
	done chan struct{}
}

// nameHandler answers getsockname(2) (peer false) or getpeername(2) on behalf of the process:
// the kernel's answer for its socket, with a real port turned back into its virtual one (the
// local port; the peer's when the peer is on this host, a connection inside the container).
// Nothing is read from the process but its buffer's length; the answer is written into it.
func (m *fsMeta) nameHandler(peer bool) Handler {
	nr := uintptr(unix.SYS_GETSOCKNAME)
	if peer {
		nr = unix.SYS_GETPEERNAME
	}
	return pinned(true, func(c *Call, t *target) seccomp.ScmpNotifResp {
		a := c.Req.Data.Args
		s, err := t.sock(int(int32(a[0])))
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		defer s.close()
		name, err := rawName(s.fd, nr)
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		if s.tcp() && len(name) >= 4 {
			ip, ok := destIP(s.domain, binary.LittleEndian.Uint16(name), name)
			if !peer || (ok && localIP(ip)) {
				if v, ok := m.ports.virtualOf(binary.BigEndian.Uint16(name[2:4])); ok {
					binary.BigEndian.PutUint16(name[2:4], v)
				}
			}
		}
		if err := t.writeName(a[1], a[2], name); err != nil {
			return errnoResp(errnoOf(err))
		}
		return seccomp.ScmpNotifResp{}
	})
}

// writeName returns a socket address as the kernel does: at most *lenp bytes of it, and its
// full length in *lenp.
func (t *target) writeName(addr, lenp uint64, name []byte) error {
	lb, err := t.readBytes(lenp, 4)
	if err != nil {
		return err
	}
	n := int(int32(binary.LittleEndian.Uint32(lb)))
	if n < 0 {
		return unix.EINVAL
	}
	if err := t.writeBytes(addr, name[:min(n, len(name))]); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(lb, uint32(len(name)))
	return t.writeBytes(lenp, lb)
}

// localIP: an address that reaches this host (loopback, or the unspecified address, which the
// kernel connects to the host itself).
func localIP(ip netip.Addr) bool { return ip.IsLoopback() || ip.IsUnspecified() }

// connectTo is the address a connect or send reaches: a local address with a virtual port
// goes to its real port.
func (m *fsMeta) connectTo(s *sock, addr []byte) []byte {
	if m.ports == nil || !s.tcp() || len(addr) < 4 {
		return addr
	}
	ip, ok := destIP(s.domain, binary.LittleEndian.Uint16(addr), addr)
	if !ok || !localIP(ip) {
		return addr
	}
	r, ok := m.ports.realOf(binary.BigEndian.Uint16(addr[2:4]))
	if !ok {
		return addr
	}
	b := slices.Clone(addr)
	binary.BigEndian.PutUint16(b[2:4], r)
	return b
}

// ProcNetFiles answers opens of /proc/net/tcp and /proc/net/tcp6 (and their /proc/self
// spellings) with the host's tables where each real port of the map shows as its virtual one.
func ProcNetFiles(p *PortMap) Feature {
	files := map[string]func() ([]byte, error){}
	for _, f := range []string{"tcp", "tcp6"} {
		read := func() ([]byte, error) { return p.procNet(f) }
		for _, pre := range []string{"/proc/net/", "/proc/self/net/", "/proc/thread-self/net/"} {
			files[pre+f] = read
		}
	}
	return Files("port-remap-proc", files)
}

// procNet is the supervisor's /proc/net/FILE (the container shares the host's network
// namespace) with the ports rewritten: the local port of every line, and the remote port where
// the remote address is local.
func (p *PortMap) procNet(file string) ([]byte, error) {
	b, err := readAllAt(hostProc, "net/"+file)
	if err != nil {
		return nil, err
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	for i, l := range lines {
		if i == 0 {
			continue // the header
		}
		f := bytes.Fields(l)
		if len(f) < 3 {
			continue
		}
		local, remote := p.rewrite(f[1], false), p.rewrite(f[2], true)
		l = bytes.Replace(l, f[1], local, 1)
		lines[i] = bytes.Replace(l, f[2], remote, 1)
	}
	return bytes.Join(lines, nil), nil
}

// rewrite turns "ADDR:PORT" (hex, as /proc/net/tcp writes them) into the virtual port when
// PORT is a real one (for a remote address, only when that address is local).
func (p *PortMap) rewrite(field []byte, remote bool) []byte {
	i := bytes.LastIndexByte(field, ':')
	if i < 0 {
		return field
	}
	port, err := strconv.ParseUint(string(field[i+1:]), 16, 16)
	if err != nil {
		return field
	}
	if remote && !procLocal(string(field[:i])) {
		return field
	}
	v, ok := p.virtualOf(uint16(port))
	if !ok {
		return field
	}
	return fmt.Appendf(slices.Clone(field[:i+1]), "%04X", v)
}

// procLocal reads an address as /proc/net/tcp{,6} writes it (the kernel's words in hex, in
// host order) and says whether it is local.
func procLocal(hex string) bool {
	raw := make([]byte, len(hex)/2)
	for i := range raw {
		v, err := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		if err != nil {
			return false
		}
		raw[i] = byte(v)
	}
	// each 32-bit word is printed in host (little-endian) order
	for w := 0; w+4 <= len(raw); w += 4 {
		raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	ip, ok := netip.AddrFromSlice(raw)
	return ok && localIP(ip.Unmap())
}

// rawBind binds fd to a sockaddr as given.
func rawBind(fd int, addr []byte) error {
	_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&addr[0])), uintptr(len(addr)))
	runtime.KeepAlive(addr)
	if e != 0 {
		return e
	}
	return nil
}

// rawName is getsockname or getpeername of fd, as the kernel writes it.
func rawName(fd int, nr uintptr) ([]byte, error) {
	buf := make([]byte, sockaddrMax)
	n := uint32(len(buf))
	_, _, e := unix.Syscall(nr, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return nil, e
	}
	return buf[:min(int(n), len(buf))], nil
}
