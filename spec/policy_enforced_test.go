package spec

import (
	"slices"
	"testing"
)

func TestNotEnforced(t *testing.T) {
	mem := Size(1 << 20)
	p := Policy{FSReadable: []string{"/usr"}, MaxMemory: &mem, NoUDP: ptr(true)}
	if got, want := p.NotEnforced(), []string{"max_memory"}; !slices.Equal(got, want) {
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
