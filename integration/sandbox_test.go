package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/children"
	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// The direct mode: `sandlock-runtime sandbox [flags] -- CMD` confines a host command.

// sandboxRead is what a shell needs to run on this host.
var sandboxRead = []string{"-r", "/usr", "-r", "/lib", "-r", "/lib64", "-r", "/bin", "-r", "/etc", "-r", "/proc", "-r", "/dev"}

func sandboxArgs(flags []string, cmd ...string) []string {
	args := append([]string{"sandbox"}, flags...)
	return append(append(args, "--"), cmd...)
}

// sandboxCase is one run of the sandbox command and what it must print and exit with.
type sandboxCase struct {
	name     string
	flags    []string
	cmd      []string
	wantCode int
	wantOut  string // exact stdout
	wantErr  string // substring of stderr
}

func runSandboxCases(t *testing.T, cases []sandboxCase, run func(t *testing.T, args []string) result) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, sandboxArgs(c.flags, c.cmd...))
			if r.code != c.wantCode || r.stdout != c.wantOut || !strings.Contains(r.stderr, c.wantErr) {
				t.Errorf("got exit %d stdout %q stderr %q, want exit %d stdout %q stderr containing %q",
					r.code, r.stdout, r.stderr, c.wantCode, c.wantOut, c.wantErr)
			}
			checkPlainErrors(t, r.stderr)
		})
	}
}

// checkPlainErrors: the runtime's own lines on stderr are plain, one per error, said once
// (no logrus fields, no escaped quotes, not repeated by init and again by the CLI).
func checkPlainErrors(t *testing.T, stderr string) {
	t.Helper()
	var own []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "level=") || strings.Contains(l, `\"`) {
			t.Errorf("stderr line is not plain: %q", l)
		}
		if strings.HasPrefix(l, "sandlock-runtime: ") && !strings.Contains(l, "warning: ") {
			own = append(own, l)
		}
	}
	if len(own) > 1 {
		t.Errorf("%d error lines on stderr, want at most one: %q", len(own), own)
	}
}

// TestSandboxRelativePaths: -r . and -w sub resolve against the working directory.
func TestSandboxRelativePaths(t *testing.T) {
	requireSetup(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := rtWith(t, func(c *exec.Cmd) { c.Dir = dir }, sandboxArgs(append(append([]string{}, sandboxRead...), "-r", ".", "-w", "sub"),
		"sh", "-c", "echo in > sub/f && cat sub/f && (echo out > f) 2>/dev/null || echo refused")...)
	if r.code != 0 || r.stdout != "in\nrefused\n" {
		t.Errorf("got exit %d stdout %q stderr %q, want 0 and in, refused", r.code, r.stdout, r.stderr)
	}
}

func sandboxCases(dir string) []sandboxCase {
	w := append(append([]string{}, sandboxRead...), "-w", dir)
	inside, outside := filepath.Join(dir, "in"), filepath.Join(filepath.Dir(dir), "sandbox-outside")
	return []sandboxCase{
		{"write allowed", w, []string{"sh", "-c", "echo ok > " + inside + " && cat " + inside}, 0, "ok\n", ""},
		{"write refused", w, []string{"sh", "-c", "echo no > " + outside}, 2, "", "Permission denied"},
		{"read outside fs_readable refused", w, []string{"sh", "-c", "cat /root/.profile /var/log/* >/dev/null 2>&1 || echo refused"}, 0, "refused\n", ""},
		// No fs_readable, no fs_writable: the host's root, read-only (docs/sandbox.md).
		{"default is read-only", nil, []string{"sh", "-c", "cat /etc/hostname >/dev/null && echo read-ok; echo no > " + outside}, 2, "read-ok\n", "Permission denied"},
		{"exit code", w, []string{"sh", "-c", "exit 42"}, 42, "", ""},
		{"env and clean_env", append([]string{"--clean-env", "--env", "FOO=bar"}, w...), []string{"sh", "-c", "echo $FOO ${SANDBOX_IT_VAR:-unset}"}, 0, "bar unset\n", ""},
		{"invalid policy", []string{"--max-cpu", "500"}, []string{"true"}, 1, "", "max_cpu (--max-cpu) 500: out of range"},
		// Paths as users write them (docs/sandbox.md).
		{"missing path names the flag", []string{"-w", dir + "h"}, []string{"true"}, 1, "", "fs_writable (--fs-writable, -w) " + dir + "h: no such file or directory"},
		{"-r / grants the root", []string{"-r", "/", "-w", dir}, []string{"sh", "-c", "echo ok > " + inside + " && cat " + inside}, 0, "ok\n", ""},
		{"-w / grants the root", []string{"-w", "/"}, []string{"sh", "-c", "echo root > " + inside + " && cat " + inside}, 0, "root\n", ""},
		{"missing command exits 127", nil, []string{"no-such-command-xyz"}, 127, "", "sandlock-runtime: sandbox start: exec: \"no-such-command-xyz\": executable file not found in $PATH\n"},
		{"exec refused by the policy", []string{"-r", "/etc"}, []string{"true"}, 126, "", "refused by the sandbox policy"},
		// bwrap's and sandlock's users write -w alone: the error says fs_readable is then empty.
		{"-w alone says fs_readable is empty", []string{"-w", dir}, []string{"true"}, 126, "", "fs_readable is empty: with -w alone"},
	}
}

func TestSandboxCommand(t *testing.T) {
	requireSetup(t)
	dir := t.TempDir()
	t.Setenv("SANDBOX_IT_VAR", "set")
	runSandboxCases(t, sandboxCases(dir), func(t *testing.T, args []string) result {
		return rtWith(t, nil, args...)
	})
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "sandbox-outside")); err == nil {
		t.Errorf("the refused write created its file")
	}
}

