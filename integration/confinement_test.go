package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// runOut runs a container to completion and returns stdout and the exit code.
func runOut(t *testing.T, mutate func(*specs.Spec), args ...string) (string, string, int) {
	t.Helper()
	b := newBundleWith(t, mutate, args...)
	id := newID()
	track(t, id)
	return rt(t, "run", "--bundle", b, id)
}

// The supervisor is the container's lifeline: killing it kills every process of the
// container (also one that called setsid), and state then says stopped.
func TestSupervisorDeathKillsContainer(t *testing.T) {
	id, _, _ := running(t, nil, "sh", "-c", "setsid sleep 200 & (sleep 300 &); sleep 100")
	var pids []int
	for deadline := time.Now().Add(waitTimeout); len(pids) < 3 && time.Now().Before(deadline); time.Sleep(pollEvery) {
		pids = psPids(t, id) // until the shell has started both
	}
	if len(pids) < 3 {
		t.Fatalf("ps: got %v, want init and its two descendants", pids)
	}
	if err := unix.Kill(supervisorPid(t, id), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, id, "stopped")
	if left := waitGone(pids); len(left) > 0 {
		t.Errorf("processes %v outlived the supervisor", left)
	}
}

// Hooks run at their points of the lifecycle with the state on stdin.
func TestHooks(t *testing.T) {
	dir := t.TempDir()
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + filepath.Join(dir, name)}}
	}
	b := newBundleWith(t, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{
			CreateRuntime:   []specs.Hook{hook("createRuntime")},
			CreateContainer: []specs.Hook{hook("createContainer")},
			Poststart:       []specs.Hook{hook("poststart")},
			Poststop:        []specs.Hook{hook("poststop")},
			StartContainer:  []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo started > /dev/shm/hook"}}},
		}
	}, "sh", "-c", "cat /dev/shm/hook")
	id := newID()
	track(t, id)
	out, stderr, code := rt(t, "run", "--bundle", b, id)
	if code != 0 || out != "started\n" {
		t.Errorf("startContainer hook: run printed %q (exit %d), want %q: %s", out, code, "started\n", stderr)
	}
	for name, status := range map[string]string{
		"createRuntime": "created", "createContainer": "created", "poststart": "running", "poststop": "stopped",
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s hook did not run: %v", name, err)
			continue
		}
		var st specs.State
		if err := json.Unmarshal(b, &st); err != nil || st.ID != id || string(st.Status) != status {
			t.Errorf("%s hook got state %s (%v), want id %s status %s", name, b, err, id, status)
		}
	}
}

// A failing createRuntime hook fails create and leaves nothing behind.
func TestFailingHookFailsCreate(t *testing.T) {
	b := newBundleWith(t, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/false"}}}
	}, "true")
	id := newID()
	track(t, id)
	_, stderr, code := rt(t, "create", "--bundle", b, id)
	if code == 0 || !strings.Contains(stderr+lastLogMsg(t), "createRuntime") {
		t.Fatalf("create with a failing hook: exit %d, stderr %q; want failure naming the hook", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
		t.Errorf("failed create left its state dir")
	}
}

// --preserve-fds passes fds 3.. into the container; no other fd of the caller leaks in.
func TestPreserveFDs(t *testing.T) {
	b := newBundle(t, "sh", "-c", "echo via-fd3 >&3; ls /proc/self/fd | tr '\\n' ' '")
	id := newID()
	track(t, id)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	extra, _ := os.Open("/dev/null") // becomes fd 4 in the runtime: must not reach the container
	defer extra.Close()
	res := rtWith(t, func(c *exec.Cmd) { c.ExtraFiles = []*os.File{w, extra} },
		"run", "--preserve-fds", "1", "--bundle", b, id)
	w.Close()
	got := make([]byte, 64)
	n, _ := r.Read(got)
	if res.code != 0 || string(got[:n]) != "via-fd3\n" {
		t.Errorf("preserved fd 3: exit %d, read %q, want %q: %s", res.code, got[:n], "via-fd3\n", res.stderr)
	}
	// ls itself opens one fd to read the directory (3 after the preserved one is 4 at most).
	if fds := strings.Fields(res.stdout); len(fds) > 5 {
		t.Errorf("container sees fds %v, want only 0-3 (+ ls's own)", fds)
	}
}

