package integration

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandlock/sandlock-runtime/internal/children"
	"github.com/sandlock/sandlock-runtime/internal/mountinfo"
	"golang.org/x/sys/unix"
)

const (
	envInMountNS = "SANDLOCK_IT_IN_MNTNS" // set in the re-executed test binary
	envHostNS    = "SANDLOCK_IT_HOSTNS"   // 1: don't re-execute in a private mount namespace
	envRuntime   = "SANDLOCK_RUNTIME"     // a prebuilt runtime binary to test instead of building one
)

var (
	runtimeBin  string // the sandlock-runtime binary under test
	repoRoot    string // the module root (where go.mod is)
	workDir     string // TestMain's scratch dir
	templateDir string // busybox rootfs + config.json written by `sandlock-runtime spec`
	setupErr    error  // why the binary or the bundle template could not be made
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("integration: not root: every test skips (they create containers, mounts and cgroups)")
		os.Exit(m.Run())
	}
	if os.Getenv(envInMountNS) == "" && os.Getenv(envHostNS) != "1" {
		if code, ok := reexecInMountNS(); ok {
			os.Exit(code)
		}
	}
	os.Exit(runTests(m))
}

// reexecInMountNS runs this test binary again in a private mount namespace and returns its exit
// code; ok is false when the namespace could not be made (the tests then run here).
func reexecInMountNS() (code int, ok bool) {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envInMountNS+"=1")
	// Go makes / recursively private in the child when Unshareflags has CLONE_NEWNS.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if err := cmd.Start(); err != nil {
		fmt.Printf("integration: no private mount namespace (%v): running in the caller's\n", err)
		return 0, false
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	_ = cmd.Wait()
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), true
	}
	return ws.ExitStatus(), true
}

func runTests(m *testing.M) int {
	// Like containerd's shim and conmon: orphaned container processes (init after create exits,
	// the exec proxy after `exec --detach`) are reparented to us, and we reap them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		setupErr = fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	dir, err := os.MkdirTemp("", "sandlock-it-")
	if err != nil {
		fmt.Println("integration:", err)
		return 1
	}
	workDir = dir
	if setupErr == nil {
		setupErr = prepare(dir)
	}
	if setupErr != nil {
		fmt.Println("integration: setup failed, every test will fail:", setupErr)
	}
	// The runtime's parent cgroup: removed at the end if this run made it (only when empty).
	cgParent := ""
	if mnt, err := mountinfo.Cgroup2(); err == nil {
		if _, err := os.Stat(filepath.Join(mnt, "sandlock-runtime")); err != nil {
			cgParent = filepath.Join(mnt, "sandlock-runtime")
		}
	}
	code := m.Run()
	children.Reap()
	if cgParent != "" {
		_ = os.Remove(cgParent)
	}
	for _, mnt := range mountsUnder(dir) {
		fmt.Println("integration: unmounting leftover", mnt)
		_ = unix.Unmount(mnt, unix.MNT_DETACH)
	}
	_ = os.RemoveAll(dir)
	return code
}

// prepare finds or builds the runtime binary and makes the bundle template.
func prepare(dir string) error {
	root, err := findRepoRoot()
	if err != nil {
		return err
	}
	repoRoot = root
	if bin := os.Getenv(envRuntime); bin != "" {
		if runtimeBin, err = filepath.Abs(bin); err != nil {
			return err
		}
		if _, err := os.Stat(runtimeBin); err != nil {
			return fmt.Errorf("%s=%s: %w", envRuntime, bin, err)
		}
	} else {
		runtimeBin = filepath.Join(dir, "sandlock-runtime")
		if err := buildRuntime(runtimeBin); err != nil {
			return err
		}
	}
	templateDir = filepath.Join(dir, "template")
	if err := makeRootfs(filepath.Join(templateDir, "rootfs")); err != nil {
		return fmt.Errorf("bundle template rootfs: %w", err)
	}
	cmd := exec.Command(runtimeBin, "spec")
	cmd.Dir = templateDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s spec: %w: %s", runtimeBin, err, out)
	}
	if _, err := loadSpec(filepath.Join(templateDir, "config.json")); err != nil {
		return fmt.Errorf("config.json written by `spec`: %w", err)
	}
	return nil
}

func findRepoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("go.mod not found above the test's directory")
		}
		d = parent
	}
}

func buildRuntime(out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goBin, "build", "-tags", "urfave_cli_no_docs", "-o", out, "./cmd/sandlock-runtime") // as the Makefile builds it
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/sandlock-runtime: %w\n%s", err, b)
	}
	return nil
}

// makeRootfs writes a busybox-static rootfs (hack/mkbundle.sh makes the same one).
func makeRootfs(r string) error {
	bb, err := findStaticBusybox()
	if err != nil {
		return err
	}
	for _, d := range []string{"bin", "sbin", "proc", "sys", "dev", "tmp", "etc", "root", "run", "mnt", "var/tmp"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			return err
		}
	}
	for _, d := range []string{"tmp", "var/tmp"} {
		if err := os.Chmod(filepath.Join(r, d), 0o1777); err != nil {
			return err
		}
	}
	if err := copyFile(bb, filepath.Join(r, "bin/busybox"), 0o755); err != nil {
		return err
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, a := range strings.Fields(string(list)) {
		p := filepath.Join(r, "bin", a)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.Symlink("busybox", p); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd":      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":       "root:x:0:\nnogroup:x:65534:\n",
		"etc/hosts":       "",
		"etc/resolv.conf": "",
		"etc/hostname":    "sandbox\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(r, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func findStaticBusybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", errors.New("no statically linked busybox (apt-get install busybox-static)")
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyTree copies directories (with their modes), regular files and symlinks.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			return os.Chmod(target, info.Mode()&(fs.ModePerm|fs.ModeSticky))
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			return copyFile(p, target, info.Mode().Perm())
		}
		return nil
	})
}

func loadSpec(path string) (*specs.Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.Process == nil || s.Root == nil {
		return nil, errors.New("no process or root section")
	}
	return &s, nil
}
