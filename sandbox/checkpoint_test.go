package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCheckpointAPI: the seed's Checkpoint: a counting shell is checkpointed with app state
// while it runs, saved, listed, loaded, its app state handed to the restore function, and
// run again by Sandbox.Restore: the count goes on from the checkpoint to the end (60), not
// from 0. A corrupt saved image is refused; Delete removes it.
func TestCheckpointAPI(t *testing.T) {
	requireKernel(t)
	if os.Geteuid() != 0 || runtime.GOARCH != "amd64" {
		t.Skip("checkpoint needs root (ptrace, a cgroup) on x86-64")
	}
	p, dir := hostPolicy(t)
	sb := newSandbox(t, p)
	store := filepath.Join(t.TempDir(), "store")
	if _, err := sb.Checkpoint(nil); !errors.Is(err, ErrSandbox) {
		t.Errorf("Checkpoint when not running: %v, want a SandboxError", err)
	}
	tick := filepath.Join(dir, "tick")
	done := make(chan *Result, 1)
	script := "i=0; while [ $i -lt 60 ]; do echo $i; echo $i > " + tick + "; i=$((i+1)); sleep 0.05; done"
	go func() {
		res, _ := sb.Run(ctxFor(t, 120*time.Second), []string{"sh", "-c", script})
		done <- res
	}()
	waitFor(t, func() bool { n, _ := strconv.Atoi(strings.TrimSpace(readFile(tick))); return sb.Pid() != 0 && n >= 3 })
	cp, err := sb.Checkpoint(func() ([]byte, error) { return []byte("app-state-1"), nil })
	if err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	if want := []string{"sh", "-c", script}; !slices.Equal(cp.Command(), want) {
		t.Errorf("Checkpoint's command %q, want %q", cp.Command(), want)
	}
	if err := cp.Save("snap", store); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if cp.Name() != "snap" || string(cp.AppState()) != "app-state-1" {
		t.Errorf("after Save: name %q app state %q", cp.Name(), cp.AppState())
	}
	<-done // the checkpoint left it running: it ends by itself
	if names, err := ListCheckpoints(store); err != nil || len(names) != 1 || names[0] != "snap" {
		t.Fatalf("List: %v %v, want [snap]", names, err)
	}
	var got []byte
	cp2, err := RestoreCheckpoint("snap", func(b []byte) error { got = b; return nil }, store)
	if err != nil || string(got) != "app-state-1" {
		t.Fatalf("RestoreCheckpoint: %v, app state %q", err, got)
	}
	res, err := sb.Restore(ctxFor(t, 120*time.Second), cp2)
	if err != nil || !res.Success() {
		t.Fatalf("Restore: %v (%+v)", err, res)
	}
	nums := strings.Fields(string(res.Stdout))
	if len(nums) == 0 {
		t.Fatalf("the restored command printed nothing (stderr %q)", res.Stderr)
	}
	first, _ := strconv.Atoi(nums[0])
	if first < 3 || nums[len(nums)-1] != "59" {
		t.Fatalf("the restored command printed %v: want it to go on from the checkpoint (>= 3) to 59", nums)
	}
	for i, n := range nums {
		if v, _ := strconv.Atoi(n); v != first+i {
			t.Fatalf("the restored count is not contiguous: %v", nums)
		}
	}
	// a corrupt image is refused
	pages := filepath.Join(store, "snap", "pages.img")
	b, _ := os.ReadFile(pages)
	b[len(b)-1] ^= 0xff
	_ = os.WriteFile(pages, b, 0o600)
	if _, err := LoadCheckpoint("snap", store); !errors.Is(err, ErrSandbox) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("Load of a corrupt image: %v", err)
	}
	if err := DeleteCheckpoint("snap", store); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if names, _ := ListCheckpoints(store); len(names) != 0 {
		t.Errorf("List after Delete: %v", names)
	}
	if err := cp.Save("../escape", store); err == nil {
		t.Error("Save with a path as name succeeded")
	}
}
