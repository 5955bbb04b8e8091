package integration

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// netTarget is one loopback address listening on TCP and UDP port: it greets each TCP
// connection with greeting and counts connections and datagrams.
type netTarget struct {
	tcp, udp atomic.Int64
}

// listenPair listens on the same TCP and UDP port of 127.0.0.1 (allowed, greeting 'A') and
// 127.0.0.2 (denied, 'D'). All of 127/8 is loopback on Linux, so this needs no network.
func listenPair(t *testing.T) (port int, allowed, denied *netTarget) {
	t.Helper()
	for try := 0; try < 20; try++ {
		lnA, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = lnA.Addr().(*net.TCPAddr).Port
		p := strconv.Itoa(port)
		lnD, errD := net.Listen("tcp4", "127.0.0.2:"+p)
		uA, errUA := net.ListenPacket("udp4", "127.0.0.1:"+p)
		uD, errUD := net.ListenPacket("udp4", "127.0.0.2:"+p)
		if err := errors.Join(errD, errUA, errUD); err != nil {
			lnA.Close()
			closeIf(lnD, errD)
			closeIf(uA, errUA)
			closeIf(uD, errUD)
			continue
		}
		allowed, denied = &netTarget{}, &netTarget{}
		serveTCP(t, lnA, 'A', allowed)
		serveTCP(t, lnD, 'D', denied)
		serveUDP(t, uA, allowed)
		serveUDP(t, uD, denied)
		return port, allowed, denied
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return 0, nil, nil
}

func closeIf(c interface{ Close() error }, err error) {
	if err == nil {
		c.Close()
	}
}

func serveTCP(t *testing.T, ln net.Listener, greeting byte, n *netTarget) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.tcp.Add(1)
			_, _ = c.Write([]byte{greeting})
			c.Close()
		}
	}()
}

func serveUDP(t *testing.T, pc net.PacketConn, n *netTarget) {
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			n.udp.Add(1)
		}
	}()
}

// settle waits until the UDP listeners have read what was sent (loopback delivers at once;
// the reader goroutines may lag).
func settle() { time.Sleep(200 * time.Millisecond) }

