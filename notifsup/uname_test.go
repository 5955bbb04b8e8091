package notifsup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/notifsup"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

const helperEnv = "SANDLOCK_NOTIFSUP_HELPER"

// TestUname confines a subprocess with uname() sent to the supervisor; the subprocess hands
// the listener over (SCM_RIGHTS, as init hands it to the supervisor) and closes its own copy,
// this test serves it with Uname("virt-host"), and the subprocess execs `uname -n`.
func TestUname(t *testing.T) {
	if os.Geteuid() != 0 {
		testreq.Missing(t, "needs root")
	}
	if _, err := os.Stat("/bin/uname"); err != nil {
		testreq.Missing(t, "needs /bin/uname")
	}
	h, listener := startHelper(t, "TestHelperUname")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- notifsup.Serve(ctx, listener, []notifsup.Feature{notifsup.UnameFeature("virt-host")})
	}()

	stdout := h.wait(t)
	want := "sethostname=EPERM\nvirt-host\n"
	if stdout != want {
		t.Errorf("got output %q, want %q\nstderr:\n%s", stdout, want, h.stderr.String())
	}
	// The only process using the filter is gone: Serve must see the hang-up and return.
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: got %v, want nil after the confined process exited", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Serve did not return after the confined process exited")
	}
}

// TestHelperUname is the confined side of TestUname.
func TestHelperUname(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("subprocess helper")
	}
	runtime.LockOSThread() // filters are per thread; this thread execs uname
	handOverListener(t, confine.SeccompOptions{NotifyUname: true})
	fmt.Printf("sethostname=%s\n", errName(unix.Sethostname(make([]byte, 65))))
	err := syscall.Exec("/bin/uname", []string{"uname", "-n"}, os.Environ())
	t.Fatalf("exec uname: %v", err)
}

// helperProc is a test binary run as a confined helper (a TestHelper* function).
type helperProc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

// startHelper runs the helper test name in a subprocess and returns the seccomp listener it
// hands over on fd 3 (handOverListener), closed when the test ends.
func startHelper(t *testing.T, name string) (*helperProc, int) {
	t.Helper()
	ours, theirs, err := socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	h := &helperProc{cmd: exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1")}
	h.cmd.Env = append(os.Environ(), helperEnv+"=1")
	h.cmd.ExtraFiles = []*os.File{theirs} // fd 3
	h.cmd.Stdout, h.cmd.Stderr = &h.stdout, &h.stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	listener, err := recvFd(ours)
	if err != nil {
		h.cmd.Process.Kill()
		h.cmd.Wait()
		t.Fatalf("receiving the listener: %v\nhelper output:\n%s%s", err, h.stdout.String(), h.stderr.String())
	}
	t.Cleanup(func() { unix.Close(listener) })
	return h, listener
}

// wait waits for the helper to exit successfully and returns its stdout.
func (h *helperProc) wait(t *testing.T) string {
	t.Helper()
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\nstdout:\n%s\nstderr:\n%s", err, h.stdout.String(), h.stderr.String())
	}
	return h.stdout.String()
}

// handOverListener is the helper's side: it loads the programs for opts with a listener (the
// same path as the runtime's init) and sends the listener to the test on fd 3. The workload
// must never hold its own listener (it could answer its own notifications): its copy is closed.
func handOverListener(t *testing.T, opts confine.SeccompOptions) {
	t.Helper()
	progs, err := confine.Program(opts, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := confine.SetNoNewPrivs(); err != nil {
		t.Fatal(err)
	}
	listener, err := confine.LoadPrograms(progs)
	if err != nil || listener < 0 {
		t.Fatalf("LoadPrograms: listener %d, %v", listener, err)
	}
	if err := unix.Sendmsg(3, []byte{0}, unix.UnixRights(listener), nil, 0); err != nil {
		t.Fatalf("sending the listener: %v", err)
	}
	unix.Close(listener)
	unix.Close(3)
}

func errName(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func socketpair() (ours, theirs *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs"), nil
}

func recvFd(f *os.File) (int, error) {
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(f.Fd()), make([]byte, 1), oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("want one control message, got %d (%v)", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("want one fd, got %v (%v)", fds, err)
	}
	return fds[0], nil
}

// TestServeStopsOnCancel checks that Serve returns ctx's error when ctx is cancelled while
// no notification is pending.
func TestServeStopsOnCancel(t *testing.T) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC) // a pollable fd that never becomes readable
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- notifsup.Serve(ctx, efd, nil) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// TestServeClosedListener checks that Serve returns nil for a listener fd that is not open.
func TestServeClosedListener(t *testing.T) {
	const fd = 987 // above anything a test binary opens
	if _, err := unix.FcntlInt(fd, unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Skipf("fd %d is open in this process", fd)
	}
	if err := notifsup.Serve(context.Background(), fd, nil); err != nil {
		t.Errorf("got %v, want nil", err)
	}
}
