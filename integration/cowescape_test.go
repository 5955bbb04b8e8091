package integration

// The copy-on-write workdir, attacked from inside (docs/security.md, "The copy-on-write
// workdir's layer store"): shell attacks run by `sandbox --workdir`, a container with
// io.sandlock.workdir, as root and as a user.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

// sparseScript makes, under max_disk 1M, files of 64 MiB that take (almost) no block: a
// truncate, a byte written past a hole, a hole punched in written data.
const sparseScript = `truncate -s 64M trunc && dd if=/dev/zero of=seek bs=1 count=1 seek=64M 2>/dev/null && printf data > small && echo made`

// allocated is the bytes of disk the regular files under dir take, and their total size.
func allocated(t *testing.T, dir string) (blocks, size int64) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			var st unix.Stat_t
			if unix.Stat(p, &st) == nil {
				blocks += st.Blocks * 512
				size += st.Size
			}
		}
		return nil
	})
	return blocks, size
}

// TestEscapeCOWSparse: max_disk bounds the layer's tmpfs, where a sparse file takes no block;
// the commit (and a kept layer's copy to disk) wrote the holes out as zeros, so `truncate -s
// 64M` under --max-disk 1M put 64 MiB on the host's disk (a terabyte as easily). Now the copy
// keeps the holes: what lands takes the blocks the layer took. As root and as a user.
func TestEscapeCOWSparse(t *testing.T) {
	requireSetup(t)
	check := func(t *testing.T, what, dir string) {
		t.Helper()
		blocks, size := allocated(t, dir)
		if size < 128<<20 {
			t.Errorf("%s: %d bytes of files, want the sparse files' 128 MiB (the run did not make them?)", what, size)
		}
		if blocks > 1<<20 {
			t.Errorf("ESCAPED: %s takes %d bytes of the host's disk, past max_disk 1M", what, blocks)
		}
	}
	t.Run("root", func(t *testing.T) {
		wd, storage := cowTree(t)
		r := rtWith(t, func(c *exec.Cmd) { c.Dir = wd }, sandboxArgs(cowFlags(wd, storage, "--max-disk", "1M"), "sh", "-c", sparseScript)...)
		if r.code != 0 || r.stdout != "made\n" {
			t.Fatalf("code %d, %q: %s", r.code, r.stdout, r.stderr)
		}
		check(t, "the committed workdir", wd)
		r = rtWith(t, func(c *exec.Cmd) { c.Dir = wd }, sandboxArgs(cowFlags(wd, storage, "--max-disk", "1M", "--on-exit", "KEEP"), "sh", "-c", "rm trunc seek && "+sparseScript)...)
		if r.code != 0 || len(layers(t, storage)) != 1 {
			t.Fatalf("keep: code %d, layers %v: %s", r.code, layers(t, storage), r.stderr)
		}
		check(t, "the kept layer", layers(t, storage)[0])
	})
	t.Run("user", func(t *testing.T) {
		run, wd := nobodyWorkdir(t)
		r := run(t, sandboxArgs([]string{"--workdir", wd, "--max-disk", "1M"}, "sh", "-c", "cd "+wd+" && "+sparseScript))
		if r.code != 0 || r.stdout != "made\n" {
			t.Fatalf("code %d, %q: %s", r.code, r.stdout, r.stderr)
		}
		check(t, "the committed workdir", wd)
	})
}

// inodeScript makes up to 1000 directories and 1000 empty files (no block on a tmpfs; a
// directory takes a 4 KiB block on the host's disk once committed), printing how many it made.
const inodeScript = `i=0; while [ $i -lt 1000 ]; do mkdir d$i 2>/dev/null && true 2>/dev/null >f$i || break; i=$((i+1)); done; echo $i`

