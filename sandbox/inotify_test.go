package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// watchHelperEnv makes the test binary, run inside a sandbox, add an inotify watch on the
// directory it names and print "watching" or the errno (watchHelper).
const watchHelperEnv = "SANDLOCK_TEST_WATCH"

func watchHelper(dir string) int {
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		fmt.Println("init:", err)
		return 1
	}
	if _, err := unix.InotifyAddWatch(in, dir, unix.IN_ALL_EVENTS); err != nil {
		fmt.Println("refused:", err)
		return 0
	}
	fmt.Println("watching")
	return 0
}

// TestInotifyDenied: through the Go API, an inotify watch on an fs_denied directory (which
// would report every name created, opened or removed there: Landlock has no hook on inotify
// marks) is refused, and one on the writable directory is added.
func TestInotifyDenied(t *testing.T) {
	requireKernel(t)
	p, w := hostPolicy(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p.FSReadable = append(p.FSReadable, filepath.Dir(exe))
	denied := filepath.Join(w, "secret")
	if err := os.Mkdir(denied, 0o755); err != nil {
		t.Fatal(err)
	}
	p.FSDenied = []string{denied}
	outside := t.TempDir() // in no rule at all
	for _, c := range []struct{ dir, want string }{
		{denied, "refused: permission denied"},
		{outside, "refused: permission denied"},
		{w, "watching"},
	} {
		sb := New(p, WithStateRoot(filepath.Join(t.TempDir(), "state")), WithEnv(append(os.Environ(), watchHelperEnv+"="+c.dir)))
		res, err := sb.Run(ctxFor(t, 60*time.Second), []string{exe})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := strings.TrimSpace(string(res.Stdout)); got != c.want {
			t.Errorf("inotify_add_watch %s: got %q (code %d, stderr %q), want %q", c.dir, got, res.ExitCode, res.Stderr, c.want)
		}
	}
}
