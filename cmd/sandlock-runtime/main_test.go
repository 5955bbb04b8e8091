package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandlock/sandlock-runtime/lifecycle"
	"github.com/sandlock/sandlock-runtime/spec"
)

// run runs the CLI in-process against a private state root.
func run(t *testing.T, args ...string) error {
	t.Helper()
	app := newApp()
	return app.Run(append([]string{"sandlock-runtime", "--root", t.TempDir()}, args...))
}

func TestFlagParsing(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // substring of the error; "" = no error
	}{
		{"state of a missing container", []string{"state", "nope"}, "container does not exist"},
		{"start needs an id", []string{"start"}, "exactly one container ID"},
		{"a flag after the id", []string{"delete", "c1", "--force"}, "--force after the container ID: flags go before it (sandlock-runtime delete [flags] ID)"},
		{"two ids", []string{"state", "a", "b"}, "needs exactly one container ID, got 2 arguments"},
		{"cow diff needs a layer", []string{"cow", "diff"}, "cow diff: needs exactly one LAYER, got 0 arguments"},
		{"cow diff: a flag after the layer", []string{"cow", "diff", "L", "--format", "json"}, "--format after the LAYER: flags go before it (sandlock-runtime cow diff [flags] LAYER)"},
		{"cow commit of a directory that is no layer", []string{"cow", "commit", "/"}, "/ is not a cow layer"},
		{"cow list takes no argument", []string{"cow", "list", "x"}, "takes no arguments"},
		{"kill with a bad signal", []string{"kill", "nope", "SIGNOPE"}, "SIGNOPE"},
		{"kill --all of a missing container", []string{"kill", "--all", "nope", "9"}, "does not exist"},
		{"delete --force of a missing container", []string{"delete", "--force", "nope"}, ""},
		{"delete of a missing container", []string{"delete", "nope"}, "does not exist"},
		{"create with an invalid id", []string{"create", "--bundle", ".", "../x"}, "invalid container id"},
		{"single-dash long flag", []string{"create", "-bundle", "/nonexistent", "-no-pivot", "c1"}, "/nonexistent"},
		{"exec --user not numeric", []string{"exec", "--user", "root", "c1", "true"}, "uid[:gid]"},
		{"list with an unknown format", []string{"list", "--format", "xml"}, "unknown --format"},
		{"sandbox --restore with a command", []string{"sandbox", "--restore", "/nonexistent", "--", "echo", "hi"}, "give no CMD"},
		{"sandbox --restore with --dry-run", []string{"sandbox", "--restore", "/nonexistent", "--dry-run"}, "no --dry-run"},
		{"list as json", []string{"list", "--format", "json"}, ""},
		{"ps of a missing container", []string{"ps", "--format", "json", "nope"}, "does not exist"},
		{"pause of a missing container", []string{"pause", "nope"}, "does not exist"},
		{"unknown log format", []string{"--log-format", "xml", "list"}, "log-format"},
		{"update of a missing container", []string{"update", "--resources", "-", "nope"}, "does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := run(t, c.args...)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestMissingContainerIsSentinel(t *testing.T) {
	if err := run(t, "state", "nope"); !errors.Is(err, lifecycle.ErrNotExist) {
		t.Errorf("got %v, want lifecycle.ErrNotExist (callers match its text)", err)
	}
}

func TestSpecWritesStarterConfig(t *testing.T) {
	dir := t.TempDir()
	if err := run(t, "spec", "--bundle", dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("config.json is not a spec: %v", err)
	}
	if s.Annotations["io.sandlock.no_raw_sockets"] == "" {
		t.Errorf("starter config has no io.sandlock annotations to show the keys: %v", s.Annotations)
	}
	if err := run(t, "spec", "--bundle", dir); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("spec over an existing config.json: got %v, want a refusal", err)
	}
}

func TestParseUser(t *testing.T) {
	u, err := parseUser("1000:100")
	if err != nil || u.UID != 1000 || u.GID != 100 {
		t.Errorf("parseUser(1000:100) = %+v, %v", u, err)
	}
	if u, err := parseUser(""); u != nil || err != nil {
		t.Errorf("parseUser(\"\") = %+v, %v; want nil, nil", u, err)
	}
	if _, err := parseUser("1000:x"); err == nil {
		t.Errorf("parseUser(1000:x) accepted")
	}
}

