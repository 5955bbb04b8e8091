package criulite

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// The stand-in: the test binary re-executed with CRIULITE_STANDIN=prog sets
// ADDR_NO_RANDOMIZE (as the runtime's init does for a restore), waits for a byte on stdin and
// execs prog: Restore takes it at that exec.
func init() {
	prog := os.Getenv("CRIULITE_STANDIN")
	if prog == "" {
		return
	}
	runtime.LockOSThread()
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, 0x0040000, 0, 0); e != 0 {
		os.Exit(90)
	}
	var b [1]byte
	_, _ = os.Stdin.Read(b[:])
	err := unix.Exec(prog, []string{prog}, []string{})
	fmt.Fprintln(os.Stderr, err)
	os.Exit(91)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 || runtime.GOARCH != "amd64" {
		t.Skip("needs root on x86-64 (ptrace of other processes)")
	}
}

// compile builds testdata/NAME.c statically.
func compile(t *testing.T, name string, extra ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		testreq.Missing(t, "needs gcc and a static libc (hack/install-deps.sh)")
	}
	bin := filepath.Join(t.TempDir(), name)
	args := append([]string{"-static", "-O1", "-o", bin, filepath.Join("testdata", name+".c")}, extra...)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}

// lines reads r's lines into a channel.
func lines(r io.Reader) chan string {
	ch := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	return ch
}

func next(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatal("the program's output ended")
		}
		return l
	case <-time.After(60 * time.Second):
		t.Fatal("no output from the program")
	}
	return ""
}

// drainNums reads what a stopped program printed until its output closed: the last number, or
// last when it printed nothing more.
func drainNums(t *testing.T, out chan string, last int) int {
	t.Helper()
	for l := range out {
		last = firstNum(t, l)
	}
	return last
}

// countsOn checks that the restored program goes on counting from last, n lines, and returns
// where it got to.
func countsOn(t *testing.T, out chan string, last, n int, what string) int {
	t.Helper()
	for range n {
		got := firstNum(t, next(t, out))
		if got != last+1 {
			t.Fatalf("after the restore the %s went %d -> %d", what, last, got)
		}
		last = got
	}
	return last
}

func firstNum(t *testing.T, l string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.Fields(l)[0])
	if err != nil {
		t.Fatalf("line %q", l)
	}
	return n
}

