package lifecycle

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// linux.resources.devices, the device cgroup's allow/deny list, applied as runc applies it: the
// config's rules in order, then allow rules for the devices every container gets (runc's
// list: the default nodes, /dev/console, the pty devices, /dev/net/tun, mknod of any node) and
// for the nodes linux.devices creates, so a config that starts with "deny all" still lets the
// container use what it was given. On a v1 host that is the devices controller's
// devices.deny/devices.allow; cgroup2 has no such files (it needs a BPF program, which this
// runtime does not load), so there the list is checked instead: one that denies a device
// the container could open is refused at create. Either way the primary guard on devices is
// the container's /dev, a tmpfs holding only the nodes create makes, under Landlock rules.

// runcAllowedDevices are the rules runc appends after the config's (libcontainer/specconv's
// AllowedDevices), as rules: type, major, minor (-1 = any) and access.
var runcAllowedDevices = []specs.LinuxDeviceCgroup{
	devRule("c", -1, -1, "m"), devRule("b", -1, -1, "m"),
	devRule("c", 1, 3, "rwm"), devRule("c", 1, 8, "rwm"), devRule("c", 1, 7, "rwm"),
	devRule("c", 5, 0, "rwm"), devRule("c", 1, 5, "rwm"), devRule("c", 1, 9, "rwm"),
	devRule("c", 5, 1, "rwm"), devRule("c", 136, -1, "rwm"), devRule("c", 5, 2, "rwm"),
	devRule("c", 10, 200, "rwm"),
}

func devRule(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
	if major >= 0 {
		r.Major = &major
	}
	if minor >= 0 {
		r.Minor = &minor
	}
	return r
}

// deviceRules is the list create applies: the config's rules, then runc's defaults and an allow
// rule per linux.devices node. Nil when the config has no rules: nothing is joined then.
func deviceRules(s *specs.Spec) []specs.LinuxDeviceCgroup {
	if s.Linux == nil || s.Linux.Resources == nil || len(s.Linux.Resources.Devices) == 0 {
		return nil
	}
	rules := append([]specs.LinuxDeviceCgroup(nil), s.Linux.Resources.Devices...)
	rules = append(rules, runcAllowedDevices...)
	for _, d := range s.Linux.Devices {
		switch d.Type {
		case "c", "u": // u: an unbuffered character device, a c node to the kernel
			rules = append(rules, devRule("c", d.Major, d.Minor, "rwm"))
		case "b":
			rules = append(rules, devRule("b", d.Major, d.Minor, "rwm"))
		} // p (a FIFO) is no device to the devices controller
	}
	return rules
}

// deviceLine is a rule in the kernel's devices.allow/deny syntax: "c 1:3 rwm", "a" for all.
func deviceLine(r specs.LinuxDeviceCgroup) (string, error) {
	typ := r.Type
	switch typ {
	case "", "a":
		return "a", nil
	case "c", "b":
	default:
		return "", fmt.Errorf("%sdevices: type %q: accepted: a, c, b", resPrefix, r.Type)
	}
	access := r.Access
	if access == "" {
		access = "rwm"
	}
	if strings.Trim(access, "rwm") != "" {
		return "", fmt.Errorf("%sdevices: access %q: accepted: letters of rwm", resPrefix, r.Access)
	}
	num := func(p *int64) string {
		if p == nil || *p < 0 {
			return "*"
		}
		return i64(*p)
	}
	return fmt.Sprintf("%s %s:%s %s", typ, num(r.Major), num(r.Minor), access), nil
}

// v1Devices maps the rules onto the v1 devices controller, in order.
func v1Devices(rules []specs.LinuxDeviceCgroup) ([]cgWrite, error) {
	var w []cgWrite
	for _, r := range rules {
		line, err := deviceLine(r)
		if err != nil {
			return nil, err
		}
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		w = append(w, cgWrite{resPrefix + "devices", "devices", file, line})
	}
	return w, nil
}

// deviceAllowed evaluates the rules for one device and one access letter as the list means it:
// the last rule that matches decides, and a device no rule matches is allowed.
func deviceAllowed(rules []specs.LinuxDeviceCgroup, typ string, major, minor int64, access byte) bool {
	ok := true
	for _, r := range rules {
		a := r.Access
		if a == "" {
			a = "rwm"
		}
		if (r.Type != "" && r.Type != "a" && r.Type != typ) || !strings.Contains(a, string(access)) ||
			(r.Major != nil && *r.Major >= 0 && *r.Major != major) ||
			(r.Minor != nil && *r.Minor >= 0 && *r.Minor != minor) {
			continue
		}
		ok = r.Allow
	}
	return ok
}

// checkDevicesUnenforced is linux.resources.devices where no devices controller can apply it (a
// cgroup2 host, create without a writable cgroup): it is refused when it denies a device the
// container can open. The nodes create makes are allowed by
// construction (deviceRules); what else a container can reach is a device node bound in from
// the host, directly or inside a bound directory of the host's /dev.
func checkDevicesUnenforced(s *specs.Spec, rules []specs.LinuxDeviceCgroup) error {
	if len(rules) == 0 {
		return nil
	}
	for _, m := range s.Mounts {
		if m.Type != "bind" && !hasOpt(m.Options, "bind") && !hasOpt(m.Options, "rbind") {
			continue
		}
		write := !hasOpt(m.Options, "ro")
		err := eachDeviceNode(m.Source, func(path, typ string, major, minor int64) error {
			for _, a := range "rw" {
				if (a == 'w' && !write) || deviceAllowed(rules, typ, major, minor, byte(a)) {
					continue
				}
				return fmt.Errorf("%sdevices: denies %c access to %s (%s %d:%d), bound into the container at %s, and no devices cgroup controller can enforce the list here (cgroup2 needs a BPF program, which this runtime does not load); accepted without a v1 devices controller: a list that allows every device the container can open, or no bind of the device", resPrefix, a, path, typ, major, minor, m.Destination)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func hasOpt(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// eachDeviceNode calls f for src when it is a device node, and for the device nodes under src
// when it is a directory of the host's /dev.
func eachDeviceNode(src string, f func(path, typ string, major, minor int64) error) error {
	visit := func(p string) error {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil {
			return nil
		}
		typ := ""
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			typ = "c"
		case unix.S_IFBLK:
			typ = "b"
		default:
			return nil
		}
		return f(p, typ, int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev))))
	}
	fi, err := os.Stat(src)
	if err != nil || !fi.IsDir() {
		return visit(src)
	}
	clean := filepath.Clean(src)
	if clean != "/dev" && !strings.HasPrefix(clean, "/dev/") {
		return nil
	}
	return filepath.WalkDir(clean, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		return visit(p)
	})
}
