package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSandboxRuntimeDirsHidden: a sandbox whose writable rules reach the runtime's own
// directories must not write them. The default root holds the compiled seccomp programs every
// later create of the same user loads (a sandbox with -w /run replaced one with a program that
// allows everything, and the next sandbox ran without sandlock's filter); the state root holds
// the sandbox's own state (config.json, whose poststop hooks delete runs, the mount log, the
// audit log). The probes only create files of their own; before the fix they were created
// (and are removed here).
func TestSandboxRuntimeDirsHidden(t *testing.T) {
	requireSetup(t)
	t.Run("root, -w /run", func(t *testing.T) {
		cache := filepath.Join("/run/sandlock-runtime", "#seccomp-cache")
		probe := filepath.Join(cache, "escape-probe-"+strconv.Itoa(os.Getpid())+".json")
		t.Cleanup(func() { os.Remove(probe) })
		script := `echo '["BgAAAAAA/38="]' > "$1" && echo WROTE; ls /run/sandlock-runtime >/dev/null 2>&1 && echo LISTED
for d in /run/sandlock-sandbox/*/; do echo x >> "$d/config.json" 2>/dev/null && echo STATE; done; true`
		out, _, code := rt(t, sandboxArgs([]string{"-r", "/", "-w", "/run"}, "sh", "-c", script, "sh", probe)...)
		if code != 0 || out != "" {
			t.Errorf("the runtime's directories from a sandbox with -w /run: exit %d, %q; want nothing written or listed", code, out)
		}
		if _, err := os.Stat(probe); err == nil {
			t.Errorf("%s was created from the sandbox", probe)
		}
	})
	t.Run("uid 65534, -w HOME (the state root under TMPDIR)", func(t *testing.T) {
		asNobody, home := nobodyRunner(t, "--clear-groups")
		script := `ls "$HOME/sandlock-sandbox-65534" >/dev/null 2>&1 && echo LISTED
for d in "$HOME"/sandlock-sandbox-65534/*/; do echo x >> "$d/config.json" 2>/dev/null && echo STATE; done
echo ok > "$HOME/beside" && cat "$HOME/beside"`
		r := asNobody(t, sandboxArgs([]string{"-r", "/", "-w", home}, "sh", "-c", script))
		if r.code != 0 || strings.TrimSpace(r.stdout) != "ok" {
			t.Errorf("the sandbox's state root from the sandbox: exit %d, %q, stderr %q; want only ok", r.code, r.stdout, r.stderr)
		}
	})
}