// startProg runs bin with its stdout on a pipe.
func startProg(t *testing.T, bin string) (*exec.Cmd, chan string) {
	t.Helper()
	cmd := exec.Command(bin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, lines(out)
}

// restoreInto restores img into a fresh stand-in that execs bin, and returns its output.
func restoreInto(t *testing.T, img *Image, bin string) (*exec.Cmd, chan string, *Restored) {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = []string{"CRIULITE_STANDIN=" + bin}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	res, err := Restore(img, RestoreOpts{Pid: cmd.Process.Pid, Start: func() error { _, err := in.Write([]byte{1}); return err }})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	return cmd, lines(out), res
}

func dumpSaved(t *testing.T, pids []int, leave bool) *Image {
	t.Helper()
	img, err := Dump(DumpOpts{Pids: pids, Root: "/", LeaveRunning: leave})
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	dir := t.TempDir()
	if err := img.Write(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func TestCounterContinues(t *testing.T) {
	needRoot(t)
	bin := compile(t, "counter")
	cmd, out := startProg(t, bin)
	var last int
	for range 5 {
		last = firstNum(t, next(t, out))
	}
	img := dumpSaved(t, []int{cmd.Process.Pid}, false)
	_ = cmd.Wait()
	last = drainNums(t, out, last) // what it printed before the checkpoint stopped it
	_, out2, _ := restoreInto(t, img, bin)
	got := firstNum(t, next(t, out2))
	if got != last+1 {
		t.Fatalf("after restore the counter printed %d, want %d (it was at %d)", got, last+1, last)
	}
	for range 5 { // it goes on (malloc through the restored brk, usleep)
		n := firstNum(t, next(t, out2))
		if n != got+1 {
			t.Fatalf("counter went %d -> %d", got, n)
		}
		got = n
	}
}

func TestThreadsContinue(t *testing.T) {
	needRoot(t)
	bin := compile(t, "threads", "-pthread")
	cmd, out := startProg(t, bin)
	var last string
	for range 10 {
		last = next(t, out)
	}
	img := dumpSaved(t, []int{cmd.Process.Pid}, false)
	if n := len(img.Processes[0].Threads); n != 4 {
		t.Fatalf("saved %d threads, want 4", n)
	}
	_ = cmd.Wait()
	for l := range out {
		last = l
	}
	_, out2, _ := restoreInto(t, img, bin)
	var wakes, sleeps int
	fmt.Sscanf(strings.SplitN(last, " ", 2)[1], "wakes=%d sleeps=%d", &wakes, &sleeps)
	want := firstNum(t, last) + 1
	for range 20 {
		l := next(t, out2)
		if n := firstNum(t, l); n != want {
			t.Fatalf("after %q came %q", last, l)
		}
		want++
		last = l
	}
	var w2, s2, spin int
	fmt.Sscanf(strings.SplitN(last, " ", 2)[1], "wakes=%d sleeps=%d spinning=%d", &w2, &s2, &spin)
	if w2 <= wakes || s2 <= sleeps || spin != 1 {
		t.Fatalf("the threads did not go on after the restore: before wakes=%d sleeps=%d, now %q", wakes, sleeps, last)
	}
}

func TestPipeBetweenProcesses(t *testing.T) {
	needRoot(t)
	bin := compile(t, "pipes")
	cmd, out := startProg(t, bin)
	var last int
	for range 5 {
		last = firstNum(t, next(t, out))
	}
	child := onlyChild(cmd.Process.Pid)
	img := dumpSaved(t, []int{cmd.Process.Pid, child}, false)
	_ = unix.Kill(child, unix.SIGKILL)
	_ = cmd.Wait()
	last = drainNums(t, out, last)
	_, out2, res := restoreInto(t, img, bin)
	for i := range 10 {
		n := firstNum(t, next(t, out2))
		if n != last+1 {
			t.Fatalf("line %d after restore: %d, want %d", i, n, last+1)
		}
		last = n
	}
	nc := res.Pids[child]
	st, _, err := statFields(nc)
	if err != nil || int(statField(st, 4)) != res.Pids[cmd.Process.Pid] {
		t.Fatalf("the restored child %d is not the restored parent's child (%v)", nc, err)
	}
	_ = unix.Kill(nc, unix.SIGKILL)
}

func TestUnsupportedRefused(t *testing.T) {
	needRoot(t)
	for _, c := range []struct {
		name string
		open func() (int, error)
		want string
	}{
		{"inotify", func() (int, error) { return unix.InotifyInit1(0) }, "inotify"},
		{"pidfd", func() (int, error) { return unix.PidfdOpen(os.Getpid(), 0) }, "pidfd"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fd, err := c.open()
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			f := os.NewFile(uintptr(fd), c.name)
			defer f.Close()
			cmd := exec.Command("sleep", "100")
			cmd.ExtraFiles = []*os.File{f}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			_, err = Dump(DumpOpts{Pids: []int{cmd.Process.Pid}, Root: "/"})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "fd 3") {
				t.Fatalf("checkpoint of a process with %s: %v, want an error naming it and fd 3", c.name, err)
			}
			// refused: the process runs on untouched
			if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
				t.Fatalf("the process did not survive the refused checkpoint: %v", err)
			}
			b, _ := os.ReadFile(procPath(cmd.Process.Pid, "status"))
			if strings.Contains(string(b), "TracerPid:\t") && !strings.Contains(string(b), "TracerPid:\t0") {
				t.Fatal("the process is still traced after a refused checkpoint")
			}
		})
	}
}

