package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandlock/sandlock-runtime/internal/children"
)

// TestSandboxFSDeniedInWritable: `sandbox -w W --fs-denied W/secret`: files beside the secret
// are created and used afterwards, and every spelling of the secret is refused, a hard link
// made before start included; with the listed read paths and with -r / (the host's
// root, read-only).
func TestSandboxFSDeniedInWritable(t *testing.T) {
	requireSetup(t)
	for _, c := range []struct {
		name string
		read []string
	}{{"listed", sandboxRead}, {"the whole root", []string{"-r", "/"}}} {
		t.Run(c.name, func(t *testing.T) {
			w := t.TempDir()
			secret := filepath.Join(w, "secret")
			mustDo(t, os.WriteFile(secret, []byte("TOPSECRET\n"), 0o644))
			mustDo(t, os.Mkdir(filepath.Join(w, "sub"), 0o755))
			mustDo(t, os.Link(secret, filepath.Join(w, "sub", "prelink")))
			flags := append(append([]string{}, c.read...), "-w", w, "--fs-denied", secret)
			sh := func(script string) result {
				return rtWith(t, nil, sandboxArgs(flags, "sh", "-c", script)...)
			}
			r := sh("cd " + w + " && echo new > new && cat new && mv new new2 && mkdir d && touch d/f && " +
				"ln -s new2 sl && cat sl && ln new2 hard && rm hard sl d/f && rmdir d && echo s > sub/s && cat sub/s")
			if r.code != 0 || r.stdout != "new\nnew\ns\n" {
				t.Fatalf("siblings of the denied file: got exit %d stdout %q stderr %q, want them created and used", r.code, r.stdout, r.stderr)
			}
			for _, attempt := range []string{
				"cat " + secret, "echo x > " + secret, "cat " + w + "/sub/prelink",
				"ln " + secret + " " + w + "/l", "ln -s " + secret + " " + w + "/s && cat " + w + "/s",
				"mv " + secret + " " + w + "/moved", "mv " + w + "/new2 " + secret,
				"cd " + w + "/sub && cat ../secret", "cd " + w + " && cat /proc/self/cwd/secret",
				"python3 -c 'import os; os.rename(\"" + w + "/new2\", \"" + secret + "\")' 2>/dev/null || exit 1",
			} {
				if r := sh(attempt); r.code == 0 || strings.Contains(r.stdout, "TOPSECRET") {
					t.Errorf("%q: got exit %d stdout %q, want it refused", attempt, r.code, r.stdout)
				}
			}
			if b, err := os.ReadFile(secret); err != nil || string(b) != "TOPSECRET\n" {
				t.Errorf("the secret after the attempts: %q, %v; want it untouched", b, err)
			}
		})
	}
}

// TestSandboxFSDeniedDirInWritable: a denied directory inside a writable one: the writable
// directory can still be listed and written beside it (the supervisor does both: Landlock may
// not even list it, a rule on it would reach the denied directory), and nothing beneath the
// denied directory is reachable.
func TestSandboxFSDeniedDirInWritable(t *testing.T) {
	requireSetup(t)
	w := t.TempDir()
	den := filepath.Join(w, "secretdir")
	mustDo(t, os.Mkdir(den, 0o755))
	mustDo(t, os.WriteFile(filepath.Join(den, "key"), []byte("TOPSECRET\n"), 0o644))
	flags := append(append([]string{}, sandboxRead...), "-w", w, "--fs-denied", den)
	sh := func(script string) result { return rtWith(t, nil, sandboxArgs(flags, "sh", "-c", script)...) }
	if r := sh("cd " + w + " && echo n > new && ls && cat new"); r.code != 0 || r.stdout != "new\nsecretdir\nn\n" {
		t.Fatalf("beside the denied directory: got exit %d stdout %q stderr %q, want the listing and the new file", r.code, r.stdout, r.stderr)
	}
	for _, attempt := range []string{
		"cat " + den + "/key", "ls " + den, "echo x > " + den + "/x", "mv " + den + " " + w + "/moved",
		"ln -s " + den + " " + w + "/s && cat " + w + "/s/key", "cd " + den + " && cat key",
		"mkdir " + den + "/d", "mv " + w + "/new " + den + "/new",
	} {
		if r := sh(attempt); r.code == 0 || strings.Contains(r.stdout, "TOPSECRET") {
			t.Errorf("%q: got exit %d stdout %q, want it refused", attempt, r.code, r.stdout)
		}
	}
	if ents, err := os.ReadDir(den); err != nil || len(ents) != 1 {
		t.Errorf("the denied directory after the attempts: %v, %v; want only key", ents, err)
	}
}