// TestEscapeCOWInodes: max_disk bounded the tmpfs' blocks, not its inodes (by default half the
// host's RAM in pages): directories and empty files took nothing of the limit, and the commit
// landed them all on the host's disk (1000 directories under --max-disk 256K: 4 MiB of
// directory blocks, and as easily millions of inodes). The tmpfs now has one inode per 4 KiB of
// the limit. As root and as a user.
func TestEscapeCOWInodes(t *testing.T) {
	requireSetup(t)
	check := func(t *testing.T, r result, wd string) {
		t.Helper()
		n, err := strconv.Atoi(strings.TrimSpace(r.stdout))
		if r.code != 0 || err != nil {
			t.Fatalf("code %d, %q: %s", r.code, r.stdout, r.stderr)
		}
		ents, _ := os.ReadDir(wd)
		if n > 64 || len(ents) > 128 {
			t.Errorf("ESCAPED: %d directories and files made under --max-disk 256K, %d landed in the workdir (%d bytes of it on disk)", 2*n, len(ents), du(t, wd))
		}
	}
	t.Run("root", func(t *testing.T) {
		wd, storage := filepath.Join(t.TempDir(), "wd"), filepath.Join(t.TempDir(), "layers")
		if err := os.MkdirAll(wd, 0o755); err != nil {
			t.Fatal(err)
		}
		r := rtWith(t, func(c *exec.Cmd) { c.Dir = wd }, sandboxArgs(cowFlags(wd, storage, "--max-disk", "256K"), "sh", "-c", inodeScript)...)
		check(t, r, wd)
	})
	t.Run("user", func(t *testing.T) {
		run, wd := nobodyWorkdir(t)
		check(t, run(t, sandboxArgs([]string{"--workdir", wd, "--max-disk", "256K"}, "sh", "-c", "cd "+wd+" && "+inodeScript)), wd)
	})
}

// du is the bytes of disk the entries under dir take (their blocks).
func du(t *testing.T, dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		var st unix.Stat_t
		if err == nil && unix.Lstat(p, &st) == nil {
			n += st.Blocks * 512
		}
		return nil
	})
	return n
}

// TestEscapeCOWCommitRace: a user's sandbox has no cgroup, so a process that leaves its tree
// (setsid and a double fork) outlives it and can change the layer, through its overlay, while
// the runtime commits it; it can tell when (the overlay lists the workdir again after each change
// of the upper, so the commit's staging directory shows). The commit read the upper by path: a
// directory its diff had seen was a symlink by the time it was staged, and the runtime
// hard-linked the files of a directory the sandbox could not read (its Landlock rules) into the
// workdir, for the next run to read. The commit now resolves every path of the layer beneath
// it without a symlink (cowfs/beneath.go). Deterministic: the commit's test hook waits, once its
// staging directory exists, for `go` in the upper, and the test makes the survivor's move
// itself (RENAME_EXCHANGE of the directory and the symlink, in the upper), then `go`.
func TestEscapeCOWCommitRace(t *testing.T) {
	run, home := nobodyRunner(t, "--clear-groups")
	wd, secret := filepath.Join(home, "rw", "wd"), filepath.Join(home, "secret")
	for _, d := range []string{wd, secret} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(secret, "key"), []byte("TOPSECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{wd, secret, filepath.Join(secret, "key")} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	storage := filepath.Join(home, "layers")
	t.Setenv("SANDLOCK_COW_TEST_STAGE_WAIT", "go")
	ro := []string{"-r", "/usr", "-r", "/bin", "-r", "/lib"}
	if _, err := os.Stat("/lib64"); err == nil {
		ro = append(ro, "-r", "/lib64")
	}
	done := make(chan result, 1)
	go func() {
		done <- run(t, sandboxArgs(append(ro, "--workdir", wd, "--fs-storage", storage), "sh", "-c",
			"cat "+secret+"/key 2>/dev/null && echo secret-readable; cd "+wd+" && mkdir d && : > d/own && ln -s "+secret+" s"))
	}()
	var staged bool
	for deadline := time.Now().Add(60 * time.Second); !staged; time.Sleep(10 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(wd, ".sandlock-commit-*", "sandlock-stage"))
		staged = len(m) > 0
		if !staged && time.Now().After(deadline) {
			t.Fatal("the commit never made its staging directory")
		}
	}
	uppers, _ := filepath.Glob(filepath.Join(storage, "*", "upper"))
	if len(uppers) != 1 {
		t.Fatalf("layers: %v", uppers)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(uppers[0], "d"), unix.AT_FDCWD, filepath.Join(uppers[0], "s"), unix.RENAME_EXCHANGE); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(uppers[0], "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if strings.Contains(r.stdout, "secret-readable") {
		t.Fatalf("the sandbox can read %s: the test proves nothing", secret)
	}
	var leaked []string
	_ = filepath.Walk(wd, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "TOPSECRET") {
				leaked = append(leaked, p)
			}
		}
		return nil
	})
	if len(leaked) > 0 {
		t.Errorf("ESCAPED: the commit landed the unreadable %s/key in the workdir: %v (run: code %d, %s)", secret, leaked, r.code, r.stderr)
	}
}

