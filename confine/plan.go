package confine

import (
	"github.com/sandlock/sandlock-runtime/spec"
)

// Plan is everything confine applies for one sandlock policy, computed once (at create, where
// errors still fail cleanly) and applied in the init process in the documented order:
// Process.Apply, then the Landlock ruleset, then the seccomp filters.
type Plan struct {
	Landlock LandlockConfig
	Seccomp  SeccompOptions
	Process  ProcessSettings
}

// PlanFor maps policy p onto the kernel mechanisms, on top of base (the rules the runtime
// derives from the rootfs and mounts). root is the rootfs on the host ("/" for host mode and
// direct mode): policy paths are container paths, joined to it. Each part lives in its own
// file: plan_landlock.go, plan_seccomp.go, plan_process.go.
func PlanFor(p spec.Policy, base LandlockConfig, root string) (Plan, error) {
	var pl Plan
	var err error
	if pl.Landlock, err = landlockPlan(p, base, root); err != nil {
		return pl, err
	}
	if pl.Seccomp, err = seccompPlan(p); err != nil {
		return pl, err
	}
	pl.Process, err = processPlan(p)
	return pl, err
}
