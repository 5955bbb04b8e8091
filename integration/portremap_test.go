package integration

import (
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// greetingHost listens on 127.0.0.1 at a free port, greeting 'H', and returns the port.
func greetingHost(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n netTarget
	serveTCP(t, ln, 'H', &n)
	return ln.Addr().(*net.TCPAddr).Port
}

// TestPortRemap: with port_remap, a sandbox binds a TCP port the host already listens on, and
// sees only that virtual port (getsockname, getpeername, /proc/net/tcp); a loopback connect to
// it reaches the sandbox's own listener. The real port is in `state`'s io.sandlock.ports.
// Unconfined, the same bind fails. net_bind still applies to the virtual port.
func TestPortRemap(t *testing.T) {
	bins := escapeBins(t)
	prog := filepath.Join(bins, "portremap")
	t.Run("unconfined", func(t *testing.T) {
		port := greetingHost(t)
		out, _ := exec.Command(prog, strconv.Itoa(port)).Output()
		if got := verdicts(t, string(out)); got["bind"] != "ERROR" {
			t.Errorf("unconfined bind of a port the host holds: %s, want it to fail (%s)", got["bind"], out)
		}
	})
	t.Run("sandbox", func(t *testing.T) {
		port := greetingHost(t)
		r := rtWith(t, nil, sandboxArgs([]string{"--port-remap"}, prog, strconv.Itoa(port))...)
		requireAllOK(t, r.stdout, "bind", "getsockname", "loopback_connect", "getpeername", "proc_net_tcp")
	})
	t.Run("sandbox-net-bind-refused", func(t *testing.T) {
		port := greetingHost(t)
		r := rtWith(t, nil, sandboxArgs([]string{"--port-remap", "--net-bind", "1"}, prog, strconv.Itoa(port), "denied")...)
		requireAllOK(t, r.stdout, "bind_denied")
	})
	t.Run("container-host-network", func(t *testing.T) {
		port := greetingHost(t)
		id := newID()
		mutate := chain(withoutNamespace(specs.NetworkNamespace), func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.sandlock.port_remap": "true"}
		})
		out := escapeRun(t, id, mutate, nil, "/escape/portremap", strconv.Itoa(port))
		requireAllOK(t, out, "bind", "getsockname", "loopback_connect", "getpeername", "proc_net_tcp")
		st := mustState(t, id)
		ann, _ := st["annotations"].(map[string]any)
		var ports map[string]int
		s, _ := ann["io.sandlock.ports"].(string)
		if err := json.Unmarshal([]byte(s), &ports); err != nil || ports[strconv.Itoa(port)] == 0 || ports[strconv.Itoa(port)] == port {
			t.Errorf("state's io.sandlock.ports = %q: want %d mapped to another real port", s, port)
		}
	})
	t.Run("two-containers", func(t *testing.T) {
		// Container A binds P (free: its real port is P itself) and waits for a client; B
		// binds P too while A holds it, and reaches its own listener on P.
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		p := strconv.Itoa(port)
		mutate := chain(withoutNamespace(specs.NetworkNamespace), func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.sandlock.port_remap": "true"}
		})
		a, _, _ := running(t, mutate, "sh", "-c", "echo A | nc -l -p "+p)
		deadline := time.Now().Add(waitTimeout)
		var ports map[string]int
		for ports[p] == 0 && time.Now().Before(deadline) {
			ann, _ := mustState(t, a)["annotations"].(map[string]any)
			s, _ := ann["io.sandlock.ports"].(string)
			_ = json.Unmarshal([]byte(s), &ports)
			time.Sleep(pollEvery)
		}
		if ports[p] != port {
			t.Fatalf("container A: io.sandlock.ports %v, want %d on itself", ports, port)
		}
		id := newID()
		out := escapeRun(t, id, mutate, nil, "/escape/portremap", p)
		requireAllOK(t, out, "bind", "getsockname", "loopback_connect", "getpeername", "proc_net_tcp")
		ann, _ := mustState(t, id)["annotations"].(map[string]any)
		s, _ := ann["io.sandlock.ports"].(string)
		var bp map[string]int
		if err := json.Unmarshal([]byte(s), &bp); err != nil || bp[p] == 0 || bp[p] == port {
			t.Errorf("container B: io.sandlock.ports %q, want %d on another real port", s, port)
		}
		// A still holds its port, untouched by B: a client from the host gets A's greeting.
		c, err := net.Dial("tcp4", "127.0.0.1:"+p)
		if err != nil {
			t.Fatalf("container A's listener: %v", err)
		}
		defer c.Close()
		b := make([]byte, 2)
		if n, _ := c.Read(b); string(b[:n]) != "A\n" {
			t.Errorf("the host reached %q on %d, want container A's greeting", b[:n], port)
		}
	})
}

// requireAllOK: every named verdict is present and ok, and no line is not ok.
func requireAllOK(t *testing.T, out string, names ...string) {
	t.Helper()
	got := verdicts(t, out)
	for n, v := range got {
		if v != "ok" {
			t.Errorf("%s: %s", n, v)
		}
	}
	for _, n := range names {
		if got[n] != "ok" {
			t.Errorf("%s: %q, want ok", n, got[n])
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