// runOut runs the CLI in-process and returns what it wrote on its stdout.
func runOut(t *testing.T, args ...string) string {
	t.Helper()
	var out strings.Builder
	app := newApp()
	app.Writer = &out
	if err := app.Run(append([]string{"sandlock-runtime"}, args...)); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out.String()
}

// TestSandboxHelp: --help shows the policy's real defaults, and names only flags that exist.
func TestSandboxHelp(t *testing.T) {
	help := runOut(t, "sandbox", "--help")
	for _, want := range []string{"--no-raw-sockets", "--close-fds"} {
		line := ""
		for _, l := range strings.Split(help, "\n") {
			if strings.Contains(l, want+" ") {
				line = l
			}
		}
		if !strings.Contains(line, "(default: true)") {
			t.Errorf("%s: help line %q, want (default: true)", want, line)
		}
	}
	if !strings.Contains(help, "(default: 64)") {
		t.Errorf("max_processes' default 64 missing from help")
	}
	for k := range flagWhat {
		if !slices.Contains(spec.PolicyKeys(), k) {
			t.Errorf("flagWhat describes %s, which is not a policy key", k)
		}
	}
	if !strings.Contains(help, "--workdir value") || !strings.Contains(help, "copy-on-write layer") {
		t.Errorf("--workdir's help does not say what it does")
	}
	flags := map[string]bool{"--help": true}
	for _, f := range sandboxCommand.Flags {
		for _, n := range f.Names() {
			flags["--"+n] = true
		}
	}
	for _, w := range strings.Fields(sandboxCommand.Description + " " + sandboxCommand.Usage) {
		w = strings.Trim(w, ".,:;()")
		if strings.HasPrefix(w, "--") && len(w) > 2 && !flags[strings.SplitN(w, "=", 2)[0]] {
			t.Errorf("the help names %s, which is not a flag", w)
		}
	}
}

func TestVersionOnce(t *testing.T) {
	out := runOut(t, "--version")
	if strings.Count(out, "spec: ") != 1 || strings.Count(out, "go: ") != 1 || !strings.HasPrefix(out, "sandlock-runtime version ") {
		t.Errorf("--version printed %q, want the version block once", out)
	}
	if help := runOut(t, "--help"); strings.Contains(help, "spec: ") {
		t.Errorf("--help repeats the version block: %q", help)
	}
}

// TestRealWritesOfDryRun: a dry run layers the workdir only; the writable paths outside it
// (the default workdir being the current directory) are the ones the warning names.
func TestRealWritesOfDryRun(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	wd := "/srv/app"
	got := realWritesOfDryRun(spec.Policy{Workdir: &wd, FSWritable: []string{"/srv/app/sub", "/srv/app", "/tmp", "/", "/srv/application"}})
	want := [][2]string{{"/tmp", wd}, {"/", wd}, {"/srv/application", wd}}
	if !slices.Equal(got, want) {
		t.Errorf("workdir %s: got %v, want %v", wd, got, want)
	}
	got = realWritesOfDryRun(spec.Policy{FSWritable: []string{"sub", "../elsewhere"}})
	want = [][2]string{{filepath.Join(filepath.Dir(cwd), "elsewhere"), cwd}}
	if !slices.Equal(got, want) {
		t.Errorf("no workdir (cwd %s): got %v, want %v", cwd, got, want)
	}
	// A symlink in the workdir to a directory outside it is read-only in a dry run too.
	base := t.TempDir()
	wd = filepath.Join(base, "wd")
	if err := os.Mkdir(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(wd, "out")
	if err := os.Symlink(base, out); err != nil {
		t.Fatal(err)
	}
	got = realWritesOfDryRun(spec.Policy{Workdir: &wd, FSWritable: []string{out}})
	if want = [][2]string{{out, wd}}; !slices.Equal(got, want) {
		t.Errorf("a symlink in the workdir to outside it: got %v, want %v", got, want)
	}
}

// TestSandboxUnknownFlag: a misspelt flag of sandbox is one line naming it and the flag meant,
// without the 80-flag --help around it.
func TestSandboxUnknownFlag(t *testing.T) {
	var out, errb strings.Builder
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errb
	err := app.Run([]string{"sandlock-runtime", "--root", t.TempDir(), "sandbox", "--fs-readabel", "/usr", "--", "true"})
	want := `sandbox: unknown flag --fs-readabel (did you mean "--fs-readable"?)`
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %v; want one line starting %q", err, want)
	}
	if strings.Contains(out.String()+errb.String(), "OPTIONS:") {
		t.Errorf("the help was printed around the error: %q", out.String()+errb.String())
	}
}
