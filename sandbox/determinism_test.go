package sandbox

import (
	"bytes"
	"testing"
	"time"

	"github.com/sandlock/sandlock-runtime/spec"
)

// TestRandomSeedAPI: spec.Policy.RandomSeed through the Go API: the same seed reads the same
// bytes from getrandom's consumers and /dev/urandom, another seed other bytes, and without a
// seed two runs differ (the control).
func TestRandomSeedAPI(t *testing.T) {
	requireKernel(t)
	run := func(seed *int64) []byte {
		p, _ := hostPolicy(t)
		p.RandomSeed = seed
		r, err := newSandbox(t, p).Run(ctxFor(t, 30*time.Second), []string{"sh", "-c", "head -c 32 /dev/urandom | od -x"})
		if err != nil || !r.Success() || len(r.Stdout) < 40 {
			t.Fatalf("run: %v %+v", err, r)
		}
		return r.Stdout
	}
	a, b, c := run(spec.Ptr(int64(9))), run(spec.Ptr(int64(9))), run(spec.Ptr(int64(10)))
	if !bytes.Equal(a, b) {
		t.Errorf("seed 9 printed %q then %q", a, b)
	}
	if bytes.Equal(a, c) {
		t.Errorf("seeds 9 and 10 both printed %q", a)
	}
	if u1, u2 := run(nil), run(nil); bytes.Equal(u1, u2) {
		t.Errorf("without a seed two runs printed %q", u1)
	}
}
