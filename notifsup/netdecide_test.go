package notifsup

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func sin(fam uint16, ip string, port uint16) []byte {
	a := netip.MustParseAddr(ip)
	if a.Is4() && fam != unix.AF_INET6 {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint16(b, fam)
		binary.BigEndian.PutUint16(b[2:], port)
		v := a.As4()
		copy(b[4:], v[:])
		return b
	}
	b := make([]byte, 28)
	binary.LittleEndian.PutUint16(b, fam)
	binary.BigEndian.PutUint16(b[2:], port)
	v := a.As16()
	copy(b[8:], v[:])
	return b
}

// TestInetAllowed: the destination is read as the socket's family reads it, whatever the
// address's family field says; the pinned set and the TCP port rules both apply.
func TestInetAllowed(t *testing.T) {
	m := &fsMeta{connect: ConnectConfig{RestrictHosts: true, ConnectTCP: []uint16{80}}, hosts: parseHosts([]string{"127.0.0.1", "::1"})}
	udp4 := &sock{domain: unix.AF_INET, typ: unix.SOCK_DGRAM, proto: unix.IPPROTO_UDP}
	udp6 := &sock{domain: unix.AF_INET6, typ: unix.SOCK_DGRAM, proto: unix.IPPROTO_UDP}
	tcp4 := &sock{domain: unix.AF_INET, typ: unix.SOCK_STREAM, proto: unix.IPPROTO_TCP}
	tcp6 := &sock{domain: unix.AF_INET6, typ: unix.SOCK_STREAM, proto: unix.IPPROTO_TCP}
	mapped := func(ip string, port uint16) []byte {
		return sin(unix.AF_INET6, "::ffff:"+ip, port)
	}
	for _, c := range []struct {
		name    string
		s       *sock
		addr    []byte
		connect bool
		flags   int
		want    error // nil, or the errno
		rule    string
	}{
		{"udp allowed", udp4, sin(unix.AF_INET, "127.0.0.1", 53), false, 0, nil, ""},
		{"udp denied", udp4, sin(unix.AF_INET, "127.0.0.2", 53), false, 0, unix.EACCES, "net_allow_hosts"},
		{"udp AF_UNSPEC read as IPv4", udp4, sin(unix.AF_UNSPEC, "127.0.0.2", 53), false, 0, unix.EACCES, "net_allow_hosts"},
		{"udp short", udp4, []byte{2, 0, 0, 53}, false, 0, unix.EINVAL, ""},
		{"no address", udp4, nil, false, 0, nil, ""},
		{"udp6 to AF_INET", udp6, sin(unix.AF_INET, "127.0.0.2", 53), false, 0, unix.EACCES, "net_allow_hosts"},
		{"udp6 mapped denied", udp6, mapped("127.0.0.2", 53), false, 0, unix.EACCES, "net_allow_hosts"},
		{"udp6 mapped allowed", udp6, mapped("127.0.0.1", 53), false, 0, nil, ""},
		{"udp6 ::1", udp6, sin(unix.AF_INET6, "::1", 53), false, 0, nil, ""},
		{"udp6 AF_UNSPEC short is none", udp6, []byte{0, 0, 0, 53}, false, 0, nil, ""},
		{"udp6 unspecified", udp6, sin(unix.AF_INET6, "::", 53), false, 0, unix.EACCES, "net_allow_hosts"},
		{"tcp disconnect", tcp4, []byte{0, 0}, true, 0, nil, ""},
		{"tcp allowed host, port not listed", tcp4, sin(unix.AF_INET, "127.0.0.1", 81), true, 0, unix.EACCES, "net_connect"},
		{"tcp allowed", tcp4, sin(unix.AF_INET, "127.0.0.1", 80), true, 0, nil, ""},
		{"tcp denied host", tcp6, mapped("10.0.0.1", 80), true, 0, unix.EACCES, "net_allow_hosts"},
		{"tcp send ignores the address", tcp4, sin(unix.AF_INET, "10.0.0.1", 80), false, 0, nil, ""},
		{"tcp fast open", tcp4, sin(unix.AF_INET, "10.0.0.1", 80), false, unix.MSG_FASTOPEN, unix.EACCES, "net_allow_hosts"},
	} {
		err := m.inetAllowed(c.s, c.addr, c.connect, c.flags)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v, want allowed", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		var r *refusal
		if c.rule != "" && (!errors.As(err, &r) || r.rule != c.rule) {
			t.Errorf("%s: %v, want a refusal by %s", c.name, err, c.rule)
		}
	}
}

// TestProcNetRewrite: real ports show as their virtual ones; a remote port only when the
// remote address is local.
func TestProcNetRewrite(t *testing.T) {
	p := NewPortMap(nil)
	p.real[8080], p.virtual[41000] = 41000, 8080 // 41000 = 0xA028, 8080 = 0x1F90
	for _, c := range []struct{ in, want string }{
		{"00000000:A028", "00000000:1F90"},
		{"0100007F:A028", "0100007F:1F90"},
		{"0100007F:1234", "0100007F:1234"},
	} {
		if got := string(p.rewrite([]byte(c.in), false)); got != c.want {
			t.Errorf("local %s: %s, want %s", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"0100007F:A028", "0100007F:1F90"},                                                 // 127.0.0.1
		{"0200007F:A028", "0200007F:1F90"},                                                 // 127.0.0.2
		{"0101A8C0:A028", "0101A8C0:A028"},                                                 // 192.168.1.1: another host's port
		{"00000000000000000000000001000000:A028", "00000000000000000000000001000000:1F90"}, // ::1
		{"0000000000000000FFFF00000100007F:A028", "0000000000000000FFFF00000100007F:1F90"}, // ::ffff:127.0.0.1
	} {
		if got := string(p.rewrite([]byte(c.in), true)); got != c.want {
			t.Errorf("remote %s: %s, want %s", c.in, got, c.want)
		}
	}
}

// TestTakeRightsCredentials: the process's claim to its own pid becomes the supervisor's (the
// kernel accepts only the sender's); another pid is left for the kernel to refuse.
func TestTakeRightsCredentials(t *testing.T) {
	tg := &target{tgid: 4242}
	for _, c := range []struct{ pid, want int32 }{{4242, int32(os.Getpid())}, {1, 1}} {
		ctl := unix.UnixCredentials(&unix.Ucred{Pid: c.pid, Uid: 1000, Gid: 1000})
		msg := &message{}
		if err := msg.takeRights(tg, ctl); err != nil {
			t.Fatal(err)
		}
		if got := int32(binary.LittleEndian.Uint32(msg.control[16:])); got != c.want {
			t.Errorf("pid %d: %d, want %d", c.pid, got, c.want)
		}
	}
	if err := (&message{}).takeRights(tg, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}); err == nil {
		t.Error("a cmsg shorter than its header: accepted")
	}
}
