// The fuzz target lives in the external test package: the plan it ends in is package confine's,
// and confine imports spec (spec itself imports no project package; its tests may).
package spec_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/spec"
)

// FuzzCreatePlan feeds what create reads from its caller, a config.json, extra annotations
// ("key=value" lines, io.sandlock.* among them) and a TOML profile, through the same pure
// steps create takes before it touches the host: load and validate the bundle, translate the
// namespaces, merge the policy (profile, OCI fields, annotations), plan Landlock, seccomp and
// the process settings, compile the exec-time seccomp programs. Every input must end in an
// error that says something, or in a plan that holds together; a panic is a bug. Nothing here
// mounts, confines or starts anything. Seeds: testdata/fuzz/FuzzCreatePlan; `make fuzz`.
func FuzzCreatePlan(f *testing.F) {
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, config, annotations, profile []byte) {
		plan, stage, err := h.run(t, config, annotations, profile)
		if err != nil {
			if why := unclear(err); why != "" {
				t.Fatalf("%s: %s", stage, why)
			}
			return
		}
		if why := planProblem(plan, h.rootfs); why != "" {
			t.Fatalf("plan: %s", why)
		}
	})
}

// harness holds the files create would read: a bundle, a profile dir and a small rootfs
// (with a symlink and the files the seed profiles name) for the policy paths to resolve in.
type harness struct {
	bundle, rootfs string
	store          spec.ProfileStore
}

