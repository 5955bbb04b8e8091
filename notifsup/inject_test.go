package notifsup_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/internal/testreq"
	"github.com/sandlock/sandlock-runtime/notifsup"
)

// Markers the helper puts in openat's flags to tell the test's handler what to do.
const (
	markInject = unix.O_NOCTTY                // answer with an injected memfd
	markBadFD  = unix.O_NOCTTY | unix.O_DSYNC // answer with an injection that fails
)

// TestInjectFD: an open performed on behalf is answered with the fd injected atomically
// (ADDFD, then the answer with its number), O_CLOEXEC honoured; a call no feature claims continues; and an injection
// that fails makes the call fail with its errno: the open of /dev/null, which would succeed if
// it continued, fails with EBADF (fail closed, the reference's #80).
func TestInjectFD(t *testing.T) {
	if os.Geteuid() != 0 {
		testreq.Missing(t, "needs root")
	}
	h, listener := startHelper(t, "TestHelperInject")
	memfd, err := unix.MemfdCreate("injected", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(memfd)
	if _, err := unix.Write(memfd, []byte("injected")); err != nil {
		t.Fatal(err)
	}
	feature := notifsup.Feature{Name: "inject", Handlers: map[string]notifsup.Handler{
		"openat": func(c *notifsup.Call) seccomp.ScmpNotifResp {
			flags := int(c.Req.Data.Args[2])
			switch {
			case flags&markBadFD == markBadFD:
				return c.InjectFD(987654, false) // not an fd: the injection fails
			case flags&markInject != 0:
				return c.InjectFD(memfd, flags&unix.O_CLOEXEC != 0)
			}
			return notifsup.NotMine()
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { _ = notifsup.Serve(ctx, listener, []notifsup.Feature{feature}) }()
	want := "inject=injected cloexec=false\ninject-cloexec=injected cloexec=true\ncontinue=ok\nfailed-injection=EBADF\n"
	if got := h.wait(t); got != want {
		t.Errorf("got %q, want %q\nstderr:\n%s", got, want, h.stderr.String())
	}
}

// TestHelperInject is the confined side of TestInjectFD.
func TestHelperInject(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("subprocess helper")
	}
	runtime.LockOSThread() // the filter is this thread's; every open below runs on it
	handOverListener(t, confine.SeccompOptions{Notify: []string{"openat"}})
	for _, c := range []struct {
		name  string
		flags int
	}{{"inject", markInject}, {"inject-cloexec", markInject | unix.O_CLOEXEC}} {
		fd, err := unix.Openat(unix.AT_FDCWD, "/nonexistent-inject", unix.O_RDONLY|c.flags, 0)
		if err != nil {
			fmt.Printf("%s=%s\n", c.name, errName(err))
			continue
		}
		buf := make([]byte, 16)
		n, _ := unix.Pread(fd, buf, 0)
		fdFlags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		fmt.Printf("%s=%s cloexec=%v\n", c.name, buf[:n], fdFlags&unix.FD_CLOEXEC != 0)
		unix.Close(fd)
	}
	fd, err := unix.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY, 0)
	fmt.Printf("continue=%s\n", errName(err))
	unix.Close(fd)
	_, err = unix.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY|markBadFD, 0)
	fmt.Printf("failed-injection=%s\n", errName(err))
	os.Exit(0) // before the test framework prints its verdict on the test's stdout
}