// judgeNet checks the program's verdicts and that nothing reached the denied address.
func judgeNet(t *testing.T, out string, allowed, denied *netTarget) {
	t.Helper()
	settle()
	got := verdicts(t, out)
	for name, v := range got {
		if v != "ok" {
			t.Errorf("%s: %s", name, v)
		}
	}
	for _, n := range []string{"tcp_allowed", "tcp_denied", "tcp6_mapped_denied", "udp_sendto_denied",
		"udp_sendto_unspec_family", "udp6_sendto_v4_denied", "udp6_sendto_mapped_denied", "udp_sendmsg_denied",
		"udp_sendmmsg_denied", "udp_sendmmsg_mixed", "udp_connect_denied", "race_tcp_connect", "race_udp_sent",
		"sctp_stream", "sctp_seqpacket", "sctp6_seqpacket", "i386:udp_sendto_denied", "i386:tcp_connect_denied"} {
		if _, ok := got[n]; !ok {
			t.Errorf("%s: no verdict", n)
		}
	}
	if d := denied.tcp.Load(); d != 0 {
		t.Errorf("the denied address accepted %d TCP connections", d)
	}
	if d := denied.udp.Load(); d != 0 {
		t.Errorf("the denied address received %d datagrams", d)
	}
	if allowed.udp.Load() == 0 || allowed.tcp.Load() == 0 {
		t.Errorf("the allowed address got %d connections, %d datagrams: the attempts proved nothing",
			allowed.tcp.Load(), allowed.udp.Load())
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestNetAllowHosts: with net_allow_hosts = ["localhost"], 127.0.0.1 is reachable by TCP and
// UDP and 127.0.0.2 by no spelling (connect, sendto, sendmsg, sendmmsg, v4-mapped IPv6, an
// AF_UNSPEC family UDP reads as IPv4), nor by racing the address; /etc/hosts shows the pinned
// names. Unconfined, the same attempts reach 127.0.0.2.
func TestNetAllowHosts(t *testing.T) {
	bins := escapeBins(t)
	prog := filepath.Join(bins, "netallow")

	t.Run("unconfined", func(t *testing.T) {
		port, _, denied := listenPair(t)
		out, _ := exec.Command(prog, "127.0.0.1", "127.0.0.2", strconv.Itoa(port)).Output()
		got := verdicts(t, string(out))
		for _, n := range []string{"tcp_denied", "udp_sendto_denied", "udp_sendmsg_denied", "udp_connect_denied",
			"race_tcp_connect"} {
			if got[n] != "ESCAPED" {
				t.Errorf("%s unconfined: %s, want ESCAPED (the attempt must work without confinement)", n, got[n])
			}
		}
		settle()
		// the races alternate: a good share of the flipped sends reach the denied address
		if denied.tcp.Load() < 10 || denied.udp.Load() < 100 {
			t.Errorf("unconfined: the denied address got %d connections, %d datagrams", denied.tcp.Load(), denied.udp.Load())
		}
	})
	t.Run("sandbox", func(t *testing.T) {
		port, allowed, denied := listenPair(t)
		r := rtWith(t, nil, sandboxArgs([]string{"--net-allow-hosts", "localhost"},
			prog, "127.0.0.1", "127.0.0.2", strconv.Itoa(port), "hosts")...)
		judgeNet(t, r.stdout+r.stderr, allowed, denied)
	})
	t.Run("sandbox-numeric-and-ports", func(t *testing.T) {
		// An address given as such is itself; net_connect still applies to TCP.
		port, allowed, denied := listenPair(t)
		p := strconv.Itoa(port)
		nc := func(ports string) result {
			return rtWith(t, nil, sandboxArgs([]string{"--net-allow-hosts", "127.0.0.1", "--net-connect", ports},
				"/bin/busybox", "sh", "-c", "echo | busybox nc 127.0.0.1 "+p+" && echo reached")...)
		}
		if r := nc("1"); strings.Contains(r.stdout, "reached") || allowed.tcp.Load() != 0 {
			t.Errorf("net_connect [1] let a connect to port %d through: %q %s", port, r.stdout, r.stderr)
		}
		if r := nc(p); !strings.Contains(r.stdout, "reached") || allowed.tcp.Load() != 1 {
			t.Errorf("net_connect [%d] and the allowed address: %q %s", port, r.stdout, r.stderr)
		}
		if denied.tcp.Load() != 0 {
			t.Error("the denied address was reached")
		}
	})
	t.Run("container-host-network", func(t *testing.T) {
		port, allowed, denied := listenPair(t)
		id := newID()
		mutate := chain(withoutNamespace(specs.NetworkNamespace), func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.sandlock.net_allow_hosts": `["localhost"]`}
		})
		out := escapeRun(t, id, mutate, nil, "/escape/netallow", "127.0.0.1", "127.0.0.2", strconv.Itoa(port), "hosts")
		judgeNet(t, out, allowed, denied)
		b, _ := os.ReadFile(filepath.Join(envFor(t).root, id, "audit.jsonl"))
		if !strings.Contains(string(b), `"rule":"net_allow_hosts"`) || !strings.Contains(string(b), `"object":"127.0.0.2:`+strconv.Itoa(port)+`"`) {
			t.Errorf("no net_allow_hosts refusal in the audit log: %s", b)
		}
	})
	t.Run("unresolvable", func(t *testing.T) {
		r := rtWith(t, nil, sandboxArgs([]string{"--net-allow-hosts", "no-such-host.invalid"}, "/bin/true")...)
		if r.code == 0 || !strings.Contains(r.stderr, `net_allow_hosts: "no-such-host.invalid" does not resolve`) {
			t.Errorf("exit %d, stderr %q: want a failure naming the host", r.code, r.stderr)
		}
	})
}
