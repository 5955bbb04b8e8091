package spec

import "slices"

// notEnforced are the keys this release parses and validates but does not enforce yet: the
// supervisor issue (determinism) and the copy-on-write
// issue. max_memory, max_processes and max_cpu are enforced through the cgroup controllers. Set, they are reported (the sandbox command and create warn),
// never silently dropped. docs/policy.md has the same list.
var notEnforced = []string{
	"random_seed", "time_start", "deterministic_dirs",
}

// IsEnforced reports whether this release enforces policy key k.
func IsEnforced(k string) bool { return !slices.Contains(notEnforced, k) }

// NotEnforced lists the keys p sets that this release does not enforce yet, in PolicyKeys
// order.
func (p Policy) NotEnforced() []string {
	var out []string
	for _, k := range p.SetKeys() {
		if !IsEnforced(k) {
			out = append(out, k)
		}
	}
	return out
}
