package lifecycle

import (
	"slices"
	"testing"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/spec"
)

// TestDeterminismFeatures: random_seed (seed 0 included) traps getrandom and the opens,
// deterministic_dirs the listings, each only when set; the sorting feature comes first for
// getdents, and both survive the supervisor's configuration file.
func TestDeterminismFeatures(t *testing.T) {
	zero, yes := int64(0), true
	for _, c := range []struct {
		name      string
		pol       spec.Policy
		want, not []string
	}{
		{"none", spec.Policy{}, nil, []string{"getrandom", "getdents64", "getdents", "openat"}},
		{"random_seed 0", spec.Policy{RandomSeed: &zero}, []string{"getrandom", "open", "openat", "openat2", "creat"}, []string{"getdents64"}},
		{"deterministic_dirs", spec.Policy{DeterministicDirs: &yes}, []string{"getdents64", "getdents"}, []string{"getrandom", "openat"}},
	} {
		plan := confine.Plan{}
		sup, err := supervisorPlan(c.pol, &plan, "h", "/rootfs", memView{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, nr := range c.want {
			if !slices.Contains(plan.Seccomp.Notify, nr) {
				t.Errorf("%s: %s not trapped", c.name, nr)
			}
		}
		for _, nr := range c.not {
			if slices.Contains(plan.Seccomp.Notify, nr) {
				t.Errorf("%s: %s trapped", c.name, nr)
			}
		}
		dir := t.TempDir()
		if err := saveSupervisorConfig(dir, sup); err != nil {
			t.Fatal(err)
		}
		back, err := loadSupervisorConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		if (back.RandomSeed == nil) != (c.pol.RandomSeed == nil) || back.RandomSeed != nil && *back.RandomSeed != *c.pol.RandomSeed || back.SortDirs != c.pol.DirsSorted() {
			t.Errorf("%s: the saved configuration lost the determinism fields: %+v", c.name, back)
		}
	}
	pol := spec.Policy{DeterministicDirs: &yes, IsolatePIDs: &yes, NumCPUs: spec.Ptr(2)}
	plan := confine.Plan{}
	sup, err := supervisorPlan(pol, &plan, "h", "/", memView{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fs := sup.features(); fs[0].Name != "sorted-dirs" {
		t.Errorf("the first feature is %s, want sorted-dirs (it answers every getdents)", fs[0].Name)
	}
}