// No network namespace requested = host network; a network namespace without a path = no
// network at all.
func TestNetworkTranslation(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, "hello-from-host\n")
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	cmd := fmt.Sprintf("nc 127.0.0.1 %d </dev/null", port)
	withNet := func(want bool) func(*specs.Spec) {
		return func(s *specs.Spec) {
			withoutNamespace(specs.NetworkNamespace)(s)
			if want {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
			}
		}
	}
	out, stderr, code := runOut(t, withNet(false), "sh", "-c", cmd)
	if code != 0 || out != "hello-from-host\n" {
		t.Errorf("host network: nc got %q exit %d, want the host's greeting: %s", out, code, stderr)
	}
	out, _, code = runOut(t, withNet(true), "sh", "-c", cmd)
	if code == 0 || strings.Contains(out, "hello") {
		t.Errorf("network namespace (no network): nc got %q exit %d, want it refused", out, code)
	}
}

// Namespace requests that cannot be translated, and anything that would change the host, are
// refused at create with a message naming them, leaving nothing behind.
func TestRefusedConfigs(t *testing.T) {
	cases := []struct {
		name, want string
		mutate     func(*specs.Spec)
	}{
		{"namespace path", "path", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces[:0:0], specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: foreignNetNS(t)})
		}},
		{"user namespace", "user", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}},
		{"sysctl", "sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.domainname": "x"} }},
		{"hostname without uts", "hostname", func(s *specs.Spec) {
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.UTSNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces, s.Hostname = ns, "other"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBundleWith(t, c.mutate, "true")
			id := newID()
			track(t, id)
			_, stderr, code := rt(t, "create", "--bundle", b, id)
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Errorf("create: exit %d, stderr %q; want a refusal mentioning %q", code, stderr, c.want)
			}
			if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
				t.Errorf("refused create left a state dir")
			}
		})
	}
}

// Ways out of the container that the foundation's minimal confinement must close.
func TestBasicEscapesRefused(t *testing.T) {
	cases := []struct{ name, script string }{
		{"host root via /proc/1/root", "cat /proc/1/root/etc/hostname"},
		{"mount", "mount -t tmpfs none /tmp"},
		{"unshare user namespace", "unshare -U true"},
		{"chroot", "chroot / true"},
		{"signal a host process", fmt.Sprintf("kill -0 %d", os.Getpid())},
		{"write the read-only root", "touch /escape-test"},
		{"write /proc/sys", "echo 1 > /proc/sys/kernel/sysrq"},
		{"create a device node", "mknod /dev/shm/sda b 8 0"},
	}
	mutate := func(s *specs.Spec) { s.Root.Readonly = true }
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, code := runOut(t, mutate, "sh", "-c", c.script+" && echo ESCAPED")
			if code == 0 || strings.Contains(out, "ESCAPED") {
				t.Errorf("%q succeeded inside the container (exit %d, out %q, err %q)", c.script, code, out, stderr)
			}
		})
	}
}

// exec can run as another user than init, as runc allows.
func TestExecUser(t *testing.T) {
	id, _, _ := running(t, nil, "sleep", "100")
	out, stderr, code := rt(t, "exec", "--user", "65534:65534", id, "id")
	if code != 0 || !strings.Contains(out, "uid=65534") || !strings.Contains(out, "gid=65534") {
		t.Errorf("exec --user 65534:65534 id: exit %d, %q, want uid/gid 65534: %s", code, out, stderr)
	}
}

// `run DIR` uses DIR as the bundle when it holds a config.json, as the issue asks.
func TestRunBundleDir(t *testing.T) {
	b := newBundle(t, "echo", "bundle-dir")
	e := envFor(t)
	track(t, filepath.Base(b))
	cmd := exec.Command(runtimeBin, "--root", e.root, "run", b)
	out, err := cmd.Output()
	if err != nil || string(out) != "bundle-dir\n" {
		t.Errorf("run DIR: %q, %v; want %q", out, err, "bundle-dir\n")
	}
}

