package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSandboxNewFlagsBadInput: bad values of the supervisor's and the copy-on-write layer's
// flags are one clear line naming the key (and its flag) and what is wrong, exit 1, and leave
// nothing behind: no state dir under --root, no layer in fs_storage, no mount.
func TestSandboxNewFlagsBadInput(t *testing.T) {
	requireSetup(t)
	scratch := t.TempDir()
	file := filepath.Join(scratch, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	storage := filepath.Join(scratch, "layers")
	for _, c := range []struct {
		name  string
		flags []string
		want  []string // substrings of stderr
	}{
		{"net-allow-hosts unresolvable", []string{"--net-allow-hosts", "nosuch.invalid"}, []string{"net_allow_hosts", `"nosuch.invalid" does not resolve`}},
		{"net-allow-hosts empty", []string{"--net-allow-hosts", ""}, []string{"net_allow_hosts", "not a host name"}},
		{"num-cpus 0", []string{"--num-cpus", "0"}, []string{"num_cpus (--num-cpus) 0", "an integer >= 1"}},
		{"num-cpus word", []string{"--num-cpus", "two"}, []string{"--num-cpus", "two"}},
		{"workdir missing", []string{"--workdir", "/nonexistent"}, []string{"workdir (--workdir) /nonexistent", "no such file or directory"}},
		{"workdir a file", []string{"--workdir", file}, []string{"workdir (--workdir)", "not a directory"}},
		{"workdir root", []string{"--workdir", "/"}, []string{"workdir"}},
		{"workdir holds storage", []string{"--workdir", scratch, "--fs-storage", storage}, []string{"fs_storage (--fs-storage)", "must be outside the workdir"}},
		{"max-disk word", []string{"--workdir", scratch, "--max-disk", "abc"}, []string{"--max-disk", `"abc": not a number`}},
		{"max-disk zero", []string{"--workdir", scratch, "--max-disk", "0"}, []string{"max_disk", "at least 1 byte"}},
		{"on-exit", []string{"--on-exit", "maybe"}, []string{`on_exit (--on-exit) "maybe"`, "COMMIT, ABORT, KEEP"}},
		{"on-error", []string{"--on-error", "maybe"}, []string{`on_error (--on-error) "maybe"`, "COMMIT, ABORT, KEEP"}},
		{"format without dry-run", []string{"--format", "json"}, []string{"--format", "--dry-run"}},
		{"format unknown", []string{"--dry-run", "--workdir", scratch, "--format", "xml"}, []string{`--format "xml"`, "text or json"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rtWith(t, nil, sandboxArgs(c.flags, "true")...)
			if r.code != 1 {
				t.Errorf("exit %d, want 1; stderr %q", r.code, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not contain %q", r.stderr, w)
				}
			}
			checkPlainErrors(t, r.stderr)
			if strings.Contains(r.stderr, "warning") {
				t.Errorf("a refused policy is warned about too: %q", r.stderr)
			}
			if ents, _ := os.ReadDir(envFor(t).root); len(ents) > 0 {
				t.Errorf("state left under --root: %v", ents)
			}
			if ents, _ := os.ReadDir(storage); len(ents) > 0 {
				t.Errorf("layers left in fs_storage: %v", ents)
			}
			if m := mountsUnder(scratch); len(m) > 0 {
				t.Errorf("mounts left: %v", m)
			}
		})
	}
}

// TestUserContainerNeedsRoot: a user's create or run of a bundle (as `spec --rootless` writes
// it) fails on its first mount with EPERM; the error says that a container needs root here and
// points to the direct mode, and nothing is left under --root.
func TestUserContainerNeedsRoot(t *testing.T) {
	run, home := nobodyRunner(t, "--clear-groups")
	bundle, state := filepath.Join(home, "bundle"), filepath.Join(home, "state")
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bundle, filepath.Join(bundle, "rootfs")} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if r := run(t, []string{"spec", "--rootless", "--bundle", bundle}); r.code != 0 {
		t.Fatalf("spec --rootless: exit %d: %s", r.code, r.stderr)
	}
	// create without a console socket needs a config without a terminal
	cfg := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), `"terminal": true`, `"terminal": false`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"create", "run"} {
		r := run(t, []string{"--root", state, verb, "--bundle", bundle, "u-" + verb})
		if r.code == 0 || !strings.Contains(r.stderr, "operation not permitted (a container needs root") || !strings.Contains(r.stderr, "sandlock-runtime sandbox") {
			t.Errorf("%s as a user: exit %d, stderr %q; want the EPERM with why and what to use instead", verb, r.code, r.stderr)
		}
		if ents, _ := os.ReadDir(state); len(ents) > 0 {
			t.Errorf("%s as a user left state: %v", verb, ents)
		}
		if m := mountsUnder(bundle); len(m) > 0 {
			t.Errorf("%s as a user left mounts: %v", verb, m)
		}
	}
}

// TestCOWExecRefused: a command the policy cannot execute in a copy-on-write workdir exits
// 126 with the one refusal line: no warning of a supervisor killed at teardown (it waited for
// init's exit status, which the kernel gives once init is reaped), the workdir untouched, no
// layer, state or mount left.
func TestCOWExecRefused(t *testing.T) {
	requireSetup(t)
	wd, storage := cowTree(t)
	before := snapshot(t, wd)
	r := rtWith(t, nil, sandboxArgs(cowFlags(wd, storage, "-w", wd), "sh", "-c", "echo x > new")...)
	if r.code != 126 || !strings.Contains(r.stderr, "permission denied (refused by the sandbox policy") {
		t.Fatalf("exit %d, stderr %q; want 126 and the refusal", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "warning") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Errorf("stderr has more than the refusal: %q", r.stderr)
	}
	if log, _ := os.ReadFile(envFor(t).log); strings.Contains(string(log), "still running") {
		t.Errorf("the supervisor outlived the container (the log: %s)", log)
	}
	if snapshot(t, wd) != before {
		t.Errorf("the workdir changed")
	}
	if l := layers(t, storage); len(l) > 0 {
		t.Errorf("layers left: %v", l)
	}
	if ents, _ := os.ReadDir(envFor(t).root); len(ents) > 0 {
		t.Errorf("state left under --root: %v", ents)
	}
	if m := mountsUnder(filepath.Dir(wd)); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
}