func newHarness(tb testing.TB) *harness {
	dir, err := filepath.EvalSymlinks(tb.TempDir()) // the plan names resolved paths
	if err != nil {
		tb.Fatal(err)
	}
	h := &harness{bundle: filepath.Join(dir, "bundle"), rootfs: filepath.Join(dir, "rootfs")}
	profiles := filepath.Join(dir, "profiles")
	h.store = spec.ProfileStore{Dirs: []string{profiles}}
	for _, d := range []string{h.bundle, profiles, "usr/lib", "usr/bin", "tmp", "dev", "etc", "proc"} {
		if !filepath.IsAbs(d) {
			d = filepath.Join(h.rootfs, d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	for _, f := range []string{"etc/shadow", "etc/passwd", "dev/null"} {
		if err := os.WriteFile(filepath.Join(h.rootfs, f), nil, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	for link, target := range map[string]string{"lib": "usr/lib", "bin": "usr/bin", "lib64": "/usr/lib"} {
		if err := os.Symlink(target, filepath.Join(h.rootfs, link)); err != nil {
			tb.Fatal(err)
		}
	}
	return h
}

// run writes config.json and the profile fuzz.toml, then makes the plan.
func (h *harness) run(t *testing.T, config, annotations, profile []byte) (confine.Plan, string, error) {
	write(t, filepath.Join(h.bundle, spec.ConfigName), config)
	write(t, filepath.Join(h.store.Dirs[0], "fuzz.toml"), profile)
	return createPlan(h.bundle, h.rootfs, h.store, annotations)
}

func write(t *testing.T, path string, b []byte) {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// createPlan is create's pure part; stage names the step that refused the input.
func createPlan(bundle, rootfs string, store spec.ProfileStore, annotations []byte) (confine.Plan, string, error) {
	s, err := spec.LoadBundle(bundle)
	if err != nil {
		return confine.Plan{}, "load", err
	}
	addAnnotations(s, annotations)
	iso, err := spec.Translate(s)
	if err != nil {
		return confine.Plan{}, "translate", err
	}
	profile := "fuzz" // the caller's choice, unless an annotation names one (then they must agree)
	if _, ok := s.Annotations[spec.ProfileAnnotation]; ok {
		profile = ""
	}
	pol, err := spec.PolicyFromSpecProfile(s, store, profile)
	if err != nil {
		return confine.Plan{}, "policy", err
	}
	if err := roundTrip(pol); err != nil {
		return confine.Plan{}, "round trip", err
	}
	plan, err := confine.PlanFor(pol, baseRules(s, iso, rootfs), rootfs)
	if err != nil {
		return plan, "plan", err
	}
	var oci *specs.LinuxSeccomp
	if s.Linux != nil {
		oci = s.Linux.Seccomp
	}
	if _, err := confine.ExecFilters(oci, plan.Seccomp); err != nil {
		return plan, "exec filters", err
	}
	return plan, "", nil
}

// addAnnotations sets each "key=value" line as an annotation: the fuzzer reaches the policy
// annotations without having to write JSON around them.
func addAnnotations(s *specs.Spec, b []byte) {
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}

// baseRules is the shape of the rules create derives from the rootfs (lifecycle's
// landlockFor): the rootfs, writable unless root.readonly.
func baseRules(s *specs.Spec, iso spec.Isolation, rootfs string) confine.LandlockConfig {
	return confine.LandlockConfig{
		DenyTCP: iso.NoNetwork, ScopeSignal: iso.IsolateSignals, ScopeAbstractUnix: iso.IsolateIPC || iso.NoNetwork,
		Paths: []confine.PathRule{{Path: rootfs, Write: s.Root == nil || !s.Root.Readonly, Exec: true}},
	}
}

// roundTrip checks a merged policy survives being written as a profile and read back, as
// `sandlock-runtime profile` and docs/policy.md promise; a difference is reported as an error
// so that unclear reports it as a finding, not as a refused input.
func roundTrip(p spec.Policy) error {
	b, err := p.TOML()
	if err != nil {
		return &roundTripError{what: "write: " + err.Error()}
	}
	back, err := spec.ParseProfile(b, "round trip")
	if err != nil {
		return &roundTripError{what: "read back: " + err.Error() + "\n" + string(b)}
	}
	if !reflect.DeepEqual(p, back) {
		return &roundTripError{what: "read back differs:\n" + string(b)}
	}
	return nil
}

type roundTripError struct{ what string }

func (e *roundTripError) Error() string { return "policy TOML round trip: " + e.what }

// unclear says what is wrong with an error message ("" when nothing): empty, or with the marks
// of a broken format string. A round-trip error is a bug, not a refusal.
func unclear(err error) string {
	msg := err.Error()
	if _, bug := err.(*roundTripError); bug {
		return msg
	}
	if strings.TrimSpace(msg) == "" {
		return "empty error message"
	}
	for _, mark := range []string{"%!", "(MISSING)", "(BADINDEX)", "<nil>"} {
		if strings.Contains(msg, mark) {
			return fmt.Sprintf("error message with a broken format (%q): %s", mark, msg)
		}
	}
	return ""
}

// planProblem says what makes a plan unfit for init ("" when nothing): Landlock rules on
// relative paths or outside the rootfs, port rules on port 0.
func planProblem(p confine.Plan, rootfs string) string {
	for _, r := range p.Landlock.Paths {
		if !filepath.IsAbs(r.Path) || !(r.Path == rootfs || strings.HasPrefix(r.Path, rootfs+"/")) {
			return fmt.Sprintf("Landlock rule on %q, outside the rootfs %s", r.Path, rootfs)
		}
	}
	for _, ports := range [][]uint16{p.Landlock.BindTCP, p.Landlock.ConnectTCP} {
		if slices.Contains(ports, 0) {
			return fmt.Sprintf("a TCP port rule on port 0: %v", ports)
		}
	}
	return ""
}

// The fuzz target's checks must be able to fail (the messages are what fmt prints for a
// broken format).
func TestFuzzChecksCatch(t *testing.T) {
	for _, err := range []error{errors.New(" "), errors.New("bad %!d(string=x)"), errors.New("missing %!s(MISSING)"), &roundTripError{what: "differs"}} {
		if unclear(err) == "" {
			t.Errorf("unclear(%q) = \"\", want a finding", err)
		}
	}
	if why := unclear(errors.New("net_bind: 0: not a port")); why != "" {
		t.Errorf("unclear of a clear message: %s", why)
	}
	bad := []confine.Plan{
		{Landlock: confine.LandlockConfig{Paths: []confine.PathRule{{Path: "/etc"}}}},
		{Landlock: confine.LandlockConfig{Paths: []confine.PathRule{{Path: "rootfs/x"}}}},
		{Landlock: confine.LandlockConfig{ConnectTCP: []uint16{80, 0}}},
	}
	for _, p := range bad {
		if planProblem(p, "/r") == "" {
			t.Errorf("planProblem(%+v) = \"\", want a finding", p.Landlock)
		}
	}
	if why := planProblem(confine.Plan{Landlock: confine.LandlockConfig{Paths: []confine.PathRule{{Path: "/r/usr"}}}}, "/r"); why != "" {
		t.Errorf("planProblem of a good plan: %s", why)
	}
}

// The seed corpus means something only if its inputs reach the steps they were written for:
// the valid ones a plan, each invalid one the step that refuses it. A harness that refused
// everything (a broken fake rootfs, say) would fuzz nothing but error paths.
func TestFuzzSeedsReachTheirStep(t *testing.T) {
	want := map[string]string{ // seed -> step that refuses it ("" = a plan)
		"runc-default-minimal-profile": "", "podman-web-scraper-profile": "",
		"sandlock-spec-build-profile": "", "oci-seccomp-profile": "", "resources-to-policy": "",
		"fs-denied-gpus": "", "user-namespace-refused": "translate", "profile-annotation-conflict": "policy",
		"unknown-keys": "policy", "truncated-json": "load", "trailing-data": "load", "bad-toml": "policy",
	}
	h := newHarness(t)
	for name, stage := range want {
		in := readSeed(t, filepath.Join("testdata", "fuzz", "FuzzCreatePlan", name))
		_, got, err := h.run(t, in[0], in[1], in[2])
		if got != stage {
			t.Errorf("seed %s: refused at %q (%v), want %q", name, got, err, stage)
		}
	}
}

// readSeed reads a corpus file of three []byte values ("go test fuzz v1" format).
func readSeed(t *testing.T, path string) [3][]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var out [3][]byte
	if len(lines) != 4 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a corpus file of three values", path)
	}
	for i, l := range lines[1:] {
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(l, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: line %d: %v", path, i+2, err)
		}
		out[i] = []byte(s)
	}
	return out
}