// TestPolicyFSDeniedInWritable: a container (io.sandlock.fs_denied) with /w/secret denied in
// the writable rootfs: busybox creates and uses files beside it, and every spelling of the
// secret is refused.
func TestPolicyFSDeniedInWritable(t *testing.T) {
	kv := map[string]string{"io.sandlock.fs_denied": `["/w/secret"]`}
	files := map[string]string{"w/secret": "s3cret\n", "w/old": "old\n"}
	script := tries([][2]string{
		{"create", "echo new > /w/new"},
		{"read", "cat /w/new"},
		{"append", "echo more >> /w/new"},
		{"rename", "mv /w/new /w/new2"},
		{"mkdir", "mkdir /w/d"},
		{"touch", "touch /w/d/f"},
		{"symlink", "ln -s new2 /w/sl && cat /w/sl"},
		{"hardlink", "ln /w/new2 /w/hard && cat /w/hard"},
		{"remove", "rm /w/hard /w/sl /w/d/f && rmdir /w/d"},
		{"list", "ls /w"},
		{"old", "cat /w/old"},
		{"direct", "cat /w/secret"},
		{"overwrite", "echo x > /w/secret"},
		{"link_secret", "ln /w/secret /w/l"},
		{"symlink_secret", "ln -s /w/secret /w/s && cat /w/s"},
		{"mv_away", "mv /w/secret /w/gone"},
		{"mv_over", "mv /w/new2 /w/secret"},
		{"dotdot", "cd /w && cat ../w/secret"},
		{"proccwd", "cd /w && cat /proc/self/cwd/secret"},
		{"rm_secret", "rm /w/secret"},
	})
	out, stderr, code := runScript(t, kv, files, script+"cat /w/secret 2>/dev/null; ls /w\n")
	wantTries(t, out, stderr, code, map[string]string{
		"create": "ok", "read": "ok", "append": "ok", "rename": "ok", "mkdir": "ok", "touch": "ok",
		"symlink": "ok", "hardlink": "ok", "remove": "ok", "list": "ok", "old": "ok",
		"direct": "refused", "overwrite": "refused", "link_secret": "refused", "symlink_secret": "refused",
		"mv_away": "refused", "mv_over": "refused", "dotdot": "refused", "proccwd": "refused",
		"rm_secret": "refused",
	})
	if strings.Contains(out, "s3cret") || !strings.Contains(out, "secret\n") {
		t.Errorf("the denied file leaked or is gone:\n%s", out)
	}
}

