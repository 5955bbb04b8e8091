package confine

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// Confinement cannot be undone, so every kernel case runs in a re-executed test binary that
// runs only one TestHelper* function. The helper prints one result line per check.
const (
	helperCaseEnv = "SANDLOCK_CONFINE_CASE"
	helperDirEnv  = "SANDLOCK_CONFINE_DIR"
	resultPrefix  = "HELPER-RESULT "
)

// runHelper runs helper for caseName in a subprocess (in a session of its own, so it has no
// controlling terminal) and returns its results by key, and its whole output for messages.
func runHelper(t *testing.T, helper, caseName, dir string) (map[string]string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperCaseEnv+"="+caseName, helperDirEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper %s/%s: %v\n%s", helper, caseName, err, out)
	}
	return parseResults(string(out)), string(out)
}

func parseResults(out string) map[string]string {
	res := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		kv, ok := strings.CutPrefix(line, resultPrefix)
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		res[k] = v
	}
	return res
}

// report prints the outcome of one check in the subprocess: ok, an errno name, or the error.
func report(key string, err error) {
	fmt.Printf("%s%s=%s\n", resultPrefix, key, errName(err))
}

func errName(err error) string {
	var e unix.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &e):
		return unix.ErrnoName(e)
	}
	return "error: " + err.Error()
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testreq.Missing(t, "needs root (confinement tests load filters and mount-free sandboxes as root)")
	}
}

func requireABI(t *testing.T, want int) {
	t.Helper()
	if have := LandlockABI(); have < want {
		t.Skipf("needs Landlock ABI >= %d, have %d", want, have)
	}
}

// helperCase returns the case the subprocess was started for, or skips in a normal run.
func helperCase(t *testing.T) (name, dir string) {
	name = os.Getenv(helperCaseEnv)
	if name == "" {
		t.Skip("subprocess helper")
	}
	return name, os.Getenv(helperDirEnv)
}

// llCase is one Landlock check. setup runs in the subprocess before confinement and returns
// the config and the action whose result must be want.
type llCase struct {
	name  string
	abi   int
	setup func(dir string) (LandlockConfig, func() error)
	want  string
}

func roRW(dir string) LandlockConfig {
	return LandlockConfig{Paths: []PathRule{
		{Path: filepath.Join(dir, "ro")},
		{Path: filepath.Join(dir, "rw"), Write: true},
	}}
}

func fixed(cfg func(string) LandlockConfig, act func(dir string) error) func(string) (LandlockConfig, func() error) {
	return func(dir string) (LandlockConfig, func() error) {
		return cfg(dir), func() error { return act(dir) }
	}
}

func createFile(path string) error {
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

func readFile(path string) error {
	_, err := os.ReadFile(path)
	return err
}

func rootOnly(exec bool) func(string) LandlockConfig {
	return func(string) LandlockConfig {
		return LandlockConfig{Paths: []PathRule{{Path: "/", Exec: exec}}}
	}
}

// forkExecTrue runs /bin/true from the confined thread and waits for it.
func forkExecTrue(string) error {
	pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{Files: []uintptr{0, 1, 2}})
	if err != nil {
		return err
	}
	_, err = syscall.Wait4(pid, nil, 0, nil)
	return err
}