func TestEstablishedTCPRefused(t *testing.T) {
	needRoot(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, _ := c.(*net.TCPConn).File()
	defer f.Close()
	cmd := exec.Command("sleep", "100")
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	_, err = Dump(DumpOpts{Pids: []int{cmd.Process.Pid}, Root: "/"})
	if err == nil || !strings.Contains(err.Error(), "TCP connection") || !strings.Contains(err.Error(), "ESTABLISHED") {
		t.Fatalf("checkpoint with an established TCP connection: %v", err)
	}
}

func TestLeaveRunningAndImageChecks(t *testing.T) {
	needRoot(t)
	bin := compile(t, "counter")
	cmd, out := startProg(t, bin)
	first := firstNum(t, next(t, out))
	img, err := Dump(DumpOpts{Pids: []int{cmd.Process.Pid}, Root: "/", LeaveRunning: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := firstNum(t, next(t, out)); n <= first { // still running
		t.Fatalf("after a --leave-running checkpoint the program printed %d", n)
	}
	dir := t.TempDir()
	if err := img.Write(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
	corrupt := func(name string, f func(p string)) {
		t.Helper()
		d := t.TempDir()
		for _, n := range []string{ManifestFile, PagesFile, SumFile} {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err == nil {
				err = os.WriteFile(filepath.Join(d, n), b, 0o600)
			}
			if err != nil {
				t.Fatalf("%s: copying the image: %v", name, err)
			}
		}
		if _, err := Load(d); err != nil { // the copy itself is sound: a refusal is f's doing
			t.Fatalf("%s: the unaltered copy is refused: %v", name, err)
		}
		f(d)
		if _, err := Load(d); err == nil {
			t.Errorf("%s: the image was accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	corrupt("a flipped page byte", func(d string) {
		p := filepath.Join(d, PagesFile)
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 0xff
		_ = os.WriteFile(p, b, 0o600)
	})
	corrupt("truncated pages", func(d string) {
		p := filepath.Join(d, PagesFile)
		b, _ := os.ReadFile(p)
		_ = os.WriteFile(p, b[:len(b)-4096], 0o600)
	})
	corrupt("an edited manifest", func(d string) {
		p := filepath.Join(d, ManifestFile)
		b, _ := os.ReadFile(p)
		_ = os.WriteFile(p, []byte(strings.Replace(string(b), `"umask": 18`, `"umask": 0`, 1)+" "), 0o600)
	})
	corrupt("a foreign (CRIU) directory", func(d string) {
		_ = os.Remove(filepath.Join(d, ManifestFile))
		_ = os.WriteFile(filepath.Join(d, "inventory.img"), []byte("criu"), 0o600)
	})
	corrupt("another version", func(d string) {
		p := filepath.Join(d, ManifestFile)
		b, _ := os.ReadFile(p)
		nb := []byte(strings.Replace(string(b), `"version": 1`, `"version": 99`, 1))
		_ = os.WriteFile(p, nb, 0o600)
		sum := sha256.Sum256(nb)
		_ = os.WriteFile(filepath.Join(d, SumFile), []byte(hex.EncodeToString(sum[:])+"  "+ManifestFile+"\n"), 0o600)
	})
}

// TestPythonInterpreter: a dynamically linked interpreter with its heap of objects: after
// the restore it goes on counting with the state it had (a dict built before).
func TestPythonInterpreter(t *testing.T) {
	needRoot(t)
	py, err := exec.LookPath("python3")
	if err != nil {
		testreq.Missing(t, "needs python3 (hack/install-deps.sh)")
	}
	script := filepath.Join(t.TempDir(), "count.py")
	src := "import time, sys\nd = {}\ni = 0\nwhile True:\n    d[i] = str(i) * 3\n    print(i, len(d), d[i], flush=True)\n    i += 1\n    time.sleep(0.02)\n"
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script)
	outp, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	out := lines(outp)
	var last int
	for range 5 {
		last = firstNum(t, next(t, out))
	}
	img := dumpSaved(t, []int{cmd.Process.Pid}, false)
	_ = cmd.Wait()
	last = drainNums(t, out, last)
	// the stand-in execs python3 itself (the same binary), with the script's path as argv
	// ignored: the restored memory is what runs
	_, out2, _ := restoreInto(t, img, py)
	for range 5 {
		l := next(t, out2)
		f := strings.Fields(l)
		if firstNum(t, l) != last+1 || f[1] != strconv.Itoa(last+2) || f[2] != strings.Repeat(strconv.Itoa(last+1), 3) {
			t.Fatalf("after %d the restored interpreter printed %q", last, l)
		}
		last++
	}
}

// resp sends one command to redis and returns its reply line(s).
func resp(t *testing.T, addr string, args ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("connect to redis: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		msg += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	l, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("redis reply: %v", err)
	}
	if strings.HasPrefix(l, "$") && l != "$-1\r\n" {
		v, _ := r.ReadString('\n')
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(l)
}

// TestRedis: redis-server (5 threads, epoll, listening sockets, a pipe) holds data; after the
// restore clients reconnect to the same port and read it back, and it takes new writes.
func TestRedis(t *testing.T) {
	needRoot(t)
	rs, err := exec.LookPath("redis-server")
	if err != nil {
		testreq.Missing(t, "needs redis-server (hack/install-deps.sh)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	addr := "127.0.0.1:" + port
	conf := filepath.Join(t.TempDir(), "redis.conf")
	if err := os.WriteFile(conf, []byte("port "+port+"\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir "+t.TempDir()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rs, conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 500 {
			t.Fatal("redis did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 100 {
		if r := resp(t, addr, "SET", "k"+strconv.Itoa(i), "v"+strconv.Itoa(i)); r != "+OK" {
			t.Fatalf("SET: %q", r)
		}
	}
	// the clients' connections are closed; wait until redis has closed its ends too (a
	// connection in CLOSE_WAIT fails the checkpoint, as it must)
	var img *Image
	for i := 0; img == nil; i++ {
		img, err = Dump(DumpOpts{Pids: []int{cmd.Process.Pid}, Root: "/"})
		if err != nil && (i > 200 || !strings.Contains(err.Error(), "TCP connection")) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	dir := t.TempDir()
	if err := img.Write(dir); err != nil {
		t.Fatal(err)
	}
	if img, err = Load(dir); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// the stand-in execs redis-server itself; it reads no config: the restored memory runs
	rcmd, rout, _ := restoreInto(t, img, rs)
	go func() {
		for l := range rout {
			t.Log("redis: ", l)
		}
	}()
	if r := resp(t, addr, "GET", "k42"); r != "v42" {
		t.Fatalf("GET k42 after the restore: %q", r)
	}
	if r := resp(t, addr, "DBSIZE"); r != ":100" {
		t.Fatalf("DBSIZE after the restore: %q", r)
	}
	if r := resp(t, addr, "SET", "after", "yes"); r != "+OK" {
		t.Fatalf("SET after the restore: %q", r)
	}
	if r := resp(t, addr, "GET", "after"); r != "yes" {
		t.Fatalf("GET after: %q", r)
	}
	if b, _ := os.ReadFile(procPath(rcmd.Process.Pid, "comm")); strings.TrimSpace(string(b)) != "redis-server" {
		t.Errorf("the restored process's name is %q", b)
	}
}

// TestSharedMemory: anonymous shared memory between a parent and its child stays shared
// after the restore: the parent keeps seeing the child's increments, continuing the count.
func TestSharedMemory(t *testing.T) {
	needRoot(t)
	bin := compile(t, "shm")
	cmd, out := startProg(t, bin)
	var last int
	for range 5 {
		last = firstNum(t, next(t, out))
	}
	child := onlyChild(cmd.Process.Pid)
	img := dumpSaved(t, []int{cmd.Process.Pid, child}, false)
	if len(img.Shms) != 1 {
		t.Fatalf("saved %d shared memory objects, want 1", len(img.Shms))
	}
	_ = unix.Kill(child, unix.SIGKILL)
	_ = cmd.Wait()
	last = drainNums(t, out, last)
	_, out2, res := restoreInto(t, img, bin)
	defer func() { _ = unix.Kill(res.Pids[child], unix.SIGKILL) }()
	countsOn(t, out2, last, 5, "shared counter")
}

// TestSocketpair: a parent and child talking over a unix socketpair go on after the restore.
func TestSocketpair(t *testing.T) {
	needRoot(t)
	bin := compile(t, "sockpair")
	cmd, out := startProg(t, bin)
	var last int
	for range 5 {
		last = firstNum(t, next(t, out))
	}
	child := onlyChild(cmd.Process.Pid)
	var img *Image
	for i := 0; img == nil; i++ { // a message in flight fails the checkpoint: try again
		var err error
		img, err = Dump(DumpOpts{Pids: []int{cmd.Process.Pid, child}, Root: "/"})
		if err != nil && (i > 100 || !strings.Contains(err.Error(), "queued")) {
			t.Fatal(err)
		}
	}
	_ = unix.Kill(child, unix.SIGKILL)
	_ = cmd.Wait()
	last = drainNums(t, out, last)
	_, out2, res := restoreInto(t, img, bin)
	defer func() { _ = unix.Kill(res.Pids[child], unix.SIGKILL) }()
	countsOn(t, out2, last, 5, "pair")
}

// TestTimerfdSignalfd: a timerfd keeps ticking after the restore (the count goes on), a
// signalfd still receives the signal it was made for, and a blocked real-time signal pending
// at the checkpoint is still pending, with its value.
func TestTimerfdSignalfd(t *testing.T) {
	needRoot(t)
	bin := compile(t, "timers")
	cmd, out := startProg(t, bin)
	var last int
	for range 5 {
		last = firstNum(t, next(t, out))
	}
	img := dumpSaved(t, []int{cmd.Process.Pid}, false)
	_ = cmd.Wait()
	last = drainNums(t, out, last)
	_, out2, res := restoreInto(t, img, bin)
	countsOn(t, out2, last, 3, "timer count")
	if err := unix.Kill(res.Pids[cmd.Process.Pid], unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		l := next(t, out2)
		if strings.Contains(l, " usr1") {
			if !strings.HasSuffix(l, " rt=42") {
				t.Fatalf("the real-time signal pending at the checkpoint is not pending after the restore with its value: %q", l)
			}
			break
		}
		if i > 200 {
			t.Fatal("the restored signalfd did not receive SIGUSR1")
		}
	}
}

// TestGoProgram: a Go program (several threads, each with its signal stack, the runtime's
// preemption signals and timers) goes on after the restore.
func TestGoProgram(t *testing.T) {
	needRoot(t)
	bin := filepath.Join(t.TempDir(), "gocounter")
	build := exec.Command("go", "build", "-o", bin, "testdata/gocounter/main.go")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd, out := startProg(t, bin)
	var last int
	for range 5 {
		last = firstNum(t, next(t, out))
	}
	img := dumpSaved(t, []int{cmd.Process.Pid}, false)
	_ = cmd.Wait()
	last = drainNums(t, out, last)
	_, out2, _ := restoreInto(t, img, bin)
	for range 20 {
		l := next(t, out2)
		if firstNum(t, l) != last+1 || !strings.HasSuffix(l, " 28") {
			t.Fatalf("after %d the restored Go program printed %q", last, l)
		}
		last++
	}
}

// TestUnixListener: a server listening on a unix socket path is restored on the same path
// (the stale socket file replaced) and answers with the count it had.
func TestUnixListener(t *testing.T) {
	needRoot(t)
	bin := compile(t, "unixserver")
	sock := filepath.Join(t.TempDir(), "s.sock")
	cmd := exec.Command(bin, sock)
	outp, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	out := lines(outp)
	next(t, out)
	ask := func() string {
		t.Helper()
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer c.Close()
		b, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return strings.TrimSpace(b)
	}
	if got := ask(); got != "served 1" {
		t.Fatalf("before: %q", got)
	}
	var img *Image
	for i := 0; img == nil; i++ { // the served connection may not be closed or accepted yet
		var err error
		img, err = Dump(DumpOpts{Pids: []int{cmd.Process.Pid}, Root: "/"})
		if err != nil && (i > 200 || !strings.Contains(err.Error(), "try again") && !strings.Contains(err.Error(), "accepted unix connection") &&
			!strings.Contains(err.Error(), "fd 4: a unix socket bound to")) { // fd 4: the served connection, its client gone
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	dir := t.TempDir()
	if err := img.Write(dir); err != nil {
		t.Fatal(err)
	}
	img, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	restoreInto(t, img, bin)
	if got := ask(); got != "served 2" {
		t.Fatalf("after the restore: %q, want served 2", got)
	}
}

// onlyChild waits (a second at most) for pid to have exactly one child and returns it (0 if it
// has none by then).
func onlyChild(pid int) int {
	for range 100 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if f := strings.Fields(string(b)); len(f) == 1 {
			child, _ := strconv.Atoi(f[0])
			return child
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0
}
