package spec

import (
	"maps"
	"os"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Example annotations: keys of the sandlock policy vocabulary (docs/policy.md), shown so that
// a user editing the starter config sees how policy is attached to a container. Both are
// enforced (a key this release does not enforce would make every create warn).
var exampleAnnotations = map[string]string{
	"io.sandlock.no_raw_sockets": "true",
	"io.sandlock.no_udp":         "false",
}

// defaultCaps is runc's default capability set: enough for a shell and the usual daemons.
var defaultCaps = []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}

// Example returns the starter config.json written by `sandlock-runtime spec`, modelled on
// `runc spec` so that the usual busybox workflow works unchanged. With rootless it is adapted
// as `runc spec --rootless` does, minus the user namespace, which sandlock-runtime refuses:
// the process runs as the caller, devpts gets no gid= option and /sys is not mounted.
func Example(rootless bool) *specs.Spec {
	s := &specs.Spec{
		Version:     specs.Version,
		Process:     exampleProcess(),
		Root:        &specs.Root{Path: "rootfs", Readonly: true},
		Hostname:    "sandlock",
		Mounts:      exampleMounts(),
		Linux:       exampleLinux(),
		Annotations: maps.Clone(exampleAnnotations),
	}
	if rootless {
		toRootless(s)
	}
	return s
}

func exampleProcess() *specs.Process {
	return &specs.Process{
		Terminal: true,
		User:     specs.User{UID: 0, GID: 0},
		Args:     []string{"sh"},
		Env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm",
		},
		Cwd: "/",
		Capabilities: &specs.LinuxCapabilities{
			Bounding:  slices.Clone(defaultCaps),
			Effective: slices.Clone(defaultCaps),
			Permitted: slices.Clone(defaultCaps),
			Ambient:   slices.Clone(defaultCaps),
		},
		Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
		NoNewPrivileges: true,
	}
}

func exampleMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
			Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
			Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
			Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs",
			Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
}

func exampleLinux() *specs.Linux {
	return &specs.Linux{
		Resources: &specs.LinuxResources{
			Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		},
		Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
			{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
		},
		MaskedPaths: []string{
			"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
			"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
			"/proc/scsi",
		},
		ReadonlyPaths: []string{
			"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
		},
	}
}

// toRootless adapts the example for an unprivileged caller. Without a user namespace the
// process cannot become uid 0, so it runs as the caller; gid=5 on devpts would need CAP_SETGID
// over group 5; sysfs cannot be mounted unprivileged; and there is no cgroup to put device
// rules in. /sys/firmware is unmasked with /sys gone. The namespaces stay: their stand-ins
// (Landlock, seccomp) need no privilege.
func toRootless(s *specs.Spec) {
	s.Process.User = specs.User{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	var mounts []specs.Mount
	for _, m := range s.Mounts {
		if m.Destination == "/sys" {
			continue
		}
		m.Options = withoutIDOptions(m.Options)
		mounts = append(mounts, m)
	}
	s.Mounts = mounts
	s.Linux.Resources = nil
	s.Linux.MaskedPaths = slices.DeleteFunc(s.Linux.MaskedPaths, func(p string) bool { return p == "/sys/firmware" })
}

// withoutIDOptions drops uid= and gid= options, as runc spec --rootless does.
func withoutIDOptions(opts []string) []string {
	return slices.DeleteFunc(slices.Clone(opts), func(o string) bool {
		return strings.HasPrefix(o, "uid=") || strings.HasPrefix(o, "gid=")
	})
}
