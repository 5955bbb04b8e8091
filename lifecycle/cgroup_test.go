package lifecycle

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// missingDirs is what create records before its mkdirs: exactly the dirs below mnt that do not
// exist yet, outermost first, so delete --force after a crash removes those and no other.
func TestMissingDirs(t *testing.T) {
	mnt := t.TempDir()
	if err := os.MkdirAll(filepath.Join(mnt, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "a", "b", "c")
	want := []string{filepath.Join(mnt, "a", "b"), dir}
	if got := missingDirs(mnt, dir); !slices.Equal(got, want) {
		t.Errorf("missingDirs(%s) = %v, want %v", dir, got, want)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := missingDirs(mnt, dir); len(got) != 0 {
		t.Errorf("missingDirs of an existing dir = %v, want none", got)
	}
	if got := missingDirs(mnt, "/elsewhere/x"); len(got) != 0 {
		t.Errorf("missingDirs outside mnt = %v, want none", got)
	}
}

// A waiter for populated=0 returns as soon as the cgroup empties, also when the cgroup is
// removed right after (delete --force of a crashed create does that while the supervisor waits):
// the waiter once read the file by path, found it gone, and spun a CPU until its timeout.
func TestWaitCgroupEventRemoved(t *testing.T) {
	mnt := Cgroup2Mount()
	if os.Geteuid() != 0 || mnt == "" || unix.Access(mnt, unix.W_OK) != nil {
		t.Skip("needs root and a writable cgroup2 hierarchy")
	}
	dir := filepath.Join(mnt, "sandlock-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer unix.Rmdir(dir)
	cmd := sleeperIn(t, dir)
	done := make(chan error, 1)
	go func() { done <- waitCgroupEvent(dir, "populated", "0", 5*time.Second) }()
	time.Sleep(50 * time.Millisecond)
	t0 := time.Now()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	for unix.Rmdir(dir) == unix.EBUSY && time.Since(t0) < time.Second {
		time.Sleep(time.Millisecond) // populated drops a moment after the exit
	}
	<-done // nil or an error, both fine: what matters is when
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("waitCgroupEvent returned %v after its cgroup emptied and was removed, want at once", d)
	}
}

// sleeperIn starts a sleep cloned straight into cgroup dir.
func sleeperIn(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}
