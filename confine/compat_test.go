package confine

import "testing"

// TestProbeCompatABIs: the i386 probe runs in a forked child, so this process survives a host
// where int 0x80 kills its caller; the answer is either yes or no with the reason.
func TestProbeCompatABIs(t *testing.T) {
	c := ProbeCompatABIs()
	if c.I386 == (c.I386Note != "") {
		t.Errorf("i386 %v with note %q: want a note exactly when the entry point is absent", c.I386, c.I386Note)
	}
	t.Logf("i386 entry point: %v %s; x32: %v", c.I386, c.I386Note, c.X32)
}
