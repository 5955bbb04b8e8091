package lifecycle

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandlock/sandlock-runtime/spec"
)

// pinnedHost is one name of net_allow_hosts and the addresses it resolved to at create: the
// only ones the sandbox may reach for it, whatever the name resolves to later.
type pinnedHost struct {
	Name  string       `json:"name"`
	Addrs []netip.Addr `json:"addrs"`
}

// resolveTimeout bounds the resolution of each name at create.
const resolveTimeout = 10 * time.Second

// pinHosts resolves net_allow_hosts once, with the host's resolver (/etc/hosts, then DNS as
// Go's resolver reads the host's configuration). An address given as such is itself. A name
// that does not resolve fails create: a policy naming a host it cannot pin would otherwise
// allow nothing for it without saying so.
func pinHosts(names []string) ([]pinnedHost, error) {
	var out []pinnedHost
	for _, n := range names {
		if a, err := netip.ParseAddr(n); err == nil {
			out = append(out, pinnedHost{Name: n, Addrs: []netip.Addr{a.Unmap()}})
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", n)
		cancel()
		if err != nil || len(addrs) == 0 {
			return nil, stepErr(StepPolicy, fmt.Errorf("net_allow_hosts: %q does not resolve on this host: %v", n, err))
		}
		for i := range addrs {
			addrs[i] = addrs[i].Unmap()
		}
		slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
		out = append(out, pinnedHost{Name: n, Addrs: slices.Compact(addrs)})
	}
	return out, nil
}

// allowedAddrs is the pinned set, as the supervisor's configuration holds it.
func allowedAddrs(hs []pinnedHost) []string {
	var out []string
	for _, h := range hs {
		for _, a := range h.Addrs {
			out = append(out, a.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// hostsFile is the /etc/hosts the sandbox sees under net_allow_hosts: each allowed name with
// its pinned addresses (so that resolving it needs no DNS server, which is not reachable unless
// allowed), and localhost as usual unless the policy names it.
func hostsFile(hs []pinnedHost) string {
	var b strings.Builder
	b.WriteString("# sandlock-runtime: net_allow_hosts, resolved when the sandbox was created\n")
	named := slices.ContainsFunc(hs, func(h pinnedHost) bool { return h.Name == "localhost" })
	if !named {
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	}
	for _, h := range hs {
		if _, err := netip.ParseAddr(h.Name); err == nil {
			continue
		}
		for _, a := range h.Addrs {
			fmt.Fprintf(&b, "%s\t%s\n", a, h.Name)
		}
	}
	return b.String()
}

// pinPolicyHosts resolves the policy's net_allow_hosts for the container being created, once.
func (cr *creation) pinPolicyHosts() error {
	if len(cr.policy.NetAllowHosts) == 0 || cr.pinned != nil {
		return nil
	}
	hs, err := pinHosts(cr.policy.NetAllowHosts)
	if err != nil {
		return err
	}
	cr.pinned = hs
	return nil
}

// etcHostsMount shows the pinned names to a container with its own rootfs: a read-only bind
// of a file in the state dir over its /etc/hosts (over the engine's own, which comes earlier
// in the mounts). Where the root is the host's, the supervisor answers opens of /etc/hosts
// instead (notifsup.HostsFile): nothing may be mounted there.
func (cr *creation) etcHostsMount() error {
	if cr.pinned == nil || cr.cont.State.Rootfs == "/" {
		return nil
	}
	src := filepath.Join(cr.cont.dir, "hosts")
	if err := os.WriteFile(src, []byte(hostsFile(cr.pinned)), 0o444); err != nil {
		return err
	}
	cr.spec.Mounts = append(cr.spec.Mounts, specs.Mount{
		Destination: "/etc/hosts", Type: "bind", Source: src, Options: []string{"bind", "ro"},
	})
	return nil
}

// netHostsConfig sets the supervisor's part of net_allow_hosts.
func netHostsConfig(pol spec.Policy, pinned []pinnedHost) (restrict bool, addrs []string, file string) {
	if len(pol.NetAllowHosts) == 0 {
		return false, nil, ""
	}
	return true, allowedAddrs(pinned), hostsFile(pinned)
}