// TestNotExecutableSaysWhy: a program that is not executable by its own mode, or a directory,
// fails with exit 126 (sandbox) and a message naming the reason, in the direct mode and in a
// container; the policy, which allows it, is not blamed.
func TestNotExecutableSaysWhy(t *testing.T) {
	requireSetup(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, r result, wantCode int, why string) {
		t.Helper()
		if r.code != wantCode || !strings.Contains(r.stderr, "permission denied ("+why+")") || strings.Contains(r.stderr, "policy") {
			t.Errorf("exit %d, stderr %q; want %d and permission denied (%s), not blamed on the policy", r.code, r.stderr, wantCode, why)
		}
	}
	t.Run("sandbox", func(t *testing.T) {
		check(t, rtWith(t, nil, "sandbox", "--", plain), 126, "not executable: mode 0644")
		check(t, rtWith(t, nil, "sandbox", "--", dir), 126, "is a directory")
	})
	t.Run("the log has init's error alone", func(t *testing.T) {
		// The supervisor, which init tells its error instead of handing it the listener,
		// logged a second, misleading error ("init sent no seccomp listener").
		check(t, rtWith(t, nil, "sandbox", "--", plain), 126, "not executable: mode 0644")
		if b, _ := os.ReadFile(envFor(t).log); strings.Contains(string(b), "seccomp listener") {
			t.Errorf("the log has the supervisor's consequence of init's failure: %s", b)
		}
	})
	t.Run("container", func(t *testing.T) {
		for prog, why := range map[string]string{"/etc/passwd": "not executable: mode 0644", "/tmp": "is a directory"} {
			b := newBundle(t, prog)
			if err := os.Chmod(filepath.Join(b, "rootfs", "etc", "passwd"), 0o644); err != nil {
				t.Fatal(err)
			}
			id := newID()
			track(t, id)
			check(t, rtWith(t, nil, "run", "--bundle", b, id), 1, why)
			noStateLeft(t, prog, id, filepath.Join(b, "no-pid-file"))
			checkNoCgroup(t, id)
			checkNoMounts(t, b)
		}
	})
}

