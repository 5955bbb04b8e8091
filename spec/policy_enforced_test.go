package spec

import (
	"slices"
	"testing"
)

func TestNotEnforced(t *testing.T) {
	// Every determinism key set: those this release does not enforce are reported.
	p := Policy{FSReadable: []string{"/usr"}, NumCPUs: ptr(2), MaxDisk: ptr(Size(1 << 20)), RandomSeed: ptr(int64(3)), NoUDP: ptr(true), MaxMemory: ptr(Size(1 << 20)),
		TimeStart: ptr("1704067200"), DeterministicDirs: ptr(true)}
	want := slices.DeleteFunc(p.SetKeys(), IsEnforced)
	if got := p.NotEnforced(); !slices.Equal(got, want) || len(got) != len(notEnforced) || slices.Contains(got, "random_seed") {
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

func TestInertWithoutWorkdir(t *testing.T) {
	p := Policy{FSWritable: []string{"/tmp"}, MaxDisk: ptr(Size(1 << 20)), OnExit: ptr(BranchKeep), NoUDP: ptr(true), FSStorage: ptr("/var/tmp/l")}
	if got, want := p.InertWithoutWorkdir(), []string{"fs_storage", "max_disk", "on_exit"}; !slices.Equal(got, want) {
		t.Errorf("InertWithoutWorkdir = %v, want %v", got, want)
	}
	p.Workdir = ptr("/src")
	if got := p.InertWithoutWorkdir(); got != nil {
		t.Errorf("with a workdir, InertWithoutWorkdir = %v, want none", got)
	}
	for _, k := range workdirKeys {
		if !slices.Contains(PolicyKeys(), k) {
			t.Errorf("workdirKeys lists %q, which is no policy key", k)
		}
	}
}
