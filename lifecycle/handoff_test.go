package lifecycle

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTakeListenerFailureHangsUp: create failing to take or pass on the listener that init
// named (pidfd_getfd refused, the supervisor gone) must hang up xs, or init waits for "taken"
// forever while create waits for init's reply on initpipe.
func TestTakeListenerFailureHangsUp(t *testing.T) {
	xsInit, xsS, err := socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFiles(xsInit, xsS)
	hoC, hoS, err := socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFiles(hoC, hoS)
	pfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	pidfd := os.NewFile(uintptr(pfd), "pidfd")
	defer pidfd.Close()

	// init names an fd it does not have: pidfd_getfd fails (EBADF).
	if _, err := unix.Write(int(xsInit.Fd()), []byte(listenerMsg+"999999")); err != nil {
		t.Fatal(err)
	}
	cr := &creation{}
	ch := &channels{xsS: xsS, hoC: hoC, pidfd: pidfd}
	if err := cr.takeListener(ch); err == nil {
		t.Fatal("takeListener took an fd init does not have")
	}
	// init's wait for "taken" must end: EOF, not a hang.
	fds := []unix.PollFd{{Fd: int32(xsInit.Fd()), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 2000); err != nil || n != 1 {
		t.Fatalf("init's end of xs: nothing to read after create failed (poll %d, %v): init would wait forever", n, err)
	}
	buf := make([]byte, 16)
	if n, _ := unix.Read(int(xsInit.Fd()), buf); n != 0 {
		t.Fatalf("init read %q after create failed, want EOF", buf[:n])
	}
}
