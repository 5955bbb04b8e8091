package notifsup

import (
	"regexp"
	"testing"
)

// TestRandomStreams: the documented key layout, and uuids shaped as the kernel prints them
// (version 4, RFC 4122 variant), the same per (seed, n) and different otherwise.
func TestRandomStreams(t *testing.T) {
	k := streamKey(-2, streamDevice, 3)
	if k[0] != 0xfe || k[7] != 0xff || k[8] != 'd' || k[16] != 3 || k[9] != 0 || k[24] != 0 {
		t.Errorf("streamKey(-2, d, 3) = %x, want seed LE, kind at 8, number at 16", k)
	}
	r, other := &randomSeed{seed: 5}, &randomSeed{seed: 6}
	shape := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$`)
	u0, u1 := string(r.uuid(streamUUID, 0)), string(r.uuid(streamUUID, 1))
	if !shape.MatchString(u0) {
		t.Errorf("uuid %q is not a version 4 UUID line", u0)
	}
	if u0 != string(r.uuid(streamUUID, 0)) || u0 == u1 || u0 == string(other.uuid(streamUUID, 0)) || u0 == string(r.uuid(streamBootID, 0)) {
		t.Errorf("uuids: same key must repeat, another number, seed or kind must differ: %q %q", u0, u1)
	}
}