// TestEscapeCOWMainSuite: escape.c's main attempts (fds, the listener, /proc/PID/root and cwd of
// host processes, the supervisor and the zygote, mount and chroot, ptrace, namespaces, the
// syscall probes) from a container whose root is the workdir's view (a detached copy of the
// mount tree, the overlay at /escape), with default capabilities and with all of them: the view
// must add no way out (a descriptor of the tree left open, a root outside it).
func TestEscapeCOWMainSuite(t *testing.T) {
	escapeBins(t)
	for _, c := range []struct {
		name string
		caps func(*specs.Spec)
		env  []string
	}{{"default caps", nil, nil}, {"every capability", chain(withAllCaps, withoutNamespace(specs.NetworkNamespace)), []string{"ESC_PRIV=1"}}} {
		t.Run(c.name, func(t *testing.T) {
			h := newEscapeHost(t)
			id := newID()
			env := append(append(h.env(id, t), "ESC_SIGNALS=1", "ESC_IPC=1"), c.env...)
			storage := filepath.Join(t.TempDir(), "layers")
			wd := func(s *specs.Spec) {
				s.Annotations = map[string]string{"io.sandlock.workdir": "/escape", "io.sandlock.fs_storage": storage}
			}
			out := escapeRun(t, id, chain(withEnv(env), c.caps, wd), nil, "/escape/escape")
			h.checkRun(t, out, mainEscapeNames, signalEscapeNames)
		})
	}
}

// TestEscapeCOWStorageInWorkdir: fs_storage must be outside the workdir; the check compared
// the paths as written, so a symlink on fs_storage's way (made by anyone who could write
// there, a sandbox of an earlier run included) put the layers inside the workdir they
// protect, in the sandbox's view through its lower. Now the resolved path is checked too:
// refused, nothing made.
func TestEscapeCOWStorageInWorkdir(t *testing.T) {
	requireSetup(t)
	wd, _ := cowTree(t)
	base := t.TempDir()
	lnk := filepath.Join(base, "lnk")
	if err := os.Symlink(wd, lnk); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, wd)
	r := rtWith(t, nil, sandboxArgs([]string{"--workdir", wd, "--fs-storage", filepath.Join(lnk, "layers")}, "sh", "-c", "echo x > "+wd+"/x")...)
	if r.code == 0 || !strings.Contains(r.stderr, "must be outside the workdir") {
		t.Errorf("fs_storage through a symlink into the workdir: code %d, %s; want a refusal", r.code, r.stderr)
	}
	if snapshot(t, wd) != before {
		t.Errorf("the refused run left something in the workdir: %s", readDirNames(wd))
	}
}

