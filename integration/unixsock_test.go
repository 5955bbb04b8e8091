package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// greeter listens on a unix socket and greets every connection with greeting; it counts them.
func greeter(t *testing.T, path, greeting string) *atomic.Int64 {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
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
			_, _ = c.Write([]byte(greeting))
			c.Close()
		}
	}()
	return n
}

// dgramSink binds a unix datagram socket at path and counts the datagrams it receives.
func dgramSink(t *testing.T, path string) *atomic.Int64 {
	t.Helper()
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	n := &atomic.Int64{}
	go func() {
		buf := make([]byte, 256)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	return n
}

// TestEscapeUnixSocketPath: where the sandbox has the host's file system, a listening unix
// socket outside fs_writable cannot be connected to by any spelling, nor by racing the
// address; one inside fs_writable can. The same for datagrams sent by path (sendto, sendmsg,
// sendmmsg). Unconfined, every attempt reaches the denied socket.
func TestEscapeUnixSocketPath(t *testing.T) {
	bins := escapeBins(t)
	base, err := os.MkdirTemp("", "unixsock-") // short: sun_path holds 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	denDir, allowDir := filepath.Join(base, "host"), filepath.Join(base, "w")
	for _, d := range []string{denDir, allowDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	denied, allowed := filepath.Join(denDir, "d.sock"), filepath.Join(allowDir, "a.sock")
	hits := greeter(t, denied, "D\n")
	greeter(t, allowed, "A\n")
	dDenied, dAllowed := filepath.Join(denDir, "d.dgram"), filepath.Join(allowDir, "a.dgram")
	dgramHits, dgramOK := dgramSink(t, dDenied), dgramSink(t, dAllowed)
	prog := filepath.Join(bins, "unixconn")

	t.Run("unconfined", func(t *testing.T) {
		out, _ := exec.Command(prog, denied, allowed, allowDir, dDenied, dAllowed).Output()
		got := verdicts(t, string(out))
		for _, n := range []string{"unix_denied_direct", "unix_denied_relative", "unix_denied_symlink",
			"unix_denied_proc_fd_dir", "unix_denied_proc_cwd", "dgram_sendto_denied", "dgram_sendmsg_denied",
			"dgram_sendmmsg_denied", "dgram_denied_relative", "dgram_denied_symlink", "dgram_denied_proc_fd_dir"} {
			if got[n] != "ESCAPED" {
				t.Errorf("%s unconfined: %s, want ESCAPED (the attempt must work without confinement)", n, got[n])
			}
		}
	})
	t.Run("sandbox", func(t *testing.T) {
		before, dBefore, okBefore := hits.Load(), dgramHits.Load(), dgramOK.Load()
		flags := []string{"-r", "/usr", "-r", "/lib", "-r", "/lib64", "-r", "/bin", "-r", bins, "-w", allowDir}
		r := rtWith(t, nil, sandboxArgs(flags, prog, denied, allowed, allowDir, dDenied, dAllowed)...)
		got := verdicts(t, r.stdout)
		if got["dgram_race"] == "" || got["dgram_sendto_denied"] == "" {
			t.Errorf("the datagram attempts did not run")
		}
		time.Sleep(200 * time.Millisecond) // the sinks' readers may lag behind the sends
		if d := dgramHits.Load() - dBefore; d != 0 {
			t.Errorf("the denied datagram socket received %d datagrams from the sandbox", d)
		}
		if dgramOK.Load() == okBefore {
			t.Errorf("the allowed datagram socket received nothing: the attempts proved nothing")
		}
		for name, v := range got {
			if v != "ok" {
				t.Errorf("%s: %s", name, v)
			}
		}
		if d := hits.Load() - before; d != 0 {
			t.Errorf("the denied socket accepted %d connections from the sandbox", d)
		}
		if t.Failed() {
			t.Logf("output:\n%s%s", r.stdout, r.stderr)
		}
	})
}
