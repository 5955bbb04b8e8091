package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandlock/sandlock-runtime/spec"
)

// goClockEnv makes the test binary, run inside a sandbox, print the wall clock as the Go
// runtime reads it (time.Now: the vDSO, called by the runtime itself) and exit. It is read in
// init, before TestMain, so that no other test file's hook is involved.
const goClockEnv = "SANDLOCK_TEST_GOCLOCK"

func init() {
	if os.Getenv(goClockEnv) == "1" {
		fmt.Println(time.Now().Unix())
		os.Exit(0)
	}
}

// TestTimeStartGoAPI: Policy.TimeStart through the Go API: busybox date (its libc reads the
// vDSO), around a sleep, and a Go program (this test binary) see the clock start at
// time_start and advance; without it, the host's time.
func TestTimeStartGoAPI(t *testing.T) {
	requireKernel(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("time_start rewrites the x86_64 vDSO: x86_64 only")
	}
	const y2k, slack = 946684800, 300
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pol := spec.Policy{TimeStart: spec.Ptr("2000-01-01T00:00:00Z")}
	res, err := newSandbox(t, pol).Run(ctxFor(t, 60*time.Second), []string{"busybox", "sh", "-c", "date +%s; sleep 2; date +%s"})
	if err != nil {
		t.Fatalf("Run: %v (stderr %q)", err, res.Stderr)
	}
	f := strings.Fields(string(res.Stdout))
	if len(f) != 2 {
		t.Fatalf("date; sleep 2; date: got %q (stderr %q)", res.Stdout, res.Stderr)
	}
	a, _ := strconv.ParseInt(f[0], 10, 64)
	b, _ := strconv.ParseInt(f[1], 10, 64)
	if a < y2k || b > y2k+slack || b-a < 1 {
		t.Errorf("date before and after sleep 2: got %d, %d; want from %d on, advancing (host time %d)", a, b, y2k, time.Now().Unix())
	}

	sb := New(pol, WithStateRoot(filepath.Join(t.TempDir(), "state")), WithEnv(append(os.Environ(), goClockEnv+"=1")))
	res, err = sb.Run(ctxFor(t, 60*time.Second), []string{exe})
	if err != nil {
		t.Fatalf("Run %s: %v (stderr %q)", exe, err, res.Stderr)
	}
	if n, _ := strconv.ParseInt(strings.TrimSpace(string(res.Stdout)), 10, 64); n < y2k || n > y2k+slack {
		t.Errorf("the Go runtime's time.Now: got %q, want a time from %d (host time %d)", res.Stdout, y2k, time.Now().Unix())
	}

	res, err = newSandbox(t, spec.Policy{}).Run(ctxFor(t, 60*time.Second), []string{"busybox", "date", "+%s"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n, _ := strconv.ParseInt(strings.TrimSpace(string(res.Stdout)), 10, 64); n < time.Now().Unix()-slack {
		t.Errorf("without time_start: got %q, want the host's time %d", res.Stdout, time.Now().Unix())
	}
}