// hideUnder mounts an unbindable tmpfs (holding `over`) on dir, which holds `under`: what the
// host hides there. Unmounted at the end of the test.
func hideUnder(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "under"), []byte("hidden\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("esc-hide", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_UNBINDABLE, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "over"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEscapeCOWUnbindable: root's copy of the mount tree (open_tree, recursive) leaves
// unbindable mounts out, so the workdir's view showed what the host hid under one (a tmpfs
// over a directory, made unbindable): the directory's own files. Root takes the helper's way
// when the host has an unbindable mount (its namespace keeps every mount). The direct mode and
// a container.
func TestEscapeCOWUnbindable(t *testing.T) {
	requireSetup(t)
	const script = "ls %s | tr '\\n' ' '"
	t.Run("sandbox", func(t *testing.T) {
		wd, storage := cowTree(t)
		hidden := filepath.Join(t.TempDir(), "hidden")
		hideUnder(t, hidden)
		r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--on-exit", "ABORT"), "sh", "-c", fmt.Sprintf(script, hidden))...)
		if r.code != 0 || r.stdout != "over " {
			t.Errorf("ESCAPED? code %d, the view lists %q in %s, want the host's %q: %s", r.code, r.stdout, hidden, "over ", r.stderr)
		}
	})
	t.Run("container", func(t *testing.T) {
		storage := filepath.Join(t.TempDir(), "layers")
		bundle := newBundleWith(t, func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.sandlock.workdir": "/data", "io.sandlock.fs_storage": storage}
		}, "sh", "-c", fmt.Sprintf(script, "/hidden"))
		if err := os.MkdirAll(filepath.Join(bundle, "rootfs", "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		hideUnder(t, filepath.Join(bundle, "rootfs", "hidden"))
		r := rtWith(t, nil, "run", "--bundle", bundle, newID())
		if r.code != 0 || r.stdout != "over " {
			t.Errorf("ESCAPED? code %d, the container lists %q in /hidden, want the host's %q: %s", r.code, r.stdout, "over ", r.stderr)
		}
	})
}

// restrictedWorkdir mounts a tmpfs with nosuid,nodev,noexec on dir (unmounted at the end of
// the test) holding an executable script and a device node (/dev/zero's numbers) readable by
// all: what that mount forbids to run and to open.
func restrictedWorkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("esc-noexec", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=1m,mode=0777"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho executed\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(dir, "zero"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5))); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(filepath.Join(dir, "zero"), 0o666); err != nil {
		t.Fatal(err)
	}
}

// restrictedScript runs the workdir's script, a copy of it made in the layer, and reads the
// device node: each must fail as on the host's mount.
const restrictedScript = `cd %s; ./run.sh 2>/dev/null; cp run.sh new.sh && ./new.sh 2>/dev/null; head -c 1 zero >/dev/null 2>&1 && echo device-opened; echo done`

// TestEscapeCOWMountFlags: the overlay at the workdir is a mount of its own, made without the
// workdir mount's nosuid, nodev and noexec: in the view, a program on a noexec mount ran (a new
// one too), a device node on a nodev mount opened (root), a setuid bit on a nosuid mount
// counted. The overlay now keeps them. Root (both ways of making the view), a user, and a
// container whose workdir is a volume mounted nosuid,nodev,noexec.
func TestEscapeCOWMountFlags(t *testing.T) {
	requireSetup(t)
	check := func(t *testing.T, r result) {
		t.Helper()
		if r.stdout != "done\n" {
			t.Errorf("ESCAPED: code %d, stdout %q (want only done: no program run, no device opened on a nosuid,nodev,noexec workdir): %s", r.code, r.stdout, r.stderr)
		}
	}
	for _, way := range []string{"root", "root helper"} {
		t.Run(way, func(t *testing.T) {
			wd := filepath.Join(t.TempDir(), "wd")
			restrictedWorkdir(t, wd)
			r := rtWith(t, func(c *exec.Cmd) {
				if way == "root helper" {
					c.Env = append(os.Environ(), "SANDLOCK_COW_TEST_TREE=helper")
				}
			}, sandboxArgs(cowFlags(wd, filepath.Join(t.TempDir(), "layers"), "--on-exit", "ABORT"), "sh", "-c", fmt.Sprintf(restrictedScript, wd))...)
			check(t, r)
		})
	}
	t.Run("user", func(t *testing.T) {
		run, home := nobodyRunner(t, "--clear-groups")
		wd := filepath.Join(home, "rw", "wd")
		restrictedWorkdir(t, wd)
		check(t, run(t, sandboxArgs([]string{"--workdir", wd, "--on-exit", "ABORT"}, "sh", "-c", fmt.Sprintf(restrictedScript, wd))))
	})
	t.Run("container", func(t *testing.T) {
		vol := filepath.Join(t.TempDir(), "vol")
		restrictedWorkdir(t, vol)
		storage := filepath.Join(t.TempDir(), "layers")
		bundle := newBundleWith(t, func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.sandlock.workdir": "/data", "io.sandlock.fs_storage": storage, "io.sandlock.on_exit": "ABORT"}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: vol, Options: []string{"rbind", "nosuid", "nodev", "noexec"}})
		}, "sh", "-c", fmt.Sprintf(restrictedScript, "/data"))
		check(t, rtWith(t, nil, "run", "--bundle", bundle, newID()))
	})
}

