package confine

import "github.com/sandlock/sandlock-runtime/spec"

// landlockPlan adds the policy's Landlock fields to the runtime's base rules.
func landlockPlan(p spec.Policy, base LandlockConfig, root string) (LandlockConfig, error) {
	c := base
	c.DenyTCP = c.DenyTCP || p.NetworkDenied()
	c.ScopeSignal = c.ScopeSignal || p.SignalsIsolated()
	c.ScopeAbstractUnix = c.ScopeAbstractUnix || p.IPCIsolated()
	return c, nil
}
