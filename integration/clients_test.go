package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Smoke tests through real clients, set up as on this project's machines (no systemd, cgroup v1
// hybrid, no network): a private containerd driving the io.containerd.runc.v2 shim with
// --runc-binary, and podman with private storage and --runtime.

// requireTools skips when a client binary is missing.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	requireSetup(t)
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps installs it): skipping", tool)
		}
	}
}

type cmdResult struct {
	stdout, stderr string
	code           int
}

// runTool runs a client command (bounded), logging it.
func runTool(t *testing.T, name string, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = time.Second // a daemon it starts may hold the pipes
	if err := startOwned(cmd); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer disown(cmd.Process.Pid)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	code := 0
	select {
	case <-done:
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		code = exitStatus(unix.WaitStatus(ws))
	case <-time.After(2 * cmdTimeout):
		_ = cmd.Process.Kill()
		<-done
		t.Errorf("%s %s: no exit within %v (killed)", name, strings.Join(args, " "), 2*cmdTimeout)
		code = -1
	}
	r := cmdResult{stdout: out.String(), stderr: errb.String(), code: code}
	t.Logf("$ %s %s -> %d %s", name, strings.Join(args, " "), code, strings.TrimSpace(r.stderr))
	return r
}

// cgSnap lists the cgroup dirs named name in every hierarchy (containerd makes "default",
// podman "libpod_parent"); cgClean removes (depth first) those not in the snapshot.
func cgSnap(name string) []string {
	var dirs []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, r := range roots {
		for _, d := range []string{r + "/" + name, r + "/*/" + name, r + "/*/*/" + name} {
			m, _ := filepath.Glob(d)
			dirs = append(dirs, m...)
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

func cgClean(t *testing.T, name string, before []string) {
	for _, d := range cgSnap(name) {
		if slices.Contains(before, d) {
			continue
		}
		var all []string
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		slices.Reverse(all)
		for _, p := range all {
			if err := os.Remove(p); err != nil {
				t.Logf("cgroup %s not removed: %v", p, err)
			}
		}
	}
}

// existing returns which of paths exist now (to remove afterwards only what a test made).
func existing(paths ...string) map[string]bool {
	m := map[string]bool{}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			m[p] = true
		}
	}
	return m
}

// unmountUnder lazily unmounts everything under dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	left := mountsUnder(dir)
	slices.Reverse(left)
	for _, m := range left {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			t.Logf("umount %s: %v", m, err)
		}
	}
}

// makeOCIImage builds an image from the busybox rootfs with umoci and writes it as a
// docker-archive tagged localhost/NAME:latest (skopeo), as the recipes do.
func makeOCIImage(t *testing.T, w, name string) string {
	t.Helper()
	rootfs := filepath.Join(w, "rootfs")
	if err := copyTree(filepath.Join(templateDir, "rootfs"), rootfs); err != nil {
		t.Fatal(err)
	}
	layout, unpacked := filepath.Join(w, "oci"), filepath.Join(w, "ub")
	steps := [][]string{
		{"umoci", "init", "--layout", layout},
		{"umoci", "new", "--image", layout + ":latest"},
		{"umoci", "unpack", "--image", layout + ":latest", unpacked},
		{"cp", "-a", rootfs + "/.", unpacked + "/rootfs/"},
		{"umoci", "repack", "--image", layout + ":latest", unpacked},
		{"umoci", "config", "--image", layout + ":latest", "--config.cmd", "/bin/sh",
			"--config.workingdir", "/", "--config.env", "PATH=/bin:/sbin"},
		{"umoci", "gc", "--layout", layout},
	}
	archive := filepath.Join(w, name+"-docker.tar")
	steps = append(steps, []string{"skopeo", "copy", "-q", "oci:" + layout + ":latest",
		"docker-archive:" + archive + ":localhost/" + name + ":latest"})
	for _, s := range steps {
		if r := runTool(t, s[0], s[1:]...); r.code != 0 {
			t.Fatalf("image build: %s: exit %d: %s", strings.Join(s, " "), r.code, r.stderr)
		}
	}
	return archive
}