// TestEscapeCOWSubmount: overlayfs reads its lower directory on the workdir's own file system,
// under any mount: a tmpfs mounted over a directory inside the workdir was gone in the view and
// the sandbox read what it hid (and a commit of a change there failed midway, leaving a journal
// for every later create to trip on). A workdir with a mount beneath it is refused, nothing
// made: the direct mode (root and a user) and a container with a volume under its workdir.
func TestEscapeCOWSubmount(t *testing.T) {
	requireSetup(t)
	check := func(t *testing.T, r result, wd string) {
		t.Helper()
		if r.code == 0 || strings.Contains(r.stdout, "hidden") || !strings.Contains(r.stderr, "mounted beneath it") {
			t.Errorf("ESCAPED? code %d, stdout %q, want a refusal naming the mount: %s", r.code, r.stdout, r.stderr)
		}
		if ents, _ := filepath.Glob(filepath.Join(wd, ".sandlock-commit-*")); len(ents) > 0 {
			t.Errorf("a commit left %v", ents)
		}
	}
	t.Run("root", func(t *testing.T) {
		wd, storage := cowTree(t)
		hideUnder(t, filepath.Join(wd, "sub"))
		r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "sh", "-c", "cat "+wd+"/sub/under; echo x > "+wd+"/sub/under")...)
		check(t, r, wd)
		if len(layers(t, storage)) > 0 {
			t.Errorf("a refused run left a layer: %v", layers(t, storage))
		}
	})
	t.Run("user", func(t *testing.T) {
		run, home := nobodyRunner(t, "--clear-groups")
		wd := filepath.Join(home, "rw", "wd")
		hideUnder(t, filepath.Join(wd, "sub"))
		if err := os.Chown(wd, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		check(t, run(t, sandboxArgs([]string{"--workdir", wd}, "sh", "-c", "cat "+wd+"/sub/under")), wd)
	})
	t.Run("container", func(t *testing.T) {
		vol := t.TempDir()
		storage := filepath.Join(t.TempDir(), "layers")
		bundle := newBundleWith(t, func(s *specs.Spec) {
			s.Annotations = map[string]string{"io.sandlock.workdir": "/data", "io.sandlock.fs_storage": storage}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data/sub", Type: "bind", Source: vol, Options: []string{"rbind"}})
		}, "sh", "-c", "cat /data/sub/under")
		if err := os.MkdirAll(filepath.Join(bundle, "rootfs", "data", "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bundle, "rootfs", "data", "sub", "under"), []byte("hidden\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		check(t, rtWith(t, nil, "run", "--bundle", bundle, newID()), filepath.Join(bundle, "rootfs", "data"))
	})
}

// TestEscapeCOWLostUpdate: two branches of one workdir. A removes a directory (or removes it and
// makes it again) and waits; B edits a file deep under it in place and commits; then A commits.
// The conflict check looked at the directory's own ctime only, which an in-place edit beneath
// leaves alone: A's commit removed B's change without a word. Now every entry under a directory
// a step removes or replaces is checked: A gets the branch conflict (exit 75), its layer is
// kept, B's change stays.
func TestEscapeCOWLostUpdate(t *testing.T) {
	requireSetup(t)
	for name, a := range map[string]string{"removed": "rm -r sub", "replaced": "rm -r sub && mkdir sub && echo a > sub/a"} {
		t.Run(name, func(t *testing.T) {
			wd, storage := cowTree(t)
			gate := t.TempDir()
			done := make(chan result, 1)
			go func() {
				done <- rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "-r", "/", "-w", gate), "sh", "-c",
					"cd "+wd+" && "+a+" && touch "+gate+"/ready && while [ ! -e "+gate+"/go ]; do sleep 0.05; done")...)
			}()
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if _, err := os.Stat(filepath.Join(gate, "ready")); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("branch A never got ready")
				}
			}
			r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "sh", "-c", "echo b >> "+wd+"/sub/deep/x")...)
			if r.code != 0 {
				t.Fatalf("branch B: code %d: %s", r.code, r.stderr)
			}
			if err := os.WriteFile(filepath.Join(gate, "go"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			ra := <-done
			if got := readOr(t, filepath.Join(wd, "sub", "deep", "x")); got != "x\nb\n" {
				t.Errorf("ESCAPED: branch B's committed edit of sub/deep/x is gone (%q) after branch A's commit (code %d: %s)", got, ra.code, ra.stderr)
			}
			if ra.code != 75 || !strings.Contains(ra.stderr, "sub/deep/x") {
				t.Errorf("branch A: code %d, want the branch conflict (75) naming sub/deep/x: %s", ra.code, ra.stderr)
			}
		})
	}
}

