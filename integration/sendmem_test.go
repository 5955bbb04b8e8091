package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSendMemoryBounded runs sendmem.c in the direct mode (where sendmsg is performed on
// behalf) with max_memory 64M: 300 threads each blocked in a 4 MiB sendmsg that the peer never
// reads. Every such send used to keep its 4 MiB copy in the supervisor, outside the sandbox's
// memory cgroup (1.5 GiB for a 64 MiB sandbox); a budget now bounds what waiting sends hold.
func TestSendMemoryBounded(t *testing.T) {
	sup := heldSandbox(t, "blocked 300", "-m", "64M", "--", filepath.Join(escapeBins(t), "sendmem"), "300")
	// The threads are in sendmsg; the supervisor takes their notifications as they come: the
	// largest resident size it reaches in the next two seconds.
	peak := 0
	for range 20 {
		peak = max(peak, residentKiB(t, sup))
		time.Sleep(100 * time.Millisecond)
	}
	if peak > 512<<10 {
		t.Errorf("the supervisor of a sandbox limited to 64 MiB holds %d MiB for its blocked sends", peak>>10)
	}
	t.Logf("supervisor resident: %d MiB", peak>>10)
}

// residentKiB is VmRSS of pid, in KiB.
func residentKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
