package lifecycle

import (
	"slices"
	"testing"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/notifsup"
	"github.com/sandlock/sandlock-runtime/spec"
)

// TestTimeStartTrapped: time_start traps the clock syscalls and arch_prctl (the vDSO
// rewrite); without it none of them is trapped (a sandbox without the field keeps its clock
// reads in the vDSO).
func TestTimeStartTrapped(t *testing.T) {
	names := []string{"clock_gettime", "gettimeofday", "time", "clock_nanosleep", "timer_settime", "timerfd_settime", "futex", "futex_waitv", "arch_prctl"}
	for _, c := range []struct {
		name string
		pol  spec.Policy
		want bool
	}{{"time_start", spec.Policy{TimeStart: spec.Ptr("946684800")}, true}, {"none", spec.Policy{}, false}} {
		plan := confine.Plan{}
		sup, err := supervisorPlan(c.pol, &plan, "h", "/rootfs", memView{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, nr := range names {
			if got := slices.Contains(plan.Seccomp.Notify, nr); got != c.want {
				t.Errorf("%s: %s trapped %v, want %v", c.name, nr, got, c.want)
			}
		}
		if got := sup.TimeStart != nil; got != c.want {
			t.Errorf("%s: supervisor's time_start set %v, want %v", c.name, got, c.want)
		}
	}
}

// TestWallClocksAgree: the filter sends clock_gettime to the supervisor for the very clocks
// the supervisor shifts (confine cannot import notifsup: two lists, kept equal here).
func TestWallClocksAgree(t *testing.T) {
	if !slices.Equal(confine.WallClocks, notifsup.ShiftedClocks) {
		t.Errorf("confine.WallClocks %v, notifsup.ShiftedClocks %v: they must be equal", confine.WallClocks, notifsup.ShiftedClocks)
	}
}