// TestSandboxFSDeniedOpenat2InRoot: openat2 with RESOLVE_IN_ROOT and an absolute path, in a
// directory holding a denied file, creates beneath the dirfd (the supervisor performs it), as
// the kernel would, and still never reaches the denied file.
func TestSandboxFSDeniedOpenat2InRoot(t *testing.T) {
	requireSetup(t)
	w := t.TempDir()
	secret := filepath.Join(w, "secret")
	mustDo(t, os.WriteFile(secret, []byte("TOPSECRET\n"), 0o644))
	flags := append(append([]string{}, sandboxRead...), "-w", w, "--fs-denied", secret)
	py := func(name string) string {
		return `import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
how = (ctypes.c_uint64 * 3)(os.O_CREAT | os.O_RDWR, 0o644, 0x10)  # RESOLVE_IN_ROOT
d = os.open("` + w + `", os.O_PATH | os.O_DIRECTORY)
os.chdir("/")
fd = libc.syscall(437, d, b"/` + name + `", how, 24)
if fd < 0:
    sys.exit(os.strerror(ctypes.get_errno()))
print(os.read(fd, 100).decode(), end="")`
	}
	r := rtWith(t, nil, sandboxArgs(flags, "python3", "-c", py("new"))...)
	if r.code != 0 {
		t.Fatalf("openat2 IN_ROOT create beside the denied file: exit %d stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(w, "new")); err != nil {
		t.Errorf("the file made beneath the dirfd: %v", err)
	}
	if r := rtWith(t, nil, sandboxArgs(flags, "python3", "-c", py("secret"))...); r.code == 0 || strings.Contains(r.stdout, "TOPSECRET") {
		t.Errorf("openat2 IN_ROOT of the denied file: exit %d stdout %q, want it refused", r.code, r.stdout)
	}
}

// TestFSCarveFIFOCallerKilled runs fifoleak.c: FIFO opens in a carved directory wait on
// threads of the supervisor, which is outside the container's cgroup; a caller killed in the
// open must not leave its thread waiting for ever (before the fix, 100 children left 100
// threads, past any max_processes).
func TestFSCarveFIFOCallerKilled(t *testing.T) {
	bins := escapeBins(t)
	w := filepath.Join(t.TempDir(), "w")
	if err := os.MkdirAll(w, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w, "secret"), []byte("s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sup := heldSandbox(t, "killed 100", "-w", w, "--fs-denied", filepath.Join(w, "secret"),
		"--", filepath.Join(bins, "fifoleak"), filepath.Join(w, "p"), "100")
	if n := threadsSettle(t, sup, 50); n >= 50 {
		t.Errorf("the supervisor holds %d threads after 100 FIFO openers were killed (want them released)", n)
	}
}

// startHeld runs the runtime with args in the background, its stdin held open until the test
// ends (the probe waits on it before it exits), and returns the first line it prints.
func startHeld(t *testing.T, args ...string) string {
	t.Helper()
	out := newOutFile(t)
	cmd, files := rtCommand(t, args...)
	cmd.Stdout = out.f
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := children.Start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait(); files[0].Close(); files[1].Close() })
	return out.line(t)
}

// heldSandbox starts a named sandbox of the host's root with args (options, "--", the
// program and its arguments), held as startHeld does, checks its first line is want and
// returns its supervisor's pid.
func heldSandbox(t *testing.T, want string, args ...string) int {
	t.Helper()
	id := newID()
	track(t, id)
	if l := startHeld(t, append([]string{"sandbox", "--name", id, "-r", "/"}, args...)...); l != want {
		t.Fatalf("%v: first line %q, want %q", args, l, want)
	}
	return supervisorOf(t, id)
}

// TestSendCallerKilled runs sendleak.c in the direct mode (where sendmsg is performed on
// behalf): a caller killed in a send that waits for room must not leave the supervisor's thread
// waiting (before the fix, 60 children left 60 threads while the peer kept its end open).
func TestSendCallerKilled(t *testing.T) {
	bins := escapeBins(t)
	w := t.TempDir()
	sup := heldSandbox(t, "killed 60", "-w", w, "--", filepath.Join(bins, "sendleak"), filepath.Join(w, "s"), "60")
	if n := threadsSettle(t, sup, 30); n >= 30 {
		t.Errorf("the supervisor holds %d threads after 60 senders were killed (want them released)", n)
	}
}

// threadsSettle waits (up to 30 s) for process pid to have fewer than want threads and
// returns how many it has.
func threadsSettle(t *testing.T, pid, want int) int {
	t.Helper()
	n := -1
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		if n = len(ents); n < want {
			break
		}
	}
	return n
}

// supervisorOf finds the supervisor process of the container (or named sandbox) id.
func supervisorOf(t *testing.T, id string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		pids := pidsByCmdline(func(args []string) bool {
			return slices.Contains(args, "supervise") && strings.Contains(strings.Join(args, "\x00"), "/"+id+"\x00")
		})
		if len(pids) > 0 {
			return pids[0]
		}
	}
	t.Fatalf("no supervisor found for %s", id)
	return 0
}