func TestContainerd(t *testing.T) {
	requireTools(t, "containerd", "ctr", "containerd-shim-runc-v2", "umoci", "skopeo")
	d, err := os.MkdirTemp("", "slctd-") // short: sockets live here
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(d, "containerd.sock")
	runDirs := []string{"/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc/default", "/run/containerd/runc", "/run/containerd"}
	had := existing(append(runDirs, "/var/lib/containers")...)
	cg0 := cgSnap("default")

	cfg := fmt.Sprintf(`version = 2
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "%[2]s"
[ttrpc]
  address = "%[2]s.ttrpc"
`, d, sock)
	if err := os.WriteFile(filepath.Join(d, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(d, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command("containerd", "--config", filepath.Join(d, "config.toml"))
	daemon.Stdout, daemon.Stderr = logf, logf
	daemon.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := startOwned(daemon); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = daemon.Wait(); close(exited) }()

	ctr := func(args ...string) cmdResult {
		t.Helper()
		return runTool(t, "ctr", append([]string{"-a", sock}, args...)...)
	}
	runFlags := []string{"--runc-root", filepath.Join(d, "runc-root"), "--fifo-dir", filepath.Join(d, "fifo"), "--runc-binary", runtimeBin}
	image := "localhost/busybox:latest"

	t.Cleanup(func() {
		for _, id := range strings.Fields(ctr("task", "ls", "-q").stdout) {
			ctr("task", "kill", "-s", "SIGKILL", id)
			time.Sleep(200 * time.Millisecond)
			ctr("task", "delete", id)
		}
		for _, id := range strings.Fields(ctr("container", "ls", "-q").stdout) {
			ctr("container", "delete", id)
		}
		_ = daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = daemon.Process.Kill()
			<-exited
		}
		disown(daemon.Process.Pid)
		logf.Close()
		if left := waitNoOrphans(); len(left) > 0 { // shims were reparented to us
			t.Errorf("processes left after containerd stopped: %v", left)
		}
		if ents, _ := os.ReadDir(filepath.Join(d, "runc-root", "default")); len(ents) > 0 {
			t.Errorf("runtime state left under the shim's --root: %d entries", len(ents))
		}
		unmountUnder(t, d)
		for _, p := range runDirs {
			if !had[p] {
				_ = os.Remove(p) // only if empty
			}
		}
		if !had["/var/lib/containers"] {
			_ = os.RemoveAll("/var/lib/containers") // skopeo's blob-info cache
		}
		cgClean(t, "default", cg0)
		if err := os.RemoveAll(d); err != nil {
			t.Errorf("remove %s: %v", d, err)
		}
	})

	up := false
	for i := 0; i < 100 && !up; i++ {
		up = exec.Command("ctr", "-a", sock, "version").Run() == nil
		if !up {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !up {
		b, _ := os.ReadFile(filepath.Join(d, "containerd.log"))
		t.Fatalf("containerd did not come up:\n%s", b)
	}
	archive := makeOCIImage(t, filepath.Join(d, "img"), "busybox")
	if r := ctr("image", "import", archive); r.code != 0 {
		t.Fatalf("ctr image import: %d: %s", r.code, r.stderr)
	}

	t.Run("run-echo", func(t *testing.T) {
		r := ctr(append(append([]string{"run", "--rm"}, runFlags...), image, "c1", "/bin/echo", "hi")...)
		if r.code != 0 || strings.TrimSpace(r.stdout) != "hi" {
			t.Errorf("ctr run --rm echo hi: exit %d, stdout %q, want 0 and hi: %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("exit-code", func(t *testing.T) {
		r := ctr(append(append([]string{"run", "--rm"}, runFlags...), image, "c2", "sh", "-c", "exit 7")...)
		if r.code != 7 {
			t.Errorf("ctr run --rm sh -c 'exit 7': exit %d, want 7: %s", r.code, r.stderr)
		}
	})
	t.Run("exec-kill-delete", func(t *testing.T) {
		if r := ctr(append(append([]string{"run", "-d"}, runFlags...), image, "c3", "sleep", "100")...); r.code != 0 {
			t.Fatalf("ctr run -d: exit %d: %s", r.code, r.stderr)
		}
		if r := ctr("task", "exec", "--exec-id", "e1", "c3", "echo", "exec-ok"); r.code != 0 || strings.TrimSpace(r.stdout) != "exec-ok" {
			t.Errorf("ctr task exec echo: exit %d, stdout %q, want 0 and exec-ok: %s", r.code, r.stdout, r.stderr)
		}
		if r := ctr("task", "exec", "--exec-id", "e2", "c3", "sh", "-c", "exit 5"); r.code != 5 {
			t.Errorf("ctr task exec sh -c 'exit 5': exit %d, want 5: %s", r.code, r.stderr)
		}
		if r := ctr("task", "kill", "-s", "SIGKILL", "c3"); r.code != 0 {
			t.Errorf("ctr task kill: exit %d: %s", r.code, r.stderr)
		}
		stopped := false
		for deadline := time.Now().Add(waitTimeout); !stopped && time.Now().Before(deadline); {
			for _, line := range strings.Split(ctr("task", "ls").stdout, "\n") {
				if f := strings.Fields(line); len(f) >= 3 && f[0] == "c3" && f[2] == "STOPPED" {
					stopped = true
				}
			}
			if !stopped {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if !stopped {
			t.Errorf("c3 not STOPPED after ctr task kill")
		}
		if r := ctr("task", "delete", "c3"); r.code != 0 {
			t.Errorf("ctr task delete: exit %d: %s", r.code, r.stderr)
		}
		if r := ctr("container", "delete", "c3"); r.code != 0 {
			t.Errorf("ctr container delete: exit %d: %s", r.code, r.stderr)
		}
	})
}

func TestPodman(t *testing.T) {
	requireTools(t, "podman", "conmon")
	w, err := os.MkdirTemp("", "slpm-")
	if err != nil {
		t.Fatal(err)
	}
	had := existing("/var/lib/containers", "/run/containers")
	cg0 := cgSnap("libpod_parent")
	driver := os.Getenv("PODMAN_STORAGE_DRIVER")
	if driver == "" {
		driver = "overlay"
	}
	// No systemd and no journald here: cgroupfs and file events; private storage.
	global := []string{"--root", filepath.Join(w, "root"), "--runroot", filepath.Join(w, "runroot"),
		"--tmpdir", filepath.Join(w, "tmp"), "--storage-driver", driver,
		"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", runtimeBin}
	// podman's default rlimits (nofile 1048576, nproc pid_max) exceed what this host allows
	// without CAP_SYS_RESOURCE: pin them to the hard limits.
	var rl unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	runOpts := []string{"--network", "none", // never podman's default network: it edits the host's iptables
		"--ulimit", fmt.Sprintf("nofile=%d:%d", rl.Max, rl.Max), "--ulimit", "nproc=4096:4096"}
	podman := func(args ...string) cmdResult { t.Helper(); return runTool(t, "podman", append(global, args...)...) }
	image := "localhost/bbimport:latest"

	t.Cleanup(func() {
		podman("rm", "-a", "-f")
		podman("rmi", "-a", "-f")
		if left := waitNoOrphans(); len(left) > 0 { // conmon processes were reparented to us
			t.Errorf("processes left after podman rm: %v", left)
		}
		unmountUnder(t, w)
		if err := os.RemoveAll(w); err != nil {
			t.Errorf("remove %s: %v", w, err)
		}
		for _, p := range []string{"/var/lib/containers", "/run/containers"} {
			if !had[p] {
				_ = os.RemoveAll(p)
			}
		}
		cgClean(t, "libpod_parent", cg0)
	})

	tarball := filepath.Join(w, "rootfs.tar")
	if r := runTool(t, "tar", "-C", filepath.Join(templateDir, "rootfs"), "-cf", tarball, "."); r.code != 0 {
		t.Fatalf("tar: %s", r.stderr)
	}
	if r := podman("import", "-q", tarball, image); r.code != 0 {
		t.Fatalf("podman import: exit %d: %s", r.code, r.stderr)
	}

	run := func(args ...string) cmdResult {
		t.Helper()
		return podman(append(append([]string{"run"}, runOpts...), args...)...)
	}
	t.Run("run-echo", func(t *testing.T) {
		if r := run("--rm", image, "echo", "hi"); r.code != 0 || strings.TrimSpace(r.stdout) != "hi" {
			t.Errorf("podman run --rm echo hi: exit %d, stdout %q, want 0 and hi: %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("exit-code", func(t *testing.T) {
		if r := run("--rm", image, "sh", "-c", "exit 7"); r.code != 7 {
			t.Errorf("podman run --rm sh -c 'exit 7': exit %d, want 7: %s", r.code, r.stderr)
		}
	})
	t.Run("detach-exec-stop-rm", func(t *testing.T) {
		if r := run("-d", "--name", "lc", image, "sleep", "100"); r.code != 0 {
			t.Fatalf("podman run -d: exit %d: %s", r.code, r.stderr)
		}
		if r := podman("exec", "lc", "echo", "exec-ok"); r.code != 0 || strings.TrimSpace(r.stdout) != "exec-ok" {
			t.Errorf("podman exec echo: exit %d, stdout %q, want 0 and exec-ok: %s", r.code, r.stdout, r.stderr)
		}
		if r := podman("exec", "lc", "sh", "-c", "exit 5"); r.code != 5 {
			t.Errorf("podman exec sh -c 'exit 5': exit %d, want 5: %s", r.code, r.stderr)
		}
		if r := podman("stop", "-t", "1", "lc"); r.code != 0 {
			t.Errorf("podman stop: exit %d: %s", r.code, r.stderr)
		}
		if r := podman("rm", "lc"); r.code != 0 {
			t.Errorf("podman rm: exit %d: %s", r.code, r.stderr)
		}
	})
}