// TestEscapeCOWUserCaps: a user's init holds CAP_SYS_CHROOT (and CAP_SETPCAP), in a user
// namespace mapping it to itself, to enter the workdir's view. The program had none, but the
// zygote, forked after the chroot and never exec'd, kept CAP_SYS_CHROOT in its permitted and
// effective sets for the whole run. Now it goes right after the chroot: no process of the
// sandbox holds it (the program holds nothing at all).
func TestEscapeCOWUserCaps(t *testing.T) {
	run, wd := nobodyWorkdir(t)
	script := `grep -h -E '^Cap(Inh|Prm|Eff|Amb)' /proc/$$/status; for z in $(cat /proc/$$/task/$$/children); do grep -h '^CapEff' /proc/$z/status 2>/dev/null | sed "s/^/child /"; done`
	r := run(t, sandboxArgs([]string{"--workdir", wd, "--on-exit", "ABORT"}, "sh", "-c", script))
	if r.code != 0 || !strings.Contains(r.stdout, "child CapEff") {
		t.Fatalf("code %d, %q (want the program's capabilities and the zygote's): %s", r.code, r.stdout, r.stderr)
	}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(l)
		v, err := strconv.ParseUint(f[len(f)-1], 16, 64)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if v&(1<<unix.CAP_SYS_CHROOT) != 0 || !strings.HasPrefix(l, "child") && v != 0 {
			t.Errorf("ESCAPED: %q: a process of the sandbox holds a capability (CAP_SYS_CHROOT: bit 18)", l)
		}
	}
}

// TestEscapeCOWOverlayXattrs: a commit links the upper's files into the workdir (the same
// inode, when the layer is on the workdir's file system), and with them the overlay's own
// extended attributes: trusted.overlay.origin, a file handle of the workdir file a modified
// file was copied up from, landed on the host's file, where an overlay later using the
// directory as a layer would take it for its own. They are taken off what lands.
func TestEscapeCOWOverlayXattrs(t *testing.T) {
	requireSetup(t)
	wd := filepath.Join(t.TempDir(), "wd")
	storage := filepath.Join(filepath.Dir(wd), "layers") // the workdir's file system: linked
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wd, "edit"), []byte("e\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage), "sh", "-c", "cd "+wd+" && echo more >> edit && echo n > new")...)
	if r.code != 0 || readOr(t, filepath.Join(wd, "edit")) != "e\nmore\n" {
		t.Fatalf("code %d, edit %q: %s", r.code, readOr(t, filepath.Join(wd, "edit")), r.stderr)
	}
	for _, n := range []string{"edit", "new"} {
		buf := make([]byte, 4096)
		k, _ := unix.Llistxattr(filepath.Join(wd, n), buf)
		for _, x := range strings.Split(string(buf[:max(k, 0)]), "\x00") {
			if strings.Contains(x, ".overlay.") {
				t.Errorf("ESCAPED: the overlay's %s landed on the workdir's %s", x, n)
			}
		}
	}
}

