package sandbox

import (
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
		{"max_memory", Host{LandlockABI: 7, Root: true}, "yes"},
		{"max_cpu", Host{LandlockABI: 7}, "needs root"},
		{"privileged", Host{LandlockABI: 7, Root: true}, "yes"},
		{"workdir", Host{LandlockABI: 7, Root: true, Overlay: true}, "yes"},
		{"workdir", Host{LandlockABI: 7, Overlay: true, UserNS: true}, "yes"},
		{"workdir", Host{LandlockABI: 7, Overlay: true}, "needs root (unprivileged user namespaces are off here)"},
		{"on_exit", Host{LandlockABI: 7, Root: true}, "no (overlayfs missing)"},
		{"max_disk", Host{LandlockABI: 7, Overlay: true, UserNS: true}, "yes"},
		{"num_cpus", Host{LandlockABI: 7, Root: true}, "not yet implemented"},
	}
	for _, c := range cases {
		if got := fields[c.key].status(c.host); got != c.want {
			t.Errorf("%s on %+v: got %q, want %q", c.key, c.host, got, c.want)
		}
	}
}

func TestNotEnforced(t *testing.T) {
	seed := int64(1)
	two := 2
	p := spec.Policy{FSReadable: []string{"/usr"}, RandomSeed: &seed, NumCPUs: &two, MaxMemory: new(spec.Size)}
	got := NotEnforced(p)
	want := []string{"num_cpus", "random_seed"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %v, want %v", got, want)
	}
}
