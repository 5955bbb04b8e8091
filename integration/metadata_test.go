package integration

// Metadata and syscall numbers (issue: an outside escape corpus). Landlock has no access
// right for chmod, chown, utimes, extended attributes or inode flags, nor for reading a
// symlink or an attribute; the supervisor performs them on behalf of the process where the
// policy lets it write (read) the object, and refuses them elsewhere (docs/security.md,
// "Metadata"). Every test proves first that its program escapes when nothing confines it.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// notMediated are the attempts that are refused even where the policy allows the operation:
// the newer spellings answer ENOSYS (libc falls back to the mediated ones) and the i386 entry
// is refused outright (the supervisor decodes x86_64 arguments only).
var notMediated = map[string]bool{
	"setxattrat": true, "removexattrat": true, "file_setattr": true, "getxattrat": true, "listxattrat": true,
}

// verdicts parses an escape program's lines into name -> verdict (ok, ESCAPED, ERROR), failing
// the test when the program did not reach its END line.
func verdicts(t *testing.T, out string) map[string]string {
	t.Helper()
	got := map[string]string{}
	end := false
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case f[0] == "END":
			end = true
		case len(f) >= 2:
			got[f[0]] = f[1]
			if strings.Contains(l, " n/a") {
				got[f[0]] = "n/a"
			}
		}
	}
	if !end || len(got) == 0 {
		t.Fatalf("the program did not finish; output:\n%s", out)
	}
	return got
}