var landlockCases = []llCase{
	{name: "read-only dir allows read", want: "ok", setup: fixed(roRW, func(d string) error {
		return readFile(filepath.Join(d, "ro", "f"))
	})},
	{name: "read-only dir refuses create", want: "EACCES", setup: fixed(roRW, func(d string) error {
		return createFile(filepath.Join(d, "ro", "new"))
	})},
	{name: "read-only dir refuses writing a file", want: "EACCES", setup: fixed(roRW, func(d string) error {
		return createFile(filepath.Join(d, "ro", "f"))
	})},
	{name: "read-only dir refuses remove", want: "EACCES", setup: fixed(roRW, func(d string) error {
		return unix.Unlink(filepath.Join(d, "ro", "f"))
	})},
	{name: "writable dir allows create", want: "ok", setup: fixed(roRW, func(d string) error {
		return createFile(filepath.Join(d, "rw", "new"))
	})},
	{name: "writable dir allows mkdir and rmdir", want: "ok", setup: fixed(roRW, func(d string) error {
		p := filepath.Join(d, "rw", "sub")
		if err := unix.Mkdir(p, 0o755); err != nil {
			return err
		}
		return unix.Rmdir(p)
	})},
	{name: "writable dir refuses a char device", want: "EACCES", setup: fixed(roRW, func(d string) error {
		return unix.Mknod(filepath.Join(d, "rw", "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
	})},
	{name: "writable dir refuses a block device", want: "EACCES", setup: fixed(roRW, func(d string) error {
		return unix.Mknod(filepath.Join(d, "rw", "blk"), unix.S_IFBLK|0o666, int(unix.Mkdev(7, 0)))
	})},
	{name: "path outside every rule refused", want: "EACCES", setup: fixed(roRW, func(d string) error {
		return readFile(filepath.Join(d, "other", "f"))
	})},
	{name: "rule on a regular file gets file rights", want: "ok", setup: fixed(func(d string) LandlockConfig {
		return LandlockConfig{Paths: []PathRule{{Path: filepath.Join(d, "other", "f"), Write: true}}}
	}, func(d string) error {
		return createFile(filepath.Join(d, "other", "f"))
	})},
	{name: "exec refused without Exec", want: "EACCES", setup: fixed(rootOnly(false), forkExecTrue)},
	{name: "exec allowed with Exec", want: "ok", setup: fixed(rootOnly(true), forkExecTrue)},
	{name: "DenyTCP refuses connect", abi: abiNetTCP, want: "EACCES", setup: tcpConnect(true)},
	{name: "without DenyTCP connect works", want: "ok", setup: tcpConnect(false)},
	{name: "ScopeSignal refuses signalling the parent", abi: abiScopes, want: "EPERM", setup: signalParent(true)},
	{name: "without ScopeSignal the parent can be signalled", want: "ok", setup: signalParent(false)},
	{name: "ScopeSignal allows signalling a child in the domain", abi: abiScopes, want: "ok", setup: signalChild},
	{name: "ScopeAbstractUnix refuses a socket from outside", abi: abiScopes, want: "EPERM", setup: abstractConnect(true)},
	{name: "without ScopeAbstractUnix the socket is reachable", want: "ok", setup: abstractConnect(false)},
}

// tcpConnect listens on 127.0.0.1 before confinement and connects to it afterwards.
func tcpConnect(deny bool) func(string) (LandlockConfig, func() error) {
	return func(string) (LandlockConfig, func() error) {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		return LandlockConfig{DenyTCP: deny}, func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
		}
	}
}

func signalParent(scope bool) func(string) (LandlockConfig, func() error) {
	return func(string) (LandlockConfig, func() error) {
		return LandlockConfig{ScopeSignal: scope}, func() error {
			return unix.Kill(unix.Getppid(), 0)
		}
	}
}

// signalChild forks a process after confinement (so it is in the domain) and kills it.
func signalChild(string) (LandlockConfig, func() error) {
	cfg := LandlockConfig{Paths: []PathRule{{Path: "/", Exec: true}}, ScopeSignal: true}
	return cfg, func() error {
		pid, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "30"}, &syscall.ProcAttr{Files: []uintptr{0, 1, 2}})
		if err != nil {
			return err
		}
		defer syscall.Wait4(pid, nil, 0, nil)
		return unix.Kill(pid, unix.SIGKILL)
	}
}

// abstractConnect listens on an abstract socket before confinement and connects afterwards.
func abstractConnect(scope bool) func(string) (LandlockConfig, func() error) {
	return func(string) (LandlockConfig, func() error) {
		addr := &unix.SockaddrUnix{Name: fmt.Sprintf("@sandlock-confine-test-%d", os.Getpid())}
		ln, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err == nil {
			err = unix.Bind(ln, addr)
		}
		if err == nil {
			err = unix.Listen(ln, 1)
		}
		if err != nil {
			panic(err)
		}
		return LandlockConfig{ScopeAbstractUnix: scope}, func() error {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Connect(fd, addr)
		}
	}
}

