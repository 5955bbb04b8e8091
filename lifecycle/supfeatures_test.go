package lifecycle

import (
	"slices"
	"testing"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/spec"
)

// TestCarvedPathSyscallsTrapped: fs_denied's mediation (the path syscalls) is trapped only when
// the carving took a writable rule; a read-only carving, and no carving, trap none of them.
func TestCarvedPathSyscallsTrapped(t *testing.T) {
	carving := func(write bool) *confine.Carving {
		return &confine.Carving{Rules: []confine.CarvedRule{{Path: "/w", Write: write}}, Dirs: []string{"/w"},
			Denied: []confine.DeniedObject{{Path: "/w/secret"}}}
	}
	for _, c := range []struct {
		name   string
		carved *confine.Carving
		want   bool
	}{{"writable rule carved", carving(true), true}, {"read-only rule carved", carving(false), false}, {"no carving", nil, false}} {
		plan := confine.Plan{Landlock: confine.LandlockConfig{Carved: c.carved}}
		sup, err := supervisorPlan(spec.Policy{FSDenied: []string{"/w/secret"}}, &plan, "h", "/rootfs", memView{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, nr := range []string{"openat", "openat2", "renameat2", "linkat", "mkdirat", "unlinkat"} {
			if got := slices.Contains(plan.Seccomp.Notify, nr); got != c.want {
				t.Errorf("%s: %s trapped %v, want %v", c.name, nr, got, c.want)
			}
		}
		if got := sup.FS.Carve != nil; got != c.want {
			t.Errorf("%s: supervisor's carve configuration set %v, want %v", c.name, got, c.want)
		}
	}
}
