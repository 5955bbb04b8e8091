package integration

import (
	"os"
	"os/exec"
	"path/filepath"
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

// Where no devices controller can apply the list (here: an unprivileged create, which has no
// writable cgroup; on a cgroup2 host the same check runs), a list that denies a device the
// container could open is refused at create, naming the device; the same list without the bind
// passes the check (that create fails later, at the mounts an unprivileged user cannot make).
func TestResourcesDevicesUnenforced(t *testing.T) {
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("no /dev/loop-control on this host (the loop module)")
	}
	asNobody, home := nobodyRunner(t, "--clear-groups")
	for _, c := range []struct {
		name string
		bind bool
	}{{"bound device denied", true}, {"nothing reachable denied", false}} {
		t.Run(c.name, func(t *testing.T) {
			b, err := os.MkdirTemp(home, "bundle-")
			if err != nil {
				t.Fatal(err)
			}
			if err := copyTree(filepath.Join(templateDir, "rootfs"), filepath.Join(b, "rootfs")); err != nil {
				t.Fatal(err)
			}
			s, err := loadSpec(filepath.Join(templateDir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			s.Process.Terminal, s.Process.Args = false, []string{"true"}
			s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
			if c.bind {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/loop-control", Source: "/dev/loop-control", Type: "bind", Options: []string{"bind", "ro"}})
			}
			writeSpec(t, b, s)
			if err := exec.Command("chown", "-R", "65534:65534", b).Run(); err != nil {
				t.Fatal(err)
			}
			r := asNobody(t, []string{"--root", filepath.Join(home, "state"), "create", "--bundle", b, "dev-" + strings.ReplaceAll(c.name, " ", "-")})
			refused := strings.Contains(r.stderr, "linux.resources.devices") && strings.Contains(r.stderr, "/dev/loop-control")
			if c.bind && (r.code == 0 || !refused) {
				t.Errorf("exit %d, stderr %q; want a refusal naming linux.resources.devices and /dev/loop-control", r.code, r.stderr)
			}
			if !c.bind && strings.Contains(r.stderr, "linux.resources.devices") {
				t.Errorf("a list denying nothing the container can reach was refused: %q", r.stderr)
			}
		})
	}
}
