package sandbox

import (
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandlock/sandlock-runtime/spec"
)

// greet listens on addr:port (port 0: any), greeting each connection with g; it counts them.
func greet(t *testing.T, addr string, port int, g string) (int, *atomic.Int64, error) {
	ln, err := net.Listen("tcp4", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return 0, nil, err
	}
	t.Cleanup(func() { ln.Close() })
	n := &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_, _ = c.Write([]byte(g))
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, n, nil
}

func busybox(t *testing.T) string {
	p, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox (nc)")
	}
	return p
}

// TestNetAllowHostsGoAPI: spec.Policy{NetAllowHosts: localhost} reaches 127.0.0.1 and not
// 127.0.0.2 on the same port; the refusal is in Denials.
func TestNetAllowHostsGoAPI(t *testing.T) {
	requireKernel(t)
	bb := busybox(t)
	var port int
	var denied *atomic.Int64
	for try := 0; ; try++ {
		p, _, err := greet(t, "127.0.0.1", 0, "allowed")
		if err != nil {
			t.Fatal(err)
		}
		if _, d, err := greet(t, "127.0.0.2", p, "denied"); err == nil {
			port, denied = p, d
			break
		}
		if try > 20 {
			t.Fatal("no port free on 127.0.0.1 and 127.0.0.2")
		}
	}
	p := strconv.Itoa(port)
	sb := newSandbox(t, spec.Policy{NetAllowHosts: []string{"localhost"}})
	res, err := sb.Run(ctxFor(t, 30*time.Second), []string{bb, "sh", "-c",
		"echo | " + bb + " nc 127.0.0.1 " + p + "; echo; echo | " + bb + " nc 127.0.0.2 " + p + " || echo refused"})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Stdout); got != "allowed\nrefused\n" {
		t.Errorf("stdout %q (stderr %q), want the allowed greeting and a refusal", got, res.Stderr)
	}
	if denied.Load() != 0 {
		t.Errorf("127.0.0.2 accepted %d connections", denied.Load())
	}
	found := false
	for _, d := range sb.Denials() {
		found = found || (d.Rule == "net_allow_hosts" && d.Object == "127.0.0.2:"+p && d.Errno == "EACCES")
	}
	if !found {
		t.Errorf("no net_allow_hosts denial for 127.0.0.2:%s in %+v", p, sb.Denials())
	}
}

// TestPortRemapGoAPI: spec.Policy{PortRemap: true} binds a port the host holds; a loopback
// connect to it inside reaches the sandbox's own listener.
func TestPortRemapGoAPI(t *testing.T) {
	requireKernel(t)
	bb := busybox(t)
	port, _, err := greet(t, "127.0.0.1", 0, "host")
	if err != nil {
		t.Fatal(err)
	}
	p := strconv.Itoa(port)
	sb := newSandbox(t, spec.Policy{PortRemap: spec.Ptr(true)})
	// The listener answers once; the client retries until it is up (no sleep to tune): before
	// the sandbox's bind, 127.0.0.1:port is the host's listener.
	res, err := sb.Run(ctxFor(t, 30*time.Second), []string{bb, "sh", "-c",
		bb + " nc -l -p " + p + " -e " + bb + " echo inside & for i in $(" + bb + " seq 100); do " +
			"out=$(echo | " + bb + " nc 127.0.0.1 " + p + "); [ \"$out\" = inside ] && break; " + bb + " usleep 50000; done; echo \"$out\"; wait"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(res.Stdout)); got != "inside" {
		t.Errorf("stdout %q (stderr %q), want the sandbox's own listener", got, res.Stderr)
	}
}
