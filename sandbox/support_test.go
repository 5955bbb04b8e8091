package sandbox

import (
	"slices"
	"strings"
	"testing"

	"github.com/sandlock/sandlock-runtime/spec"
)

// TestFieldsCoverPolicy: every policy key says how it is enforced, and nothing else is listed.
func TestFieldsCoverPolicy(t *testing.T) {
	keys := map[string]bool{}
	for _, k := range spec.PolicyKeys() {
		keys[k] = true
		if _, ok := fields[k]; !ok {
			t.Errorf("policy key %s: missing from fields (support.go)", k)
		}
	}
	for k := range fields {
		if !keys[k] {
			t.Errorf("fields lists %s, which is not a policy key", k)
		}
	}
}

func TestFieldStatus(t *testing.T) {
	cases := []struct {
		key  string
		host Host
		want string
	}{
		{"fs_readable", Host{LandlockABI: 7}, "yes"},
		{"fs_readable", Host{LandlockABI: 5}, "no (Landlock ABI 6 needed)"},
		{"fs_readable", Host{LandlockABI: -1}, "no (Landlock ABI 6 needed)"},
		{"chroot", Host{LandlockABI: 7}, "needs root"},
		{"chroot", Host{LandlockABI: 7, Root: true}, "yes"},
		{"max_memory", Host{LandlockABI: 7, Root: true}, "* memory controller"}, // this host's, see below
		{"max_cpu", Host{LandlockABI: 7}, "needs root"},
		{"privileged", Host{LandlockABI: 7, Root: true}, "yes"},
		{"workdir", Host{LandlockABI: 7, Root: true, Overlay: true}, "yes"},
		{"workdir", Host{LandlockABI: 7, Overlay: true, UserNS: true}, "yes"},
		{"workdir", Host{LandlockABI: 7, Overlay: true}, "needs root (unprivileged user namespaces are off here)"},
		{"on_exit", Host{LandlockABI: 7, Root: true}, "no (overlayfs missing)"},
		{"max_disk", Host{LandlockABI: 7, Overlay: true, UserNS: true}, "yes in the direct mode (sandbox, the Go API); a user's container needs root"},
		{"max_disk", Host{LandlockABI: 7, Overlay: true, Root: true}, "yes"},
		{"num_cpus", Host{LandlockABI: 7, Root: true}, "yes"},
		{"random_seed", Host{LandlockABI: 7, Root: true}, "not yet implemented"},
	}
	for _, c := range cases {
		got := fields[c.key].status(c.host)
		if pat, ok := strings.CutPrefix(c.want, "* "); ok {
			// A limit's status names what enforces it on the host the test runs on.
			if (!strings.HasPrefix(got, "yes: ") && !strings.HasPrefix(got, "no: ")) || !strings.Contains(got, strings.Fields(pat)[0]) {
				t.Errorf("%s: got %q, want yes:/no: naming the %s", c.key, got, pat)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s on %+v: got %q, want %q", c.key, c.host, got, c.want)
		}
	}
}

func TestNotEnforced(t *testing.T) {
	disk := spec.Size(1 << 20)
	two := 2
	seed := int64(1)
	p := spec.Policy{FSReadable: []string{"/usr"}, MaxDisk: &disk, Workdir: spec.Ptr("/w"), NumCPUs: &two, MaxMemory: new(spec.Size),
		RandomSeed: &seed, TimeStart: spec.Ptr("2000-01-01T00:00:00Z")}
	got := NotEnforced(p)
	want := []string{"random_seed"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
