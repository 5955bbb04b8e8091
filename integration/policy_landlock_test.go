package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The Landlock policy fields, through the real runtime: each is set with its io.sandlock.*
// annotation on a busybox bundle, and the container runs one allowed and one refused action.

// annotated sets annotations and leaves the host network, so TCP is decided by the port rules.
func annotated(kv map[string]string) func(*specs.Spec) {
	return func(s *specs.Spec) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for k, v := range kv {
			s.Annotations[k] = v
		}
		withoutNamespace(specs.NetworkNamespace)(s)
	}
}

// runScript runs sh -c script in a new bundle after files (rootfs-relative) are written into
// its rootfs, and returns stdout, stderr and the exit code.
func runScript(t *testing.T, kv map[string]string, files map[string]string, script string) (string, string, int) {
	t.Helper()
	b := newBundleWith(t, annotated(kv), "sh", "-c", script)
	for name, content := range files {
		p := filepath.Join(b, "rootfs", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	id := newID()
	track(t, id)
	return rt(t, "run", "--bundle", b, id)
}

// tries runs each command and prints "name=ok" or "name=refused", so one container checks
// many spellings and the test names the one that got through.
func tries(cmds [][2]string) string {
	var b strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&b, "if %s >/dev/null 2>&1; then echo %s=ok; else echo %s=refused; fi\n", c[1], c[0], c[0])
	}
	return b.String()
}

func wantTries(t *testing.T, out, stderr string, code int, want map[string]string) {
	t.Helper()
	if code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	for k, v := range want {
		if !strings.Contains(out, k+"="+v+"\n") {
			t.Errorf("%s: want %s; output:\n%s", k, v, out)
		}
	}
}

func TestPolicyFSDenied(t *testing.T) {
	kv := map[string]string{"io.sandlock.fs_denied": `["/etc/secret"]`}
	files := map[string]string{"etc/secret": "s3cret\n", "etc/other": "fine\n"}
	script := tries([][2]string{
		{"sibling", "cat /etc/other"},
		{"list", "ls /etc"},
		{"tmp", "echo x > /tmp/x"},
		{"direct", "cat /etc/secret"},
		{"dotdot", "cat /etc/../etc/./secret"},
		{"symlink", "ln -s /etc/secret /tmp/l && cat /tmp/l"},
		{"hardlink", "ln /etc/secret /tmp/h"},
		{"procroot", "cat /proc/self/root/etc/secret"},
		{"proccwd", "cd /etc && cat /proc/self/cwd/secret"},
		{"overwrite", "echo x > /etc/secret"},
		{"mvfile", "mv /etc/secret /tmp/s"},
		{"mvparent", "mv /etc /tmp/etc"}, // last: where it is not refused it moves /etc away
	})
	out, stderr, code := runScript(t, kv, files, script)
	wantTries(t, out, stderr, code, map[string]string{
		"sibling": "ok", "list": "ok", "tmp": "ok",
		"direct": "refused", "dotdot": "refused", "symlink": "refused", "hardlink": "refused",
		"mvparent": "refused", "mvfile": "refused", "procroot": "refused", "proccwd": "refused",
		"overwrite": "refused",
	})
	if strings.Contains(out, "s3cret") {
		t.Errorf("the denied file's content leaked:\n%s", out)
	}
}

func TestPolicyFSReadableWritable(t *testing.T) {
	kv := map[string]string{
		"io.sandlock.fs_readable": `["/bin", "/etc", "/lib64"]`,
		"io.sandlock.fs_writable": `["/tmp"]`,
	}
	files := map[string]string{"root/f": "private\n", "mnt/f": "x\n"}
	script := tries([][2]string{
		{"readable", "cat /etc/passwd"},
		{"writable", "echo x > /tmp/x"},
		{"devnull", "echo x > /dev/null"},
		{"unlisted", "cat /root/f"},
		{"unlisted2", "cat /mnt/f"},
		{"readonly", "echo x > /etc/new"},
	})
	out, stderr, code := runScript(t, kv, files, script)
	wantTries(t, out, stderr, code, map[string]string{
		"readable": "ok", "writable": "ok", "devnull": "ok",
		"unlisted": "refused", "unlisted2": "refused", "readonly": "refused",
	})
}

