package confine

import "github.com/sandlock/sandlock-runtime/spec"

// seccompPlan selects the optional parts of sandlock's own filter. uname always goes to the
// supervisor: it answers with the container's hostname, and every container gets a listener.
func seccompPlan(p spec.Policy) (SeccompOptions, error) {
	return SeccompOptions{
		NoNetwork:   p.NetworkDenied(),
		IsolateIPC:  p.IPCIsolated(),
		NotifyUname: true,
	}, nil
}
