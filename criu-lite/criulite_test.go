package criulite

import (
	"bufio"
	"fmt"
	"io"
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
		t.Skip("needs gcc and a static libc")
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
	for l := range out { // what it printed before the checkpoint stopped it
		last = firstNum(t, l)
	}
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