// hostListener accepts and closes connections until the test ends.
func hostListener(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestPolicyNetConnect(t *testing.T) {
	allowed, other := hostListener(t), hostListener(t)
	kv := map[string]string{"io.sandlock.net_connect": fmt.Sprintf(`[%d]`, allowed)}
	script := fmt.Sprintf("nc -w 2 127.0.0.1 %d </dev/null && echo allowed=ok\n"+
		"nc -w 2 127.0.0.1 %d </dev/null 2>&1 || echo other=refused\n", allowed, other)
	out, stderr, code := runScript(t, kv, nil, script)
	if code != 0 || !strings.Contains(out, "allowed=ok") || !strings.Contains(out, "other=refused") ||
		!strings.Contains(out, "Permission denied") {
		t.Errorf("exit %d, stdout %q, stderr %q; want the listed port connected, the other refused (EACCES)", code, out, stderr)
	}
}

// TestPolicyNetBind: nc -l -w 1 times out after binding and listening; a refused bind says so.
func TestPolicyNetBind(t *testing.T) {
	allowed, other := freeHostPort(t), freeHostPort(t)
	kv := map[string]string{"io.sandlock.net_bind": fmt.Sprintf(`["%d-%d"]`, allowed, allowed)}
	script := fmt.Sprintf("nc -l -p %d -w 1 2>&1; nc -l -p %d -w 1 2>&1; true", allowed, other)
	out, stderr, _ := runScript(t, kv, nil, script)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "timed out") || !strings.Contains(lines[1], "Permission denied") {
		t.Errorf("stdout %q, stderr %q; want the listed port bound (nc timed out) and the other refused", out, stderr)
	}
}

func freeHostPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// A port list the runtime will not expand fails create with the field named.
func TestPolicyNetPortsRefused(t *testing.T) {
	kv := map[string]string{"io.sandlock.net_bind": `["1-65535"]`}
	_, stderr, code := runScript(t, kv, nil, "true")
	if code == 0 || !strings.Contains(stderr, "net_bind: more than 4096 ports") {
		t.Errorf("exit %d, stderr %q; want create refused naming net_bind", code, stderr)
	}
}

// TestPolicyGPUDevices: this host has no GPU, so the nodes are made by the runtime from
// linux.devices (NVIDIA's major 195) with no driver behind them. Opening one Landlock allows
// fails with ENXIO ("No such device or address"); one it refuses fails with EACCES.
func TestPolicyGPUDevices(t *testing.T) {
	withGPUs := func(s *specs.Spec) {
		annotated(map[string]string{"io.sandlock.gpu_devices": `[0]`})(s)
		mode := os.FileMode(0o666)
		for i, n := range []string{"nvidia0", "nvidia1", "nvidiactl"} {
			minor := int64(i)
			if n == "nvidiactl" {
				minor = 255
			}
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{
				Path: "/dev/" + n, Type: "c", Major: 195, Minor: minor, FileMode: &mode})
		}
	}
	b := newBundleWith(t, withGPUs, "sh", "-c",
		"for d in nvidia0 nvidiactl nvidia1; do cat /dev/$d 2>&1; done; echo $CUDA_VISIBLE_DEVICES")
	id := newID()
	track(t, id)
	out, stderr, _ := rt(t, "run", "--bundle", b, id)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[3] != "0" {
		t.Errorf("stdout %q; want CUDA_VISIBLE_DEVICES=0 set for gpu_devices [0]", out)
	}
	if len(lines) < 3 || strings.Contains(lines[0], "Permission denied") ||
		strings.Contains(lines[1], "Permission denied") || !strings.Contains(lines[2], "Permission denied") {
		t.Errorf("stdout %q, stderr %q; want nvidia0 and nvidiactl opened (ENXIO: no driver), nvidia1 refused", out, stderr)
	}
}
