package spec

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"
)

// mountFlag is one mount option: the MS_* bit it sets, or clears when clear is true.
type mountFlag struct {
	clear bool
	flag  uintptr
}

// mountFlags are the options MountFlags turns into mount(2) flags, as runc parses them.
// Features advertises exactly these keys, so the two cannot drift apart.
var mountFlags = map[string]mountFlag{
	"defaults":      {false, 0},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"bind":          {false, unix.MS_BIND},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"nosuid":        {false, unix.MS_NOSUID},
	"suid":          {true, unix.MS_NOSUID},
	"nodev":         {false, unix.MS_NODEV},
	"dev":           {true, unix.MS_NODEV},
	"noexec":        {false, unix.MS_NOEXEC},
	"exec":          {true, unix.MS_NOEXEC},
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"noatime":       {false, unix.MS_NOATIME},
	"atime":         {true, unix.MS_NOATIME},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"diratime":      {true, unix.MS_NODIRATIME},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"iversion":      {false, unix.MS_I_VERSION},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
	"sync":          {false, unix.MS_SYNCHRONOUS},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"mand":          {false, unix.MS_MANDLOCK},
	"nomand":        {true, unix.MS_MANDLOCK},
	"silent":        {false, unix.MS_SILENT},
	"loud":          {true, unix.MS_SILENT},
}

// propagationFlags are applied by a separate mount(2) call after the mount itself, so they are
// returned apart from the other flags.
var propagationFlags = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// unsupportedMountOptions are options runc understands and implements itself (copy-up,
// id-mapped mounts, recursive mount_setattr). Passed through as data they would reach the
// filesystem as nonsense or, worse, be ignored, so they are refused.
var unsupportedMountOptions = []string{
	"tmpcopyup", "idmap", "ridmap",
	"rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
	"rnodiratime", "rdiratime", "rrelatime", "rnorelatime", "rnoatime", "ratime",
	"rstrictatime", "rnostrictatime", "rnosymfollow", "rsymfollow",
}

// MountFlags parses OCI mount options into mount(2) flags, a propagation type (0 for none; the
// last one given wins, as when runc applies them in order) and the filesystem data: options it
// does not know, such as "mode=755" or "size=64k", are joined with commas, as runc does.
func MountFlags(options []string) (flags, propagation uintptr, data string, err error) {
	var extra []string
	for _, o := range options {
		if f, ok := mountFlags[o]; ok {
			flags = applyMountFlag(flags, f)
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			propagation = p
			continue
		}
		if slices.Contains(unsupportedMountOptions, o) {
			return 0, 0, "", fmt.Errorf("mount option %q: not supported by sandlock-runtime", o)
		}
		extra = append(extra, o)
	}
	return flags, propagation, strings.Join(extra, ","), nil
}

func applyMountFlag(flags uintptr, f mountFlag) uintptr {
	if f.clear {
		return flags &^ f.flag
	}
	return flags | f.flag
}

// seccompActions excludes SCMP_ACT_NOTIFY: it needs a listenerPath, which is refused.
var seccompActions = []string{
	string(specs.ActKill), string(specs.ActKillProcess), string(specs.ActKillThread),
	string(specs.ActTrap), string(specs.ActErrno), string(specs.ActTrace),
	string(specs.ActAllow), string(specs.ActLog),
}

var seccompOperators = []string{
	string(specs.OpNotEqual), string(specs.OpLessThan), string(specs.OpLessEqual),
	string(specs.OpEqualTo), string(specs.OpGreaterEqual), string(specs.OpGreaterThan),
	string(specs.OpMaskedEqual),
}

// seccompKnownFlags are the flags a config may name. TSYNC is known but not "supported" in
// the features sense, as in runc: the filter is always installed on the one thread that execs.
var seccompKnownFlags = []string{
	"SECCOMP_FILTER_FLAG_TSYNC",
	string(specs.LinuxSeccompFlagLog),
	string(specs.LinuxSeccompFlagSpecAllow),
	string(specs.LinuxSeccompFlagWaitKillableRecv),
}

var seccompSupportedFlags = []string{
	string(specs.LinuxSeccompFlagLog),
	string(specs.LinuxSeccompFlagSpecAllow),
	string(specs.LinuxSeccompFlagWaitKillableRecv),
}

// Features returns the OCI features document. It lists only what works: containerd and
// podman turn features on from it (user namespaces, idmap mounts), so advertising something
// unsupported would make them send configs that Translate then refuses.
func Features() *features.Features {
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks: []string{
			"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
		},
		MountOptions: mountOptionNames(),
		Linux:        featuresLinux(),
		Annotations:  map[string]string{"io.sandlock.runtime.landlock": "true"},
	}
}

func featuresLinux() *features.Linux {
	return &features.Linux{
		Namespaces:   []string{"pid", "network", "ipc", "uts", "mount", "cgroup"},
		Capabilities: CapNames(),
		// v1: the controllers of a hybrid host; systemd: the --systemd-cgroup driver (a scope
		// in its slice, lifecycle/systemd.go); not systemd's user instance (rootless).
		Cgroup: &features.Cgroup{
			V1: boolp(true), V2: boolp(true), Systemd: boolp(true), SystemdUser: boolp(false),
		},
		Seccomp: &features.Seccomp{
			Enabled:        boolp(true),
			Actions:        slices.Clone(seccompActions),
			Operators:      slices.Clone(seccompOperators),
			Archs:          []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"},
			KnownFlags:     slices.Clone(seccompKnownFlags),
			SupportedFlags: slices.Clone(seccompSupportedFlags),
		},
		Apparmor:        &features.Apparmor{Enabled: boolp(false)},
		Selinux:         &features.Selinux{Enabled: boolp(false)},
		IntelRdt:        &features.IntelRdt{Enabled: boolp(false)},
		MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: boolp(false)}},
		NetDevices:      &features.NetDevices{Enabled: boolp(false)},
	}
}

// mountOptionNames lists the parsed options sorted, so the document is stable across runs.
func mountOptionNames() []string {
	names := make([]string, 0, len(mountFlags)+len(propagationFlags))
	for n := range mountFlags {
		names = append(names, n)
	}
	for n := range propagationFlags {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func boolp(b bool) *bool { return &b }
