package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The profiles in profiles/ are shipped: `make install` puts them in /etc/sandlock/profiles,
// beside the binary in /usr/local/bin, and each does what its name promises.

func TestMakeInstall(t *testing.T) {
	requireSetup(t)
	dest := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "-C", repoRoot, "install", "DESTDIR="+dest, "BIN="+runtimeBin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	bin := filepath.Join(dest, "usr/local/bin/sandlock-runtime")
	out, err := exec.Command(bin, "profile", "--dir", filepath.Join(dest, "etc/sandlock/profiles"), "list").Output()
	if err != nil {
		t.Fatalf("installed binary: %v", err)
	}
	if got, want := string(out), strings.Join(shippedProfiles(t), "\n")+"\n"; got != want {
		t.Errorf("installed profiles: %q, want %q", got, want)
	}
}

func shippedProfiles(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repoRoot, "profiles", "*.toml"))
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".toml"))
	}
	if len(names) == 0 {
		t.Fatal("no profiles in profiles/")
	}
	return names
}

// profileProbes are, per shipped profile, commands that show its promise (a case that must be
// refused included), each with its extra flags and expected stdout.
func profileProbes(dir string) map[string][]sandboxCase {
	return map[string][]sandboxCase{
		"minimal": {
			{"writes /tmp only", nil, []string{"sh", "-c", "echo x > /tmp/.sbx-minimal-$$ && rm /tmp/.sbx-minimal-$$ && echo tmp-ok; echo x > " + dir + "/f 2>/dev/null || echo other-refused"}, 0, "tmp-ok\nother-refused\n", ""},
			{"no network", nil, []string{"bash", "-c", "(exec 3<>/dev/tcp/127.0.0.1/80) 2>&1 | grep -q 'Connection refused' && echo reached || echo no-network"}, 0, "no-network\n", ""},
			{"clean environment", nil, []string{"sh", "-c", "echo ${SANDBOX_IT_VAR:-clean}"}, 0, "clean\n", ""},
		},
		"build": {
			{"writes the project and /tmp", []string{"-w", dir, "-w", "/tmp"}, []string{"sh", "-c", "echo x > " + dir + "/out && cat /etc/hostname >/dev/null && echo built"}, 0, "built\n", ""},
			{"nothing else", nil, []string{"sh", "-c", "echo x > " + dir + "/out2 2>/dev/null || echo refused"}, 0, "refused\n", ""},
		},
		"web-scraper": {
			{"DNS over UDP allowed", nil, []string{"bash", "-c", "exec 3<>/dev/udp/127.0.0.1/53 && echo udp-ok"}, 0, "udp-ok\n", ""},
			{"port 80 allowed, 8080 refused", nil, []string{"bash", "-c",
				"(exec 3<>/dev/tcp/127.0.0.1/80) 2>&1 | grep -q 'Connection refused' && echo 80-reached; (exec 3<>/dev/tcp/127.0.0.1/8080) 2>&1 | grep -q 'Permission denied' && echo 8080-refused"}, 0, "80-reached\n8080-refused\n", ""},
			{"/etc/shadow denied", nil, []string{"sh", "-c", "cat /etc/shadow >/dev/null 2>&1 || echo denied"}, 0, "denied\n", ""},
		},
	}
}

func TestShippedProfiles(t *testing.T) {
	requireSetup(t)
	// Outside /tmp, which every profile may write: beside the checkout, or in /var/tmp when the
	// checkout itself lies under /tmp (as a CI clone may).
	base := repoRoot
	if base == "/tmp" || strings.HasPrefix(base, "/tmp/") {
		base = "/var/tmp"
	}
	dir, err := os.MkdirTemp(base, ".sbx-profiles-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Setenv("SANDBOX_IT_VAR", "set")
	probes := profileProbes(dir)
	for _, name := range shippedProfiles(t) {
		t.Run(name, func(t *testing.T) {
			cases, ok := probes[name]
			if !ok {
				t.Fatalf("profile %s has no probe of what it promises: add one to profileProbes", name)
			}
			base := []string{"--dir", filepath.Join(repoRoot, "profiles"), "--profile", name}
			cases = append([]sandboxCase{{"runs, every key enforced", nil, []string{"sh", "-c", "echo ok"}, 0, "ok\n", ""}}, cases...)
			for i := range cases {
				cases[i].flags = append(append([]string{}, base...), cases[i].flags...)
			}
			runSandboxCases(t, cases, func(t *testing.T, args []string) result {
				r := rtWith(t, nil, args...)
				if strings.Contains(r.stderr, "not enforced") {
					t.Errorf("profile %s sets a key that is not enforced: %s", name, r.stderr)
				}
				return r
			})
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "out2")); err == nil {
		t.Errorf("the build profile let a write through")
	}
}
