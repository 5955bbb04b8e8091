package integration

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// linux.resources.devices on this hybrid host: the v1 devices controller's allow/deny list,
// with runc's default allow rules after the config's. Observed through a host device node bound
// into the container (/dev/loop-control: opening it does nothing, only its ioctls act), which
// the container's own /dev does not have: a "deny all" list refuses to open it, one that allows
// c 10:237 lets it, and /dev/null (a default) stays usable under "deny all".
func TestResourcesDevices(t *testing.T) {
	if v1Mount(t, "devices") == "" {
		t.Skip("this host has no v1 devices controller (cgroup2 would need a BPF program: refused, see TestResourcesDevicesUnenforced)")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("no /dev/loop-control on this host (the loop module)")
	}
	bindLoop := func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/loop-control", Source: "/dev/loop-control", Type: "bind", Options: []string{"bind", "ro"}})
	}
	denyAll := specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}
	ten, loop := int64(10), int64(237)
	script := "echo x > /dev/null && dd if=/dev/loop-control of=/dev/null count=0"
	for _, c := range []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		ok    bool
	}{
		{"deny all", []specs.LinuxDeviceCgroup{denyAll}, false},
		{"deny all, allow c 10:237 r", []specs.LinuxDeviceCgroup{denyAll, {Allow: true, Type: "c", Major: &ten, Minor: &loop, Access: "r"}}, true},
		{"deny c 10:237 only", []specs.LinuxDeviceCgroup{{Allow: false, Type: "c", Major: &ten, Minor: &loop, Access: "rwm"}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runContainer(t, func(s *specs.Spec) {
				bindLoop(s)
				s.Linux.Resources = &specs.LinuxResources{Devices: c.rules}
			}, "sh", "-c", script)
			if c.ok && r.code != 0 {
				t.Errorf("open of an allowed device: exit %d; stderr %q", r.code, r.stderr)
			}
			if !c.ok && (r.code == 0 || !strings.Contains(r.stdout+r.stderr, "not permitted")) {
				t.Errorf("open of a denied device: exit %d, output %q %q; want EPERM from the devices cgroup", r.code, r.stdout, r.stderr)
			}
		})
	}
	// The control case: without a device list (the template's config, from `spec`, denies all
	// as runc's does) the bound node opens (so the refusals above are
	// the devices cgroup's, not Landlock's or the mount's).
	noList := func(s *specs.Spec) { bindLoop(s); s.Linux.Resources = nil }
	if r := runContainer(t, noList, "sh", "-c", script); r.code != 0 {
		t.Errorf("no device list: exit %d; stderr %q", r.code, r.stderr)
	}
}
