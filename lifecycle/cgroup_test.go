package lifecycle

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// A cgroup removed while someone waits on its cgroup.events ends the wait at once: the open
// file polls ready forever after the removal, and a waiter that kept polling spun a CPU until
// its timeout (a supervisor did, for up to an hour, after delete --force of a crashed create).
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
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- waitCgroupEvent(dir, "populated", "1", 5*time.Second) }()
	time.Sleep(50 * time.Millisecond)
	if err := unix.Rmdir(dir); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Errorf("waitCgroupEvent on a removed cgroup: nil error")
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("waitCgroupEvent returned %v after its cgroup was removed, want at once", d)
	}
}