// landlockTree creates dir/{ro,rw,other} with a file f in ro and other.
func landlockTree(t *testing.T) string {
	dir := t.TempDir()
	for _, sub := range []string{"ro", "rw", "other"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"ro/f", "other/f"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLandlock(t *testing.T) {
	requireRoot(t)
	requireABI(t, 1)
	for _, c := range landlockCases {
		t.Run(c.name, func(t *testing.T) {
			requireABI(t, c.abi)
			res, out := runHelper(t, "TestHelperLandlock", c.name, landlockTree(t))
			if got := res["result"]; got != c.want {
				t.Errorf("got %q, want %q\n%s", got, c.want, out)
			}
		})
	}
}

// TestHelperLandlock is the subprocess side of TestLandlock.
func TestHelperLandlock(t *testing.T) {
	name, dir := helperCase(t)
	runtime.LockOSThread() // confinement is per thread; never unlocked, the process exits
	for _, c := range landlockCases {
		if c.name != name {
			continue
		}
		cfg, act := c.setup(dir)
		rs, err := PrepareLandlock(cfg)
		if err != nil {
			t.Fatalf("PrepareLandlock: %v", err)
		}
		if err := SetNoNewPrivs(); err != nil {
			t.Fatal(err)
		}
		if err := rs.RestrictSelf(); err != nil {
			t.Fatal(err)
		}
		rs.Close()
		report("result", act())
		return
	}
	t.Fatalf("no case %q", name)
}

func TestRulesetAttrNeedsABI(t *testing.T) {
	cases := []struct {
		name string
		cfg  LandlockConfig
		abi  int
		want string
	}{
		{"no landlock", LandlockConfig{}, -1, "landlock: not available in this kernel"},
		{"tcp", LandlockConfig{DenyTCP: true}, 3, "landlock: TCP restriction needs ABI 4, kernel has 3"},
		{"signal", LandlockConfig{ScopeSignal: true}, 5, "landlock: signal scoping needs ABI 6, kernel has 5"},
		{"abstract unix", LandlockConfig{ScopeAbstractUnix: true}, 5, "landlock: abstract unix socket scoping needs ABI 6, kernel has 5"},
		{"all on 6", LandlockConfig{DenyTCP: true, ScopeSignal: true, ScopeAbstractUnix: true}, 6, ""},
	}
	for _, c := range cases {
		_, err := rulesetAttr(c.cfg, c.abi)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%s: got error %q, want %q", c.name, got, c.want)
		}
	}
}

func TestHandledFS(t *testing.T) {
	cases := []struct {
		abi  int
		want uint64
	}{
		{0, 0},
		{1, 1<<13 - 1},
		{2, 1<<14 - 1},
		{3, 1<<15 - 1},
		{4, 1<<15 - 1},
		{5, 1<<16 - 1},
		{7, 1<<16 - 1},
	}
	for _, c := range cases {
		if got := handledFS(c.abi); got != c.want {
			t.Errorf("handledFS(%d) = %#x, want %#x", c.abi, got, c.want)
		}
	}
	if handledFS(7)&(unix.LANDLOCK_ACCESS_FS_MAKE_CHAR|unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK) == 0 {
		t.Error("device creation must be handled (so denied)")
	}
	if writeRights&(unix.LANDLOCK_ACCESS_FS_MAKE_CHAR|unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK) != 0 {
		t.Error("Write must never grant device creation")
	}
}

func TestPrepareLandlockMissingPath(t *testing.T) {
	requireABI(t, 1)
	_, err := PrepareLandlock(LandlockConfig{Paths: []PathRule{{Path: "/nonexistent/sandlock"}}})
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "/nonexistent/sandlock") {
		t.Errorf("got %v, want ENOENT naming the path", err)
	}
}
