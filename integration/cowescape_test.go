package integration

// The copy-on-write workdir, attacked from inside (docs/security.md, "The copy-on-write
// workdir's layer store"): shell attacks run by `sandbox --workdir`, a container with
// io.sandlock.workdir, as root and as a user.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// storageAttack is a script that, from inside a sandbox whose policy lets it write the layer
// store (storage, as the sandbox sees it), rewrites its own layer's meta.json: the workdir
// becomes victim (with victim's device and inode, so the identity check passes) and the
// action COMMIT, then makes a file in the upper directory directly. It prints what the
// kernel answered; the test judges by what landed in victim.
func storageAttack(t *testing.T, storage, victim string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(victim, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`echo pwned > pwned
for m in %[1]s/*/meta.json; do
  sed -i 's#"workdir":"[^"]*"#"workdir":"%[2]s"#; s#"workdirDev":[0-9]*#"workdirDev":%[3]d#; s#"workdirIno":[0-9]*#"workdirIno":%[4]d#; s#"onExit":"[A-Z]*"#"onExit":"COMMIT"#; s#"onError":"[A-Z]*"#"onError":"COMMIT"#; s#"dryRun":true#"dryRun":false#' "$m" 2>/dev/null && echo meta-rewritten
  echo planted > "$(dirname "$m")/upper/planted" 2>/dev/null && echo upper-written
done
true`, storage, victim, st.Dev, st.Ino)
}

// storageVictim is a directory the sandbox may not write, holding one file.
func storageVictim(t *testing.T, parent string) string {
	t.Helper()
	v := filepath.Join(parent, "victim")
	if err := os.MkdirAll(v, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v, "v"), []byte("v\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return v
}

// checkVictim fails the test for anything a layer landed in victim.
func checkVictim(t *testing.T, victim, out string) {
	t.Helper()
	if got := readDirNames(victim); got != "v" {
		t.Errorf("ESCAPED: the runtime committed the layer into %s, a directory the sandbox may not write (now: %s); the sandbox said %q", victim, got, out)
	}
	if strings.Contains(out, "meta-rewritten") || strings.Contains(out, "upper-written") {
		t.Errorf("the sandbox wrote the layer store: %q", out)
	}
}

// TestEscapeCOWStorage: fs_storage where the policy lets the sandbox write (fs_writable above
// it). The sandbox rewrote its layer's meta.json (the workdir: another directory; the action:
// COMMIT) and the runtime, at the end, committed the layer there, as root: a file made in a
// directory outside every writable rule, past on_exit ABORT. The store is now read-only in the
// sandbox's view; both ways of making the view (create's, the helper's), as a user (with and
// without max_disk's tmpfs), and in a container whose fs_storage is in its rootfs.
func TestEscapeCOWStorage(t *testing.T) {
	requireSetup(t)
	root := func(t *testing.T, adjust func(*exec.Cmd)) {
		base := t.TempDir()
		victim := storageVictim(t, base)
		wd, storage := filepath.Join(base, "s", "wd"), filepath.Join(base, "s", "layers")
		if err := os.MkdirAll(wd, 0o755); err != nil {
			t.Fatal(err)
		}
		r := rtWith(t, func(c *exec.Cmd) {
			c.Dir = wd
			if adjust != nil {
				adjust(c)
			}
		}, sandboxArgs([]string{"-r", "/", "-w", filepath.Join(base, "s"), "--workdir", wd, "--fs-storage", storage, "--on-exit", "ABORT"},
			"sh", "-c", storageAttack(t, storage, victim))...)
		if r.code != 0 {
			t.Errorf("code %d: %s", r.code, r.stderr)
		}
		checkVictim(t, victim, r.stdout)
		if _, err := os.Stat(filepath.Join(wd, "pwned")); err == nil {
			t.Errorf("the aborted layer landed in the workdir")
		}
	}
	t.Run("root", func(t *testing.T) { root(t, nil) })
	t.Run("root helper", func(t *testing.T) {
		root(t, func(c *exec.Cmd) { c.Env = append(os.Environ(), "SANDLOCK_COW_TEST_TREE=helper") })
	})
	t.Run("user", func(t *testing.T) {
		run, home := nobodyRunner(t, "--clear-groups")
		victim := storageVictim(t, home)
		s := filepath.Join(home, "rw")
		wd, storage := filepath.Join(s, "wd"), filepath.Join(s, "layers")
		if err := os.MkdirAll(wd, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{victim, filepath.Join(victim, "v"), wd} {
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
		for _, extra := range [][]string{nil, {"--max-disk", "1M"}} {
			flags := append([]string{"-r", "/", "-w", s, "--workdir", wd, "--fs-storage", storage, "--on-exit", "ABORT"}, extra...)
			r := run(t, sandboxArgs(flags, "sh", "-c", "cd "+wd+" && "+storageAttack(t, storage, victim)))
			if r.code != 0 {
				t.Errorf("%v: code %d: %s", extra, r.code, r.stderr)
			}
			checkVictim(t, victim, r.stdout)
		}
	})
	t.Run("container", func(t *testing.T) {
		victim := storageVictim(t, t.TempDir())
		bundle := newBundleWith(t, nil, "sh", "-c", "cd /data && "+storageAttack(t, "/layers", victim))
		sp, err := loadSpec(filepath.Join(bundle, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		sp.Annotations = map[string]string{"io.sandlock.workdir": "/data", "io.sandlock.on_exit": "ABORT",
			"io.sandlock.fs_storage": filepath.Join(bundle, "rootfs", "layers")}
		writeSpec(t, bundle, sp)
		if err := os.MkdirAll(filepath.Join(bundle, "rootfs", "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		r := rtWith(t, nil, "run", "--bundle", bundle, newID())
		if r.code != 0 {
			t.Errorf("code %d: %s", r.code, r.stderr)
		}
		checkVictim(t, victim, r.stdout)
	})
}
