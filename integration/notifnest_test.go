package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// notifnestNames are notifnest.c's attempts.
var notifnestNames = []string{"own_listener", "i386:own_listener", "own_listener_chmod"}

// TestEscapeOwnListener runs notifnest.c: a filter of the process's own with a listener, ahead
// of the supervisor's, would take every trapped call from the supervisor and answer it
// CONTINUE (chmod of a file the policy does not let it change, here). The kernel refuses a
// second listener in a chain (EBUSY); this keeps it so, through the direct mode and a
// container. Unconfined (the control) the listener is made and the chmod works.
func TestEscapeOwnListener(t *testing.T) {
	bins := escapeBins(t)
	prog := filepath.Join(bins, "notifnest")
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("v\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("unconfined", func(t *testing.T) {
		out := runUnconfined(t, prog, victim)
		if !strings.Contains(out, "own_listener ESCAPED") || !strings.Contains(out, "own_listener_chmod ESCAPED") {
			t.Errorf("unconfined, the listener and its chmod must work (the probe must be live):\n%s", out)
		}
	})
	t.Run("sandbox", func(t *testing.T) {
		r := rtWith(t, nil, sandboxArgs(nil, prog, victim)...)
		requireOK(t, escapeVerdicts(t, r.stdout, 1), notifnestNames...)
	})
	t.Run("container", func(t *testing.T) {
		mutate := func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.sandlock.fs_readable": `["/escape"]`, "io.sandlock.fs_writable": `["/tmp"]`}
		}
		install := func(rootfs string) {
			if err := os.WriteFile(filepath.Join(rootfs, "escape", "victim"), []byte("v\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out := escapeRun(t, newID(), mutate, install, "/escape/notifnest", "/escape/victim")
		requireOK(t, escapeVerdicts(t, out, 1), notifnestNames...)
	})
	var st unix.Stat_t
	if err := unix.Stat(victim, &st); err != nil || st.Mode&0o7777 != 0o644 {
		t.Errorf("the victim's mode changed: %o %v", st.Mode&0o7777, err)
	}
}
