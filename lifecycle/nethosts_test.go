package lifecycle

import (
	"net/netip"
	"strings"
	"testing"
)

// TestPinHosts: an address is itself, localhost resolves through the host's /etc/hosts, a
// name that does not resolve is an error naming it.
func TestPinHosts(t *testing.T) {
	hs, err := pinHosts([]string{"127.0.0.2", "::ffff:10.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 3 || hs[0].Addrs[0] != netip.MustParseAddr("127.0.0.2") || hs[1].Addrs[0] != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("pinned %+v", hs)
	}
	lo := false
	for _, a := range hs[2].Addrs {
		lo = lo || a.IsLoopback()
	}
	if !lo {
		t.Errorf("localhost pinned to %v", hs[2].Addrs)
	}
	if got := allowedAddrs(hs); len(got) < 3 {
		t.Errorf("allowed %v", got)
	}
	if _, err := pinHosts([]string{"no-such-host.invalid"}); err == nil || !strings.Contains(err.Error(), `"no-such-host.invalid" does not resolve`) {
		t.Errorf("unresolvable: %v", err)
	}
}

// TestHostsFile: each name with its pinned addresses; localhost as usual unless named; an
// address entry is no name.
func TestHostsFile(t *testing.T) {
	f := hostsFile([]pinnedHost{{Name: "example.com", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}},
		{Name: "10.0.0.1", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}})
	for _, want := range []string{"192.0.2.1\texample.com\n", "2001:db8::1\texample.com\n", "127.0.0.1\tlocalhost\n"} {
		if !strings.Contains(f, want) {
			t.Errorf("hosts file lacks %q:\n%s", want, f)
		}
	}
	if strings.Contains(f, "10.0.0.1") {
		t.Errorf("an address entry became a name:\n%s", f)
	}
	f = hostsFile([]pinnedHost{{Name: "localhost", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}})
	if strings.Count(f, "localhost") != 1 {
		t.Errorf("localhost named: listed once with its pinned address:\n%s", f)
	}
}