// expectAll checks every attempt against want (ok or ESCAPED); the notMediated ones and the
// i386 ones must be refused whatever want is (n/a where the host has no i386 entry).
func expectAll(t *testing.T, out, want string) {
	t.Helper()
	for name, v := range verdicts(t, out) {
		w := want
		if notMediated[name] || strings.HasPrefix(name, "i386_") {
			w = "ok"
		}
		if v != w && v != "n/a" {
			t.Errorf("%s: %s, want %s", name, v, w)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// metadataTargets makes, in dir, a file f (with the attribute user.escape) and a symlink l.
func metadataTargets(t *testing.T, dir string) (f, l string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, l = filepath.Join(dir, "f"), filepath.Join(dir, "l")
	if err := os.WriteFile(f, []byte("victim\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(f, "user.escape", []byte("1"), 0); err != nil {
		t.Fatalf("user xattrs on %s: %v", dir, err)
	}
	if err := os.Symlink("/etc/hostname", l); err != nil {
		t.Fatal(err)
	}
	return f, l
}

func runUnconfined(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, _ := exec.Command(bin, args...).Output() // exits 1 when anything escaped: expected here
	return string(out)
}

// TestEscapeMetadataUnconfined: each attempt does its work when nothing confines it, so a
// refusal under the runtime is the runtime's.
func TestEscapeMetadataUnconfined(t *testing.T) {
	bins := escapeBins(t)
	f, l := metadataTargets(t, t.TempDir())
	expectAllEscaped(t, runUnconfined(t, filepath.Join(bins, "metadata"), "write", f))
	expectAllEscaped(t, runUnconfined(t, filepath.Join(bins, "metadata"), "read", f, l))
	got := verdicts(t, runUnconfined(t, filepath.Join(bins, "numbers")))
	for _, n := range []string{"open_tree_attr", "i386_open_tree_attr"} {
		if got[n] != "ESCAPED" && got[n] != "n/a" {
			t.Errorf("%s unconfined: %s, want ESCAPED (the probe must reach the kernel)", n, got[n])
		}
	}
}

func expectAllEscaped(t *testing.T, out string) {
	t.Helper()
	for name, v := range verdicts(t, out) {
		if v != "ESCAPED" && v != "n/a" {
			t.Errorf("%s unconfined: %s, want ESCAPED", name, v)
		}
	}
}

// TestEscapeMetadataSandbox: the direct mode, with the corpus's rules.
func TestEscapeMetadataSandbox(t *testing.T) {
	bins := escapeBins(t)
	base := t.TempDir()
	w := filepath.Join(base, "w")
	outF, outL := metadataTargets(t, filepath.Join(base, "outside"))
	inF, inL := metadataTargets(t, w)
	denF, denL := metadataTargets(t, filepath.Join(w, "secret"))
	rules := []string{"-r", "/usr", "-r", "/lib", "-r", "/lib64", "-r", "/bin", "-r", bins, "-w", w}
	meta := filepath.Join(bins, "metadata")
	run := func(extra []string, args ...string) string {
		r := rtWith(t, nil, sandboxArgs(append(append([]string{}, rules...), extra...), append([]string{meta}, args...)...)...)
		return r.stdout
	}
	// Readable but not writable: every spelling can be tried, fd ones included.
	readable := []string{"-r", filepath.Dir(outF)}
	t.Run("write outside fs_writable", func(t *testing.T) { expectAll(t, run(readable, "write", outF), "ok") })
	t.Run("read outside fs_readable", func(t *testing.T) { expectAll(t, run(nil, "read", outF, outL), "ok") })
	denied := []string{"--fs-denied", filepath.Dir(denF)}
	t.Run("write fs_denied", func(t *testing.T) { expectAll(t, run(denied, "write", denF), "ok") })
	t.Run("read fs_denied", func(t *testing.T) { expectAll(t, run(denied, "read", denF, denL), "ok") })
	t.Run("write inside fs_writable", func(t *testing.T) { expectAll(t, run(nil, "write", inF), "ESCAPED") })
	t.Run("read inside fs_writable", func(t *testing.T) { expectAll(t, run(nil, "read", inF, inL), "ESCAPED") })
	// With a copy-on-write workdir the process is in a mount namespace of its own, whose
	// mounts have IDs the host's table lacks: the fd spellings were taken for pipes there and
	// changed the host file (fchmod, fchown, futimens, fsetxattr, the flag ioctls).
	cow := []string{"--workdir", filepath.Join(base, "cow"), "--fs-storage", filepath.Join(base, "layers"), "--on-exit", "ABORT"}
	cowF, _ := metadataTargets(t, filepath.Join(base, "cow"))
	t.Run("write outside fs_writable in a copy-on-write workdir", func(t *testing.T) {
		expectAll(t, run(append(append([]string{}, readable...), cow...), "write", outF), "ok")
	})
	t.Run("write inside the copy-on-write workdir", func(t *testing.T) { expectAll(t, run(cow, "write", cowF), "ESCAPED") })
	var st unix.Stat_t
	if err := unix.Stat(outF, &st); err != nil || st.Mode&0o7777 != 0o644 {
		t.Errorf("the file outside fs_writable changed: mode %o, %v", st.Mode&0o7777, err)
	}
	t.Run("numbers", func(t *testing.T) {
		r := rtWith(t, nil, sandboxArgs(rules, filepath.Join(bins, "numbers"))...)
		expectAll(t, r.stdout, "ok")
	})
}

// TestEscapeMetadataContainer: in a container, with the default capabilities and with every
// capability (CAP_SYS_ADMIN, CAP_CHOWN, CAP_FOWNER included: capabilities widen what the
// kernel allows, never what the policy denies).
func TestEscapeMetadataContainer(t *testing.T) {
	escapeBins(t)
	for _, caps := range []struct {
		name string
		set  func(*specs.Spec)
	}{{"default caps", nil}, {"all caps", withAllCaps}} {
		t.Run(caps.name, func(t *testing.T) {
			for _, c := range []struct {
				name     string
				readable string
				args     []string
				want     string
			}{
				{"write outside fs_writable", `["/escape", "/victim"]`, []string{"write", "/victim/f"}, "ok"},
				{"read outside fs_readable", `["/escape"]`, []string{"read", "/victim/f", "/victim/l"}, "ok"},
				{"write fs_denied", `["/escape"]`, []string{"write", "/tmp/secret/f"}, "ok"},
				{"read fs_denied", `["/escape"]`, []string{"read", "/tmp/secret/f", "/tmp/secret/l"}, "ok"},
				{"write outside fs_writable in a workdir", `["/escape", "/victim"]`, []string{"write", "/victim/f"}, "ok"},
				{"write inside fs_writable", `["/escape"]`, []string{"write", "/tmp/f"}, "ESCAPED"},
				{"read inside fs_writable", `["/escape"]`, []string{"read", "/tmp/f", "/tmp/l"}, "ESCAPED"},
			} {
				t.Run(c.name, func(t *testing.T) {
					ann := map[string]string{
						"io.sandlock.fs_readable": c.readable,
						"io.sandlock.fs_writable": `["/tmp"]`,
					}
					if strings.Contains(c.name, "fs_denied") {
						ann["io.sandlock.fs_denied"] = `["/tmp/secret"]`
					}
					if strings.Contains(c.name, "workdir") { // a copy-on-write workdir: a mount namespace
						ann["io.sandlock.workdir"] = "/tmp"
						ann["io.sandlock.fs_storage"] = filepath.Join(t.TempDir(), "layers")
						ann["io.sandlock.on_exit"] = "ABORT"
					}
					mutate := chain(caps.set, func(s *specs.Spec) { s.Annotations = ann })
					install := func(rootfs string) {
						metadataTargets(t, filepath.Join(rootfs, "victim"))
						metadataTargets(t, filepath.Join(rootfs, "tmp"))
						metadataTargets(t, filepath.Join(rootfs, "tmp", "secret"))
					}
					out := escapeRun(t, newID(), mutate, install, append([]string{"/escape/metadata"}, c.args...)...)
					expectAll(t, out, c.want)
				})
			}
			t.Run("numbers", func(t *testing.T) {
				expectAll(t, escapeRun(t, newID(), caps.set, nil, "/escape/numbers"), "ok")
			})
		})
	}
}

// TestSandboxDeviceMetadata: the direct mode always grants the host's /dev/null (and the other
// harmless devices) for writing; that is using the device, not changing the host's inode: its
// mode and times stay the host's.
func TestSandboxDeviceMetadata(t *testing.T) {
	requireSetup(t)
	before := devNull(t)
	script := `touch -d 2001-02-03 /dev/null 2>/dev/null && echo touched; chmod 0600 /dev/null 2>/dev/null && echo chmodded; echo x > /dev/null && echo wrote`
	r := rtWith(t, nil, sandboxArgs(nil, "sh", "-c", script)...)
	devNullUnchanged(t, before)
	if r.code != 0 || r.stdout != "wrote\n" {
		t.Errorf("exit %d, stdout %q, want only the write: %s", r.code, r.stdout, r.stderr)
	}
}

// TestSandboxHostDevices: the direct mode's read rule on / must not reach the host's devices
// (a uid-0 sandbox needs no capability to open a block device and read every file's data past
// the path rules) nor other processes' POSIX shared memory in /dev/shm; the harmless devices
// stay usable and /dev, /dev/shm stay listable. Unconfined, the test's root opens both.
func TestSandboxHostDevices(t *testing.T) {
	requireSetup(t)
	shm := filepath.Join("/dev/shm", fmt.Sprintf("sandlock-probe-%d", os.Getpid()))
	if err := os.WriteFile(shm, []byte("secret\n"), 0o600); err != nil {
		t.Skipf("no /dev/shm to probe: %v", err)
	}
	t.Cleanup(func() { os.Remove(shm) })
	targets := []string{shm}
	if f, err := os.Open("/dev/loop0"); err == nil { // a block device root may open
		f.Close()
		targets = append(targets, "/dev/loop0")
	} else {
		t.Logf("/dev/loop0 cannot be opened here (%v): only /dev/shm is probed", err)
	}
	script := `for f in "$@"; do head -c1 "$f" >/dev/null 2>&1 && echo "opened $f"; done
head -c4 /dev/urandom | wc -c; echo x > /dev/null && echo null; ls /dev/shm >/dev/null && ls /dev >/dev/null && echo listed`
	r := rtWith(t, nil, sandboxArgs(nil, append([]string{"sh", "-c", script, "sh"}, targets...)...)...)
	if r.code != 0 || r.stdout != "4\nnull\nlisted\n" {
		t.Errorf("exit %d, stdout %q (want nothing opened, the harmless devices working), stderr %s", r.code, r.stdout, r.stderr)
	}
}

// TestSandboxFSDeniedDefaultRoot: fs_denied under the direct mode's default (the whole root
// readable) holds. It did not: the direct mode carves the host's devices out of the rules after
// fs_denied has carved them, and that second carving turned the list-only rule fs_denied left
// on / into read rules on every entry, /etc included.
func TestSandboxFSDeniedDefaultRoot(t *testing.T) {
	requireSetup(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("TOPSECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "open"), []byte("open\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rtWith(t, nil, sandboxArgs([]string{"--fs-denied", secret}, "sh", "-c",
		`cat "$1" 2>/dev/null || echo refused; cat "$2"`, "sh", secret, filepath.Join(dir, "open"))...)
	if r.code != 0 || r.stdout != "refused\nopen\n" {
		t.Errorf("exit %d, stdout %q, want the denied file refused and its sibling read: %s", r.code, r.stdout, r.stderr)
	}
}