// Go-style single-dash long flags parse where runc accepts them.
func TestSingleDashFlags(t *testing.T) {
	e := envFor(t)
	out, err := exec.Command(runtimeBin, "-root", e.root, "list", "-q").CombinedOutput()
	if err != nil {
		t.Errorf("-root X list -q: %v: %s", err, out)
	}
}

// run with process.terminal in the foreground is interactive: it relays a pty.
func TestRunTerminal(t *testing.T) {
	b := newBundleWith(t, func(s *specs.Spec) { s.Process.Terminal = true }, "sh")
	id := newID()
	track(t, id)
	out, code := inPTY(t, "tty && echo IS-A-TTY; exit 4\n", "run", "--bundle", b, id)
	if code != 4 || !strings.Contains(out, "IS-A-TTY") || !strings.Contains(out, "/dev/pts/") {
		t.Errorf("run -t: exit %d, output %q; want 4 and a /dev/pts tty", code, out)
	}
}

// inPTY runs the runtime with a pty as its stdio, types input once the container has written
// something (its shell's prompt: the relay is up and the terminal in raw mode, so the input is
// neither flushed nor echoed twice), and returns everything written to the terminal and the exit
// code.
func inPTY(t *testing.T, input string, args ...string) (string, int) {
	t.Helper()
	master, slave, err := openPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	cmd := exec.Command(runtimeBin, append([]string{"--root", envFor(t).root}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var got strings.Builder
	buf := make([]byte, 4096)
	for typed := false; ; {
		n, err := master.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
		if !typed && n > 0 {
			fmt.Fprint(master, input)
			typed = true
		}
	}
	_ = cmd.Wait()
	return got.String(), cmd.ProcessState.ExitCode()
}

func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	sl, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, sl, nil
}

// foreignNetNS returns the path of a network namespace the runtime is not in.
func foreignNetNS(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("unshare", "--net", "sleep", "30")
	if err := cmd.Start(); err != nil {
		testreq.Missing(t, fmt.Sprintf("unshare --net: %v (needed to make a foreign network namespace)", err))
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p := fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
	for i := 0; i < 100; i++ {
		a, _ := os.Readlink(p)
		b, _ := os.Readlink("/proc/self/ns/net")
		if a != "" && a != b {
			return p
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never became a new network namespace", p)
	return ""
}

// A CRI pod's containers join the pause container's namespaces by path. Joining a container of
// this runtime inherits its translated isolation; a path to the host's own namespace held by
// any other process is the host's namespace.
func TestJoinNamespaceOfContainer(t *testing.T) {
	_, pausePid, _ := running(t, nil, "sleep", "100") // runc's default: pid, network, ipc, uts, mount
	join := func(s *specs.Spec) {
		s.Hostname = ""
		s.Linux.Namespaces = []specs.LinuxNamespace{
			{Type: specs.PIDNamespace, Path: fmt.Sprintf("/proc/%d/ns/pid", pausePid)},
			{Type: specs.NetworkNamespace, Path: fmt.Sprintf("/proc/%d/ns/net", pausePid)},
			{Type: specs.MountNamespace},
		}
	}
	out, stderr, code := runOut(t, join, "sh", "-c", "nc 127.0.0.1 9 </dev/null; echo nc=$?")
	if code != 0 || !strings.Contains(stderr+out, "Address family not supported") {
		t.Errorf("joined the pause container's network namespace (no network): exit %d, out %q, err %q; want socket() refused", code, out, stderr)
	}
	host := func(s *specs.Spec) {
		s.Hostname = ""
		s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"}}
	}
	if _, stderr, code := runOut(t, host, "true"); code != 0 {
		t.Errorf("a path to the host's own network namespace: exit %d, want accepted: %s", code, stderr)
	}
}

// The stand-in for a pid namespace: when init exits, every other process of the container
// dies with it, as the kernel does for a PID namespace. Without one they live on until
// kill --all (containerd sends it then).
func TestInitExitEndsContainerWithPidNamespace(t *testing.T) {
	script := "sleep 100 & sleep 0.3"
	id, _, _ := running(t, nil, "sh", "-c", script)
	waitStatus(t, id, "stopped")
	deadline := time.Now().Add(5 * time.Second)
	for len(psPids(t, id)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if left := psPids(t, id); len(left) > 0 {
		t.Errorf("pid namespace: processes %v outlived init", left)
	}
	noPid := withoutNamespace(specs.PIDNamespace)
	id2, _, _ := running(t, noPid, "sh", "-c", script)
	waitStatus(t, id2, "stopped")
	if left := psPids(t, id2); len(left) != 1 {
		t.Errorf("no pid namespace: processes after init exited: %v, want the background sleep", left)
	}
}

// The OCI seccomp profile confines the user's programs (init's and exec's), and nothing of the
// runtime: a profile that denies close_range (used by the runtime itself before exec) must not
// break the container.
func TestOCISeccompProfileAppliesToPrograms(t *testing.T) {
	profile := func(s *specs.Spec) {
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: []specs.Arch{specs.ArchX86_64},
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"close_range"}, Action: specs.ActErrno},
				{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: ptrUint(13)},
			},
		}
	}
	id, _, _ := running(t, profile, "sleep", "100")
	out, stderr, code := rt(t, "exec", id, "sh", "-c", "mkdir /dev/shm/x 2>&1; echo rc=$?")
	if code != 0 || !strings.Contains(out, "Permission denied") || !strings.Contains(out, "rc=1") {
		t.Errorf("exec mkdir under a profile denying it with EACCES: exit %d, out %q: %s", code, out, stderr)
	}
	out, _, _ = runOut(t, profile, "sh", "-c", "mkdir /dev/shm/y 2>&1; echo rc=$?")
	if !strings.Contains(out, "Permission denied") {
		t.Errorf("init mkdir under the profile: %q, want Permission denied", out)
	}
}

func ptrUint(v uint) *uint { return &v }

// isolate_pids (a pid namespace's stand-in): /proc is mounted hidepid=ptraceable, and Landlock
// allows ptrace only within the container's domain, so host pids vanish from /proc; the
// pid-targeting syscalls act on the caller only. Without it the host's pids are visible.
func TestIsolatePIDs(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	script := "ls /proc | grep -x " + me + "; echo seen=$?; renice -n 1 -p " + me + " >/dev/null 2>&1; echo renice=$?"
	out, stderr, code := runOut(t, nil, "sh", "-c", script)
	if code != 0 || !strings.Contains(out, "seen=1") || !strings.Contains(out, "renice=1") {
		t.Errorf("pid namespace: %q (exit %d, %s); want the test's pid %s hidden and renice refused", out, code, stderr, me)
	}
	noPid := withoutNamespace(specs.PIDNamespace)
	out, _, _ = runOut(t, noPid, "sh", "-c", "ls /proc | grep -x "+me+"; echo seen=$?")
	if !strings.Contains(out, "seen=0") {
		t.Errorf("no pid namespace: %q; want the host's pid %s visible", out, me)
	}
}

// exec -t in the foreground without a console socket relays a pty, like run -t.
func TestExecTerminal(t *testing.T) {
	id, _, _ := running(t, nil, "sleep", "100")
	out, code := inPTY(t, "tty && echo EXEC-TTY; exit 6\n", "exec", "-t", id, "sh")
	if code != 6 || !strings.Contains(out, "EXEC-TTY") {
		t.Errorf("exec -t: exit %d, output %q; want 6 and a tty", code, out)
	}
}

// A crash of the runtime during create leaves a state dir without state.json, with mounts
// recorded; delete --force must still unmount them all and remove the dir.
func TestDeleteForceAfterCrash(t *testing.T) {
	id, pid, bundle := running(t, nil, "sleep", "100")
	dir := filepath.Join(envFor(t).root, id)
	sup := supervisorPid(t, id)
	// What a create killed before it wrote state.json leaves: processes gone, mounts recorded.
	_ = unix.Kill(sup, unix.SIGKILL)
	_ = unix.Kill(pid, unix.SIGKILL)
	waitGone([]int{pid, sup})
	if err := os.Remove(filepath.Join(dir, "state.json")); err != nil {
		t.Fatal(err)
	}
	if len(mountsUnder(bundle)) == 0 {
		t.Fatal("test setup: no mounts to clean up")
	}
	if out := mustState(t, id); out["status"] != "creating" {
		t.Errorf("state after the crash: %v, want creating", out["status"])
	}
	if _, stderr, code := rt(t, "delete", id); code == 0 {
		t.Errorf("delete without --force of a crashed create: exit 0, want a refusal")
	} else if !strings.Contains(stderr, "--force") {
		t.Errorf("delete without --force: %q, want a hint at --force", stderr)
	}
	if _, stderr, code := rt(t, "delete", "--force", id); code != 0 {
		t.Fatalf("delete --force after a crash: exit %d: %s", code, stderr)
	}
	if left := mountsUnder(bundle); len(left) > 0 {
		t.Errorf("mounts left after delete --force: %v", left)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("state dir left after delete --force")
	}
}

// update refuses what it cannot do with a clear message and changes nothing: a stopped
// container, input that is no linux.resources object.
func TestUpdateRefused(t *testing.T) {
	id, pid, _ := running(t, nil, "sleep", "100")
	r := rtWith(t, func(c *exec.Cmd) { c.Stdin = strings.NewReader(`{"pids":`) },
		"update", "--resources", "-", id)
	if r.code == 0 || !strings.Contains(r.stderr, "linux.resources") {
		t.Errorf("update with bad JSON: exit %d, stderr %q; want a refusal naming linux.resources", r.code, r.stderr)
	}
	if st := mustState(t, id); st["status"] != "running" {
		t.Errorf("after a refused update: status %v, want running", st["status"])
	}
	if _, _, code := rt(t, "kill", id, "KILL"); code != 0 {
		t.Fatal("kill failed")
	}
	waitGone([]int{pid})
	waitStatus(t, id, "stopped")
	if _, stderr, code := rt(t, "update", "--pids-limit", "10", id); code == 0 || !strings.Contains(stderr, "stopped") {
		t.Errorf("update of a stopped container: exit %d, stderr %q; want a refusal saying it is stopped", code, stderr)
	}
}

// A start that fails after init was told to go (a startContainer hook, the exec step) fails
// `start` with the reason, as the OCI spec requires for the hook, and the container is stopped
// by the time start returns.
func TestFailingStart(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*specs.Spec)
		args   []string
		want   string
	}{
		{"startContainer hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo hook-broke >&2; exit 3"}}}}
		}, []string{"true"}, "startContainer hook #0 (/bin/sh): exit status 3: hook-broke"},
		// exists and is executable (create checks that), but is no program: execve fails
		{"exec step", nil, []string{"/notelf"}, "exec format error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBundleWith(t, c.mutate, c.args...)
			if err := os.WriteFile(filepath.Join(b, "rootfs", "notelf"), []byte("not a program\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			id := newID()
			create(t, id, b)
			_, stderr, code := rt(t, "start", id)
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Errorf("start: exit %d, stderr %q; want a failure containing %q", code, stderr, c.want)
			}
			if st := mustState(t, id); st["status"] != "stopped" {
				t.Errorf("right after the failed start: status %v, want stopped", st["status"])
			}
		})
	}
}

// An exec does not wait for a slow startContainer hook of a concurrent start.
func TestExecDuringStartHook(t *testing.T) {
	b := newBundleWith(t, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "3"}}}}
	}, "sleep", "100")
	id := newID()
	create(t, id, b)
	wait := rtBackground(t, "start", id)
	time.Sleep(300 * time.Millisecond) // start is now in the hook
	t0 := time.Now()
	if out, stderr, code := rt(t, "exec", id, "echo", "meanwhile"); code != 0 || out != "meanwhile\n" {
		t.Errorf("exec during the hook: exit %d, stdout %q: %s", code, out, stderr)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("exec took %v: it waited for the startContainer hook", d)
	}
	if r := wait(); r.code != 0 {
		t.Errorf("start: exit %d: %s", r.code, r.stderr)
	}
}
