package integration

// The host's POSIX message queues (docs/security.md, "POSIX message queues"). Without an IPC
// namespace every mqueue filesystem shows the host's queues. mqesc.c tries to list, read,
// create and unlink the test's host queue by path and to use it through every mq_* call; it
// must get all of that unconfined and nothing in a container whose config (the runc default)
// asks for an ipc namespace, with the default capabilities and with CAP_SYS_ADMIN.

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var mqNames = []string{
	"mq_list", "mq_path_read", "mq_path_create", "mq_path_unlink",
	"x64:mq_open", "x64:mq_timedreceive", "x64:mq_timedsend", "x64:mq_notify", "x64:mq_getsetattr",
	"x64:mq_unlink", "i386:mq_open", "i386:mq_timedsend", "i386:mq_timedreceive", "i386:mq_notify",
	"i386:mq_getsetattr", "i386:mq_timedsend_time64", "i386:mq_timedreceive_time64", "i386:mq_unlink",
}

// hostQueue creates a POSIX message queue on the host holding one message, removed when the
// test ends. The name is what the kernel sees (mq_open(3) strips the leading slash).
func hostQueue(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("sandlock-escape-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		t.Fatal(err)
	}
	fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)),
		unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, 0o600, 0, 0, 0)
	if errno != 0 {
		t.Fatalf("mq_open %s on the host: %v", name, errno)
	}
	defer unix.Close(int(fd))
	t.Cleanup(func() { _, _, _ = unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0) })
	msg := []byte("host-message")
	if _, _, errno := unix.Syscall6(unix.SYS_MQ_TIMEDSEND, fd, uintptr(unsafe.Pointer(&msg[0])),
		uintptr(len(msg)), 0, 0, 0); errno != 0 {
		t.Fatalf("mq_timedsend: %v", errno)
	}
	return name
}

// queueMessages returns how many messages the host queue holds (-1: it is gone).
func queueMessages(name string) int {
	p, _ := unix.BytePtrFromString(name)
	fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0, 0)
	if errno != 0 {
		return -1
	}
	defer unix.Close(int(fd))
	var attr [8]int64 // struct mq_attr: flags, maxmsg, msgsize, curmsgs, reserved
	if _, _, errno := unix.Syscall(unix.SYS_MQ_GETSETATTR, fd, 0, uintptr(unsafe.Pointer(&attr))); errno != 0 {
		return -1
	}
	return int(attr[3])
}

func mqEnv(t *testing.T, name string) []string {
	env := []string{"ESC_MQ_NAME=" + name}
	if hostI386(t) != "" {
		env = append(env, "ESC_NO_I386=1")
	}
	return env
}

func TestEscapeMqueue(t *testing.T) {
	bins := escapeBins(t)
	t.Run("unconfined escapes", func(t *testing.T) {
		name := hostQueue(t)
		dir := t.TempDir()
		if err := unix.Mount("mqueue", dir, "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			t.Fatalf("mount mqueue (to run the program unconfined): %v", err)
		}
		t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
		cmd := exec.Command(bins + "/mqesc")
		cmd.Env = append(mqEnv(t, name), "ESC_MQ_DIR="+dir)
		out, _ := cmd.Output()
		v := judgeEscape(string(out), hostI386(t) != "")
		for _, n := range mqNames {
			if !strings.Contains(string(out), n+" ESCAPED") && !slices.Contains(v.na, n) {
				t.Errorf("unconfined, %s must escape or the program proves nothing here", n)
			}
		}
		if t.Failed() {
			t.Logf("output:\n%s", out)
		}
	})
	for _, c := range []struct {
		name string
		caps func(*specs.Spec)
	}{{"default caps", nil}, {"CAP_SYS_ADMIN", withCapAdded("CAP_SYS_ADMIN")}} {
		t.Run(c.name, func(t *testing.T) {
			name := hostQueue(t)
			out := escapeRun(t, newID(), chain(withEnv(mqEnv(t, name)), c.caps), nil, "/escape/mqesc")
			requireOK(t, escapeVerdicts(t, out, 1), mqNames...)
			if n := queueMessages(name); n != 1 {
				t.Errorf("host queue %s: %d messages after the container, want the 1 the test put there", name, n)
			}
			if t.Failed() {
				t.Logf("escape program output:\n%s", out)
			}
		})
	}
	t.Run("no ipc namespace shares them", func(t *testing.T) {
		// what the config asks for: the same queues as the host (and why the ipc case must
		// not mount mqueue). Only the listing is checked.
		name := hostQueue(t)
		out := escapeRun(t, newID(), chain(withEnv(mqEnv(t, name)), withoutNamespace(specs.IPCNamespace)), nil, "/escape/mqesc")
		if !strings.Contains(out, "mq_list ESCAPED") {
			t.Errorf("without an ipc namespace /dev/mqueue should be the host's; output:\n%s", out)
		}
	})
}

// TestMqueueBindRefused: a bind of an mqueue filesystem (the host's queues) into a container
// with an ipc namespace is refused with one line, and create leaves nothing behind.
func TestMqueueBindRefused(t *testing.T) {
	requireSetup(t)
	dir := t.TempDir()
	if err := unix.Mount("mqueue", dir, "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Fatalf("mount mqueue: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	b := newBundleWith(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mq", Type: "bind", Source: dir, Options: []string{"bind"}})
	}, "true")
	id := newID()
	track(t, id)
	_, stderr, code := rt(t, "create", "--bundle", b, id)
	if code == 0 || !strings.Contains(stderr, "POSIX message queues cannot be given to a container with an ipc namespace") {
		t.Errorf("create with a bind of an mqueue fs: exit %d, stderr %q; want a refusal", code, stderr)
	}
	if _, err := os.Stat(envFor(t).root + "/" + id); err == nil {
		t.Errorf("a refused create left its state dir")
	}
}