// TestEscapeCOWTreeSwap: create resolves the workdir once, then makes the view; a component of
// the workdir's path swapped for a symlink in between (by anyone who can write a parent of it:
// a user whose directory root runs a sandbox over) was followed when the overlay was made and
// attached. An absolute symlink on a path into the detached copy of the tree resolves from the
// mounter's root, so the overlay landed in the host's own mount table, on the symlink's target
// (here a stand-in for /etc, with the user's directory as its lower). Now every path create
// mounts by is opened without a symlink and checked against the layer's record: the run fails,
// nothing is mounted. Deterministic: create's test hook waits for the swap.
func TestEscapeCOWTreeSwap(t *testing.T) {
	requireSetup(t)
	base := t.TempDir()
	parent, victim := filepath.Join(base, "p"), filepath.Join(base, "v")
	wd := filepath.Join(parent, "etc")
	for _, d := range []string{wd, filepath.Join(victim, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(wd, "passwd"), []byte("the user's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "etc", "passwd"), []byte("the host's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, m := range mountsUnder(victim) {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	})
	r := swapWhilePaused(t, "SANDLOCK_COW_TEST_TREE_WAIT", filepath.Join(base, "go"), parent, victim, "create never reached the view",
		sandboxArgs(cowFlags(wd, filepath.Join(base, "layers"), "--on-exit", "ABORT"), "sh", "-c", "cat "+wd+"/passwd")...)
	if ms := mountsUnder(victim); len(ms) > 0 {
		t.Errorf("ESCAPED: the overlay was attached in the host's mount table at %v (the run: code %d, %q)", ms, r.code, r.stdout)
	}
	if r.code == 0 {
		t.Errorf("the run went on over a workdir path changed during create: %q", r.stdout)
	}
}

// TestEscapeCOWCommitSwap: the commit checked the workdir's identity by path, then went by the
// path again for its lock, its staging directory and its renames. A parent of the workdir
// swapped for a symlink after the check (by anyone who can write it) made the runtime stage and
// land the layer in the directory the symlink named, as root. Now the commit opens the workdir
// once, checks that descriptor, and works through it: the layer lands in the workdir it was
// made over, nothing in the other. Deterministic: the commit's test hook waits for the swap.
func TestEscapeCOWCommitSwap(t *testing.T) {
	requireSetup(t)
	base := t.TempDir()
	parent, victim := filepath.Join(base, "p"), filepath.Join(base, "v")
	wd := filepath.Join(parent, "wd")
	for _, d := range []string{wd, filepath.Join(victim, "wd")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := swapWhilePaused(t, "SANDLOCK_COW_TEST_COMMIT_WAIT", filepath.Join(base, "go"), parent, victim, "the commit never started",
		sandboxArgs(cowFlags(wd, filepath.Join(base, "layers")), "sh", "-c", "echo pwned > "+wd+"/pwned")...)
	if got := readDirNames(filepath.Join(victim, "wd")); got != "" {
		t.Errorf("ESCAPED: the commit landed in %s/wd, the directory the swapped parent named: %s (code %d: %s)", victim, got, r.code, r.stderr)
	}
	if got := readOr(t, filepath.Join(parent+".real", "wd", "pwned")); got != "pwned\n" {
		t.Errorf("the layer did not land in its own workdir: %q (code %d: %s)", got, r.code, r.stderr)
	}
}

// TestEscapeCOWDryRunReport: a dry run's text report printed the layer's paths as they are,
// and the sandbox names them: a file named with a newline added a forged line ("D fake"), and
// one named with terminal escapes (cursor up, erase line) erased the real line before it on
// the operator's terminal, hiding a deletion the run made. Paths that are not all printable
// are quoted now: one line per change, no control character.
func TestEscapeCOWDryRunReport(t *testing.T) {
	requireSetup(t)
	wd, storage := cowTree(t)
	script := `cd ` + wd + ` && rm gone && printf x > "$(printf 'n\033[1A\033[2Kx')" && printf y > "$(printf 'y\nD fake')"`
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "--dry-run"), "sh", "-c", script)...)
	if r.code != 0 {
		t.Fatalf("code %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 || lines[0] != "D gone" {
		t.Errorf("ESCAPED: the report has %d lines, want 3 (D gone, and the two new files): %q", len(lines), r.stdout)
	}
	if strings.ContainsFunc(r.stdout, func(c rune) bool { return c < 0x20 && c != '\n' || c == 0x7f }) {
		t.Errorf("ESCAPED: the report carries control characters from the sandbox's file names: %q", r.stdout)
	}
}

// swapWhilePaused runs the runtime with args and the test hook env pointing at gate (the
// runtime pauses there: cowfs.PauseForTest), and while it waits renames parent to
// parent.real and puts a symlink to victim in its place, then lets it go on and returns its
// result; what names the pause in a failure.
func swapWhilePaused(t *testing.T, env, gate, parent, victim, what string, args ...string) result {
	t.Helper()
	done := make(chan result, 1)
	go func() {
		done <- rtWith(t, func(c *exec.Cmd) { c.Env = append(os.Environ(), env+"="+gate) }, args...)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(gate + ".waiting"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
	if err := os.Rename(parent, parent+".real"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, parent); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// nobodyWorkdir is a runner as uid 65534 (nobodyRunner, groups cleared) and an empty
// workdir of its own under its home's rw.
func nobodyWorkdir(t *testing.T) (run func(t *testing.T, args []string) result, wd string) {
	t.Helper()
	run, home := nobodyRunner(t, "--clear-groups")
	wd = filepath.Join(home, "rw", "wd")
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(wd, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return run, wd
}
