package spec

import (
	"slices"
	"testing"
)

func TestNotEnforced(t *testing.T) {
	p := Policy{FSReadable: []string{"/usr"}, NumCPUs: ptr(2), MaxDisk: ptr(Size(1 << 20)), RandomSeed: ptr(int64(3)), NoUDP: ptr(true), MaxMemory: ptr(Size(1 << 20))}
	if got, want := p.NotEnforced(), []string{"random_seed"}; !slices.Equal(got, want) {
		t.Errorf("NotEnforced = %v, want %v", got, want)
	}
	if (Policy{}).NotEnforced() != nil {
		t.Errorf("an empty policy reports unenforced keys")
	}
	for _, k := range notEnforced {
		if !slices.Contains(PolicyKeys(), k) {
			t.Errorf("notEnforced lists %q, which is no policy key", k)
		}
	}
}