func TestSandboxPolicyFile(t *testing.T) {
	requireSetup(t)
	dir := t.TempDir()
	files := map[string]string{
		"p.toml": `fs_readable = ["/usr", "/lib", "/lib64", "/bin", "/etc", "/proc", "/dev"]
fs_writable = ["` + dir + `"]
hostname = "from-toml"
`,
		"p.json":    `{"fs_readable": ["/usr", "/lib", "/lib64", "/bin", "/etc", "/proc", "/dev"], "fs_writable": ["` + dir + `"], "hostname": "from-json"}`,
		"p.policy":  `{"fs_readable": ["/usr", "/lib", "/lib64", "/bin", "/etc", "/proc", "/dev"], "hostname": "by-content"}`,
		"bad.json":  `{"fs_readble": ["/usr"]}`,
		"bad3.json": `{"fs_readble": ["/usr"], "max_cpu": 500}`,
		"bad2.toml": `fs_readble = ["/usr"]`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	runSandboxCases(t, []sandboxCase{
		{"toml", []string{"--policy", p("p.toml")}, []string{"hostname"}, 0, "from-toml\n", ""},
		{"json", []string{"--policy", p("p.json")}, []string{"hostname"}, 0, "from-json\n", ""},
		{"json by content", []string{"--policy", p("p.policy")}, []string{"hostname"}, 0, "by-content\n", ""},
		{"flags override the file", []string{"--policy", p("p.toml"), "--hostname", "from-flag"}, []string{"hostname"}, 0, "from-flag\n", ""},
		{"file's fs_writable applies", []string{"--policy", p("p.toml")}, []string{"sh", "-c", "echo x > " + p("w") + " && echo wrote"}, 0, "wrote\n", ""},
		{"unknown json key", []string{"--policy", p("bad.json")}, []string{"true"}, 1, "", "fs_readble"},
		{"json errors all at once, did you mean", []string{"--policy", p("bad3.json")}, []string{"true"}, 1, "",
			`bad3.json: unknown key "fs_readble" (did you mean "fs_readable"?); accepted: the policy keys of docs/policy.md; ` + p("bad3.json") + `: max_cpu: 500: out of range`},
		{"unknown toml key", []string{"--policy", p("bad2.toml")}, []string{"true"}, 1, "", "fs_readble"},
	}, func(t *testing.T, args []string) result { return rtWith(t, nil, args...) })
}

func TestSandboxProfile(t *testing.T) {
	requireSetup(t)
	cfg := t.TempDir()
	dir := filepath.Join(cfg, "sandlock", "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	prof := `fs_readable = ["/usr", "/lib", "/lib64", "/bin", "/etc", "/proc", "/dev"]
hostname = "profiled"
`
	if err := os.WriteFile(filepath.Join(dir, "sbtest.toml"), []byte(prof), 0o644); err != nil {
		t.Fatal(err)
	}
	withCfg := func(t *testing.T, args []string) result {
		return rtWith(t, func(c *exec.Cmd) { c.Env = append(os.Environ(), "XDG_CONFIG_HOME="+cfg) }, args...)
	}
	runSandboxCases(t, []sandboxCase{
		{"profile", []string{"--profile", "sbtest"}, []string{"hostname"}, 0, "profiled\n", ""},
		{"flag over profile", []string{"--profile", "sbtest", "--hostname", "flagged"}, []string{"hostname"}, 0, "flagged\n", ""},
		{"profile's fs_readable applies", []string{"--profile", "sbtest"}, []string{"sh", "-c", "cat /root/.profile /var/log/* >/dev/null 2>&1 || echo refused"}, 0, "refused\n", ""},
		{"missing profile", []string{"--profile", "no-such-profile"}, []string{"true"}, 1, "", "no-such-profile"},
	}, withCfg)
}

// TestSandboxUnprivileged runs the same cases as an unprivileged user (uid 65534), where
// there is no writable cgroup and the state root is the user's own.
func TestSandboxUnprivileged(t *testing.T) {
	asNobody, home := nobodyRunner(t, "--clear-groups")
	cases := sandboxCases(filepath.Join(home, "rw"))
	cases = append(cases, sandboxCase{"chroot needs root", []string{"--chroot", "/"}, []string{"true"}, 1, "", "needs root"},
		// privileged: uid 0 inside a user namespace, which maps it to nobody (65534) outside.
		sandboxCase{"privileged maps uid 0", []string{"--privileged"}, []string{"sh", "-c", "id -u; cat /proc/self/uid_map"}, 0,
			"0\n         0      65534          1\n", ""})
	runSandboxCases(t, cases, asNobody)
}

// TestSandboxLoginUser: an ordinary login user has supplementary groups (su and login set
// them), which it cannot drop without CAP_SETGID: the command keeps them.
func TestSandboxLoginUser(t *testing.T) {
	asUser, _ := nobodyRunner(t, "--groups=100,65534")
	runSandboxCases(t, []sandboxCase{
		{"keeps its groups", nil, []string{"id", "-G"}, 0, "65534 100\n", ""},
	}, asUser)
}

// nobodyHome is a directory uid 65534 owns, with a copy of the runtime and a writable rw/.
func nobodyHome(t *testing.T) string {
	t.Helper()
	home, err := os.MkdirTemp("", "sbx-nobody-") // t.TempDir's parent is 0700: nobody can't enter
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	for _, d := range []string{home, filepath.Join(home, "rw")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyFile(runtimeBin, filepath.Join(home, "sandlock-runtime"), 0o755); err != nil {
		t.Fatal(err)
	}
	return home
}

// nobodyRunner runs the runtime as uid 65534 (setpriv, with groupFlag for its groups), in a
// home of its own, where there is no writable cgroup and the state root is the user's own.
func nobodyRunner(t *testing.T, groupFlag string) (run func(t *testing.T, args []string) result, home string) {
	requireSetup(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		testreq.Missing(t, "setpriv not installed (util-linux): cannot run as an unprivileged user")
	}
	home = nobodyHome(t)
	bin := filepath.Join(home, "sandlock-runtime")
	t.Setenv("SANDBOX_IT_VAR", "set")
	return func(t *testing.T, args []string) result {
		var err error
		full := append([]string{"--reuid=65534", "--regid=65534", groupFlag,
			"env", "-u", "XDG_RUNTIME_DIR", "TMPDIR=" + home, "HOME=" + home, bin}, args...)
		cmd := exec.Command(setpriv, full...)
		cmd.Dir = home
		files := [2]*os.File{}
		for i := range files {
			if files[i], err = os.CreateTemp(home, "stdio-*"); err != nil {
				t.Fatal(err)
			}
		}
		cmd.Stdout, cmd.Stderr = files[0], files[1]
		r := finish(t, cmd, files, children.Start(cmd), cmdTimeout)
		t.Logf("$ (uid 65534) sandlock-runtime %s -> %d; stderr: %s", strings.Join(args, " "), r.code, strings.TrimSpace(r.stderr))
		return r
	}, home
}

// TestSandboxErrorFormats: an error is one plain line on stderr; with --log-format json and no
// --log file it is one JSON object, for callers that parse it.
func TestSandboxErrorFormats(t *testing.T) {
	requireSetup(t)
	for _, c := range []struct {
		global []string
		want   string
	}{
		{nil, "sandlock-runtime: sandbox start: exec: \"no-such-command-xyz\": executable file not found in $PATH\n"},
		{[]string{"--log-format", "json"}, `"msg":"sandbox start: exec: \"no-such-command-xyz\": executable file not found in $PATH"`},
	} {
		args := append(append([]string{"--root", envFor(t).root}, c.global...), sandboxArgs(nil, "no-such-command-xyz")...)
		cmd := exec.Command(runtimeBin, args...)
		var errb strings.Builder
		cmd.Stderr = &errb
		err := cmd.Run()
		ee, _ := err.(*exec.ExitError)
		if ee == nil || ee.ExitCode() != 127 || !strings.Contains(errb.String(), c.want) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%v: got %v, stderr %q; want exit 127 and one line containing %q", c.global, err, errb.String(), c.want)
		}
	}
}

// TestSandboxEarlySignal: a SIGTERM that reaches `sandbox` while the command's sandbox is being
// made (what `timeout` or a supervisor may send at any time) is passed on once the command
// runs; it was dropped, and the command ran to its end (exit 0). The signal is sent when the
// sandbox's state dir appears: `sandbox` handles signals by then, and the command does not run
// yet (or, on a slow path, already does: the exit is 143 either way with the fix).
func TestSandboxEarlySignal(t *testing.T) {
	requireSetup(t)
	root := envFor(t).root
	cmd, files := rtCommand(t, "sandbox", "--", "sleep", "20")
	err := children.Start(cmd)
	if err == nil {
		waitStateDir(t, root)
		_ = cmd.Process.Signal(unix.SIGTERM)
	}
	if r := finish(t, cmd, files, err, cmdTimeout); r.code != 128+int(unix.SIGTERM) {
		t.Errorf("sandbox sent SIGTERM early: exit %d, stderr %q; want %d (the command killed by it)", r.code, r.stderr, 128+int(unix.SIGTERM))
	}
}

// waitStateDir waits until a container's state dir appears under root.
func waitStateDir(t *testing.T, root string) {
	t.Helper()
	for deadline := time.Now().Add(cmdTimeout); time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			if e.IsDir() && !strings.HasPrefix(e.Name(), "#") {
				return
			}
		}
	}
	t.Fatalf("no state dir appeared under %s", root)
}

// TestSandboxUnprivilegedExec: exec into a sandbox a user started with --name runs, and the
// sandbox goes on; ps lists its processes (init's tree). The zygote's report of a new process
// is a sendmsg the policy traps, which an unprivileged supervisor performs for it only while
// the zygote is dumpable: the exec used to fail with "zygote exited" and kill the sandbox
// (exit 137).
func TestSandboxUnprivilegedExec(t *testing.T) {
	asNobody, home := nobodyRunner(t, "--clear-groups")
	root := filepath.Join(home, "state")
	cmd, files, startErr := startNobodySandbox(t, home, root, "nx", "sleep 30 & while [ ! -e go ]; do sleep 0.05; done; kill $!; echo survived")
	if startErr == nil {
		for deadline := time.Now().Add(cmdTimeout); ; time.Sleep(20 * time.Millisecond) {
			if r := asNobody(t, []string{"--root", root, "state", "nx"}); strings.Contains(r.stdout, `"running"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the named sandbox never ran")
			}
		}
		r := asNobody(t, []string{"--root", root, "exec", "nx", "sh", "-c", "echo in-exec; exit 3"})
		if r.code != 3 || r.stdout != "in-exec\n" {
			t.Errorf("exec into a user's sandbox: exit %d, stdout %q, stderr %q; want in-exec and 3", r.code, r.stdout, r.stderr)
		}
		// Without a cgroup, ps lists init's tree: the shell and its background sleep.
		if r := asNobody(t, []string{"--root", root, "ps", "--format", "json", "nx"}); strings.Count(r.stdout, ",")+1 < 2 {
			t.Errorf("ps of a user's sandbox: %q; want init and its child", r.stdout)
		}
		if err := os.WriteFile(filepath.Join(home, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if r := finish(t, cmd, files, startErr, cmdTimeout); r.code != 0 || r.stdout != "survived\n" {
		t.Errorf("the sandbox after the exec: exit %d, stdout %q, stderr %q; want 0 and survived", r.code, r.stdout, r.stderr)
	}
}

// startNobodySandbox starts `sandbox --name NAME -- sh -c SCRIPT` as nobody (the copy of the
// binary nobodyRunner made in home), with its state under root, in the background: finish
// collects it.
func startNobodySandbox(t *testing.T, home, root, name, script string) (*exec.Cmd, [2]*os.File, error) {
	t.Helper()
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "-u", "XDG_RUNTIME_DIR",
		"TMPDIR="+home, "HOME="+home, filepath.Join(home, "sandlock-runtime"), "--root", root,
		"sandbox", "--name", name, "--", "sh", "-c", script)
	cmd.Dir = home
	var files [2]*os.File
	for i := range files {
		f, err := os.CreateTemp(home, "bg-*")
		if err != nil {
			t.Fatal(err)
		}
		files[i] = f
	}
	cmd.Stdout, cmd.Stderr = files[0], files[1]
	return cmd, files, children.Start(cmd)
}

// TestSandboxUnprivilegedKillAll: without a cgroup, kill --all reaches init's whole tree: a
// background child of the command dies with it (it reached init only, and the child lived on).
func TestSandboxUnprivilegedKillAll(t *testing.T) {
	asNobody, home := nobodyRunner(t, "--clear-groups")
	root := filepath.Join(home, "state")
	cmd, files, startErr := startNobodySandbox(t, home, root, "nk", "sleep 60 & sleep 60 & wait")
	var pids []int
	if startErr == nil {
		for deadline := time.Now().Add(cmdTimeout); len(pids) < 3; time.Sleep(20 * time.Millisecond) {
			pids = nil
			r := asNobody(t, []string{"--root", root, "ps", "--format", "json", "nk"})
			for _, f := range strings.FieldsFunc(r.stdout, func(c rune) bool { return c < '0' || c > '9' }) {
				if n, err := strconv.Atoi(f); err == nil {
					pids = append(pids, n)
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("ps never listed the shell and its two sleeps: %v", pids)
			}
		}
		if r := asNobody(t, []string{"--root", root, "kill", "--all", "nk", "KILL"}); r.code != 0 {
			t.Errorf("kill --all: exit %d, stderr %q", r.code, r.stderr)
		}
	}
	if r := finish(t, cmd, files, startErr, cmdTimeout); r.code != 137 {
		t.Errorf("the sandbox after kill --all KILL: exit %d, stderr %q; want 137", r.code, r.stderr)
	}
	if left := waitGone(pids); len(left) > 0 {
		t.Errorf("processes of the sandbox alive after kill --all: %v", left)
		for _, p := range left {
			_ = unix.Kill(p, unix.SIGKILL)
		}
	}
}

// TestSandboxUnprivilegedZygoteMemory: without root the zygote stays dumpable (the supervisor,
// the same user, performs its trapped sendmsg), so the sandbox's own processes must still not
// write its memory: /proc/ZYGOTE/mem does not open for writing (Landlock: /proc is not writable).
func TestSandboxUnprivilegedZygoteMemory(t *testing.T) {
	asNobody, _ := nobodyRunner(t, "--clear-groups")
	script := `z=$(cat /proc/$$/task/$$/children); test -n "$z" || { echo no-zygote; exit 1; }
w=; for z in $z; do (exec 3<>/proc/$z/mem) 2>/dev/null && w="$w $z"; done; echo "${w:-refused}"`
	r := asNobody(t, []string{"sandbox", "--", "sh", "-c", script})
	if r.code != 0 || r.stdout != "refused\n" {
		t.Errorf("write to the zygote's memory from the sandbox: exit %d, stdout %q, stderr %q; want refused", r.code, r.stdout, r.stderr)
	}
}
