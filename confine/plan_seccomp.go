package confine

import (
	"fmt"
	"slices"

	"github.com/sandlock/sandlock-runtime/spec"
)

// seccompPlan selects the optional parts of sandlock's own filter and the policy's syscall
// filter. uname always goes to the supervisor: it answers with the container's hostname, and
// every container gets a listener.
func seccompPlan(p spec.Policy) (SeccompOptions, error) {
	o := SeccompOptions{
		NoNetwork:       p.NetworkDenied(),
		IsolateIPC:      p.IPCIsolated(),
		NotifyUname:     true,
		AllowRawSockets: !p.RawSocketsDenied(),
		NoUDP:           p.UDPDenied(),
		// SCTP and MPTCP reach ports Landlock's TCP rules do not see (seccomp.go)
		NoSCTP:         len(p.NetAllowHosts)+len(p.NetBind)+len(p.NetConnect) > 0,
		NoUntrackedTCP: len(p.NetBind)+len(p.NetConnect) > 0,
		PinCPUs:        len(p.CPUCores) > 0 || p.VisibleCPUs() > 0, // num_cpus pins too
		OwnPIDsOnly:    p.PIDsIsolated(),
		DenySyscalls:   p.DenySyscalls,
		AllowSyscalls:  p.AllowSyscalls,
	}
	if err := CheckSyscallNames("deny_syscalls", o.DenySyscalls); err != nil {
		return o, err
	}
	if err := CheckSyscallNames("allow_syscalls", o.AllowSyscalls); err != nil {
		return o, err
	}
	return o, checkDenyRuntime(o.DenySyscalls)
}

// checkDenyRuntime refuses a deny_syscalls entry the runtime itself needs after the filter is
// loaded (runtimeSyscalls): the container could not start, or init would hang in the Go
// runtime, instead of failing with a clear message.
func checkDenyRuntime(deny []string) error {
	for _, n := range deny {
		if slices.Contains(runtimeSyscalls, n) {
			return fmt.Errorf("deny_syscalls: %q: the runtime needs it to start the container's process, so it cannot be denied; accepted: syscalls outside the list in docs/policy.md (allow_syscalls)", n)
		}
	}
	return nil
}
