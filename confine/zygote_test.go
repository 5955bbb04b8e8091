package confine

import (
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The zygote is forked straight from the test process: the child runs only C code and never
// returns to Go, so this exercises the real case of forking from a multi-threaded Go program.

// zygote is one forked zygote as the supervisor side sees it.
type zygote struct {
	s        int      // the supervisor's end of ctl
	pid      int      // the zygote
	ctl      int      // ctl's number in the zygote
	kill     int      // killFD's number in the zygote
	killR    *os.File // read end of the pipe standing in for cgroup.kill
	null     *os.File // stdio for spawned processes
	reaped   bool
	sClosed  bool
	waitStat unix.WaitStatus
}

func startZygote(t *testing.T) *zygote {
	t.Helper()
	execRequireRoot(t)
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A broken zygote must fail the test, not hang it.
	tv := unix.Timeval{Sec: 10}
	if err := unix.SetsockoptTimeval(sp[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	killR, killW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	null, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	z := &zygote{s: sp[0], ctl: sp[1], kill: int(killW.Fd()), killR: killR, null: null}
	runtime.LockOSThread()
	z.pid, err = ForkZygote(sp[1], z.kill, int(null.Fd()))
	runtime.UnlockOSThread()
	unix.Close(sp[1])
	killW.Close()
	if err != nil {
		t.Fatalf("ForkZygote: %v", err)
	}
	t.Cleanup(z.cleanup)
	return z
}

func (z *zygote) cleanup() {
	if !z.reaped {
		unix.Kill(z.pid, unix.SIGKILL)
		unix.Wait4(z.pid, nil, 0, nil)
	}
	z.closeS()
	z.killR.Close()
	z.null.Close()
}

func (z *zygote) closeS() {
	if !z.sClosed {
		unix.Close(z.s)
		z.sClosed = true
	}
}

// wait reaps the zygote and checks it exited with status 0.
func (z *zygote) wait(t *testing.T) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := unix.Wait4(z.pid, &z.waitStat, 0, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wait4 zygote: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("zygote did not exit")
	}
	z.reaped = true
	if !z.waitStat.Exited() || z.waitStat.ExitStatus() != 0 {
		t.Errorf("zygote wait status %#x, want exit 0", int(z.waitStat))
	}
}

func (z *zygote) spawn(t *testing.T, reqid uint32, img ProcessImage, stdout int) {
	t.Helper()
	buf, err := img.Pack()
	if err != nil {
		t.Fatal(err)
	}
	nullFD := int(z.null.Fd())
	if stdout < 0 {
		stdout = nullFD
	}
	if err := SendSpawn(z.s, reqid, buf, [3]int{nullFD, stdout, nullFD}); err != nil {
		t.Fatal(err)
	}
}

func (z *zygote) read(t *testing.T) ZygoteMsg {
	t.Helper()
	m, err := ReadZygoteMsg(z.s)
	if err != nil {
		t.Fatalf("ReadZygoteMsg: %v", err)
	}
	if m.PidFD >= 0 {
		t.Cleanup(func() { unix.Close(m.PidFD) })
	}
	return m
}

func wantSpawned(t *testing.T, m ZygoteMsg, reqid uint32) {
	t.Helper()
	if m.Type != ZygoteSpawned || m.ReqID != reqid || m.Pid <= 0 || m.Errno != 0 || m.Err != "" || m.PidFD < 0 {
		t.Fatalf("got %+v, want SPAWNED reqid %d with a pid, a pidfd and no error", m, reqid)
	}
}

func wantExited(t *testing.T, m ZygoteMsg, pid, code int) {
	t.Helper()
	if m.Type != ZygoteExited || m.Pid != pid || !m.Status.Exited() || m.Status.ExitStatus() != code {
		t.Fatalf("got %+v (status %#x), want EXITED pid %d code %d", m, int(m.Status), pid, code)
	}
}

// pidfdPid reads the pid a pidfd refers to from fdinfo.
func pidfdPid(t *testing.T, fd int) int {
	t.Helper()
	st := procStatus(t, "/proc/self/fdinfo/"+strconv.Itoa(fd))
	pid, err := strconv.Atoi(st["Pid"])
	if err != nil {
		t.Fatalf("pidfd %d fdinfo Pid %q: %v", fd, st["Pid"], err)
	}
	return pid
}

func shImage(script string, uid uint32) ProcessImage {
	return ProcessImage{Path: "/bin/sh", Args: []string{"sh", "-c", script},
		Env: []string{"PATH=/usr/bin:/bin"}, Umask: -1, UID: uid, GID: uid}
}

func TestZygoteSpawnExit(t *testing.T) {
	z := startZygote(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	// W must start with default signal state although Z ignores and blocks signals.
	// The shell reads its own status with builtins only: a shell blocks every signal while it
	// forks a child, so a forked grep could catch that transient mask. It then lives a little
	// so that its pidfd is checked while it runs.
	z.spawn(t, 42, shImage(`echo out; id -u; while read -r l; do case $l in SigBlk*|SigIgn*) echo "$l";; esac; done </proc/$$/status; sleep 0.3; exit 7`, 65534), int(pw.Fd()))
	pw.Close()
	m := z.read(t)
	wantSpawned(t, m, 42)
	if got := pidfdPid(t, m.PidFD); got != m.Pid {
		t.Errorf("pidfd refers to pid %d, want %d", got, m.Pid)
	}
	out, err := io.ReadAll(pr)
	want := "out\n65534\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
	if err != nil || string(out) != want {
		t.Errorf("spawned stdout = %q (%v), want %q", out, err, want)
	}
	wantExited(t, z.read(t), m.Pid, 7)
	checkZygoteFDs(t, z)

	// Termination signals are ignored: the zygote still answers afterwards.
	if err := unix.Kill(z.pid, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	z.spawn(t, 43, shImage("exit 0", 0), -1)
	m = z.read(t)
	wantSpawned(t, m, 43)
	wantExited(t, z.read(t), m.Pid, 0)
}

// checkZygoteFDs checks the zygote holds only /dev/null on 0-2, ctl, killFD and its signalfd.
func checkZygoteFDs(t *testing.T, z *zygote) {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(z.pid) + "/fd/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	signalfds := 0
	for _, e := range ents {
		fd, _ := strconv.Atoi(e.Name())
		target, _ := os.Readlink(dir + e.Name())
		switch {
		case fd <= 2 && target == "/dev/null", fd == z.ctl && strings.HasPrefix(target, "socket:"),
			fd == z.kill && strings.HasPrefix(target, "pipe:"):
		case target == "anon_inode:[signalfd]":
			signalfds++
		default:
			t.Errorf("zygote holds fd %d -> %s", fd, target)
		}
	}
	if len(ents) != 6 || signalfds != 1 {
		t.Errorf("zygote has %d fds with %d signalfds, want 6 with 1", len(ents), signalfds)
	}
}

func TestZygoteSpawnMissingThenDrain(t *testing.T) {
	z := startZygote(t)
	z.spawn(t, 7, ProcessImage{Path: "/nonexistent-sl/prog", Umask: -1}, -1)
	m := z.read(t)
	wantMsg := `exec "/nonexistent-sl/prog": no such file or directory`
	if m.Type != ZygoteSpawned || m.ReqID != 7 || m.Pid != 0 || m.Errno != int(unix.ENOENT) || m.Err != wantMsg || m.PidFD != -1 {
		t.Fatalf("got %+v, want SPAWNED reqid 7, no pid, ENOENT %q", m, wantMsg)
	}
	if err := m.SpawnErr(); !errors.Is(err, unix.ENOENT) {
		t.Errorf("SpawnErr = %v, want ENOENT", err)
	}

	// Wrong fd count is refused without forking.
	if err := unix.Sendmsg(z.s, EncodeSpawn(8, []byte("x")), unix.UnixRights(int(z.null.Fd())), nil, 0); err != nil {
		t.Fatal(err)
	}
	if m := z.read(t); m.Type != ZygoteSpawned || m.ReqID != 8 || m.Pid != 0 || m.Errno != int(unix.EINVAL) {
		t.Fatalf("1 fd: got %+v, want SPAWNED reqid 8 EINVAL", m)
	}

	// No children: DRAIN exits at once, and no EXITED was ever sent for the failed spawn.
	if _, err := unix.Write(z.s, EncodeDrain()); err != nil {
		t.Fatal(err)
	}
	if m, err := ReadZygoteMsg(z.s); !errors.Is(err, io.EOF) {
		t.Fatalf("after DRAIN: got %+v, %v; want EOF", m, err)
	}
	z.wait(t)
	if b, _ := io.ReadAll(z.killR); len(b) != 0 {
		t.Errorf("drain wrote %q to the kill fd, want nothing", b)
	}
}

func TestZygoteDrainWaitsForChildren(t *testing.T) {
	z := startZygote(t)
	z.spawn(t, 1, shImage("sleep 0.3; exit 3", 0), -1)
	m := z.read(t)
	wantSpawned(t, m, 1)
	if _, err := unix.Write(z.s, EncodeDrain()); err != nil {
		t.Fatal(err)
	}
	z.spawn(t, 2, shImage("exit 0", 0), -1)
	if r := z.read(t); r.Type != ZygoteSpawned || r.ReqID != 2 || r.Pid != 0 || r.Errno != int(unix.ESHUTDOWN) {
		t.Fatalf("spawn while draining: got %+v, want ESHUTDOWN", r)
	}
	wantExited(t, z.read(t), m.Pid, 3)
	if m, err := ReadZygoteMsg(z.s); !errors.Is(err, io.EOF) {
		t.Fatalf("after last child: got %+v, %v; want EOF", m, err)
	}
	z.wait(t)
}

func TestZygoteHangupKills(t *testing.T) {
	z := startZygote(t)
	z.closeS()
	if err := z.killR.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z.killR)
	if err != nil || string(b) != "1" {
		t.Errorf("kill fd got %q (%v), want \"1\"", b, err)
	}
	z.wait(t)
}

func TestForkZygoteBadFDs(t *testing.T) {
	for _, c := range [][3]int{{1, -1, 5}, {5, 2, 6}, {5, 5, 6}, {5, -1, 5}, {5, -3, 6}} {
		if _, err := ForkZygote(c[0], c[1], c[2]); !errors.Is(err, unix.EINVAL) {
			t.Errorf("ForkZygote%v = %v, want EINVAL", c, err)
		}
	}
}
