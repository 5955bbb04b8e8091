package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
		})
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
		{"invalid policy", []string{"--fs-readable", "relative"}, []string{"true"}, 1, "", "not an absolute path"},
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
	requireSetup(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed (util-linux): cannot run as an unprivileged user")
	}
	home, err := os.MkdirTemp("", "sbx-nobody-") // t.TempDir's parent is 0700: nobody can't enter
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	bin := filepath.Join(home, "sandlock-runtime")
	if err := copyFile(runtimeBin, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, "rw")
	for _, d := range []string{home, dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SANDBOX_IT_VAR", "set")
	asNobody := func(t *testing.T, args []string) result {
		full := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups",
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
		r := finish(t, cmd, files, startOwned(cmd), cmdTimeout)
		t.Logf("$ (uid 65534) sandlock-runtime %s -> %d; stderr: %s", strings.Join(args, " "), r.code, strings.TrimSpace(r.stderr))
		return r
	}
	cases := sandboxCases(dir)
	cases = append(cases, sandboxCase{"chroot needs root", []string{"--chroot", "/"}, []string{"true"}, 1, "", "needs root"},
		// privileged: uid 0 inside a user namespace, which maps it to nobody (65534) outside.
		sandboxCase{"privileged maps uid 0", []string{"--privileged"}, []string{"sh", "-c", "id -u; cat /proc/self/uid_map"}, 0,
			"0\n         0      65534          1\n", ""})
	runSandboxCases(t, cases, asNobody)
}
