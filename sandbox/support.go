package sandbox

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/lifecycle"
	"github.com/sandlock/sandlock-runtime/spec"
)

// Host describes what this host offers the sandbox (the `check` command prints it).
type Host struct {
	LandlockABI int    // -1: unavailable
	Seccomp     bool   // seccomp filters
	UserNotif   bool   // seccomp user notification (the supervisor)
	Cgroup2     string // the cgroup2 mount, "" if none
	CgroupWrite bool   // writable by us: tracking, pause, kill by cgroup
	Root        bool   // euid 0
	SeccompActs string // /proc/sys/kernel/seccomp/actions_avail
	Overlay     bool   // overlayfs (the copy-on-write workdir)
	UserNS      bool   // unprivileged user namespaces (the COW workdir without root)

	Compat confine.CompatABIs // the i386 and x32 entry points (the filter covers both anyway)
}

// Probe inspects the running kernel and our privileges.
func Probe() Host {
	h := Host{LandlockABI: LandlockABIVersion(), Root: os.Geteuid() == 0}
	if b, err := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail"); err == nil {
		h.SeccompActs = strings.TrimSpace(string(b))
		h.Seccomp = true
		h.UserNotif = strings.Contains(" "+h.SeccompActs+" ", " user_notif ")
	}
	h.Cgroup2 = lifecycle.Cgroup2Mount()
	h.CgroupWrite = h.Cgroup2 != "" && unix.Access(h.Cgroup2, unix.W_OK) == nil
	h.Compat = confine.ProbeCompatABIs()
	h.Overlay = hasOverlay()
	h.UserNS = unprivilegedUserNS()
	return h
}

// hasOverlay: overlayfs is registered, or a module the first mount loads.
func hasOverlay() bool {
	if b, err := os.ReadFile("/proc/filesystems"); err == nil && strings.Contains(string(b), "\toverlay\n") {
		return true
	}
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	rel := unix.ByteSliceToString(u.Release[:])
	b, err := os.ReadFile("/lib/modules/" + rel + "/modules.dep")
	return err == nil && strings.Contains(string(b), "/overlay.ko")
}

// unprivilegedUserNS: a user may create user namespaces (Debian's and Ubuntu's switches).
func unprivilegedUserNS() bool {
	for _, c := range []struct{ path, off string }{
		{"/proc/sys/user/max_user_namespaces", "0"},
		{"/proc/sys/kernel/unprivileged_userns_clone", "0"},
		{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1"},
	} {
		if b, err := os.ReadFile(c.path); err == nil && strings.TrimSpace(string(b)) == c.off {
			return false
		}
	}
	return true
}

// Support is whether this host can enforce one policy field in the direct mode.
type Support struct {
	Key       string // the policy key, e.g. fs_readable
	Mechanism string // what enforces it
	Status    string // "yes", "needs root", "needs Landlock ABI N", "not yet implemented", ...
}

// field is the static part of the table: how each field is enforced, and what it needs.
type field struct {
	mechanism string
	minABI    int  // Landlock ABI it needs (0: none beyond the minimum)
	root      bool // only root can have it
	notYet    bool // parsed and validated, not enforced yet (docs/policy.md)
	cow       bool // the copy-on-write workdir: overlayfs, and user namespaces without root
	note      string
	userNote  string // the status instead of "yes" for an unprivileged caller
	// controller is the cgroup controller that enforces the field: its status names what
	// enforces it on this host (v1 or cgroup2), or that nothing can.
	controller string
}

// fields says, for every key of spec.Policy, what enforces it in this release. Keep it in step
// with docs/policy.md's "now" column; TestFieldsCoverPolicy checks every key is here.
var fields = map[string]field{
	"fs_readable":         {mechanism: "Landlock; supervisor for readlink/xattr reads"},
	"fs_writable":         {mechanism: "Landlock; supervisor for chmod/chown/utimes/xattrs, unix connect by path"},
	"fs_denied":           {mechanism: "Landlock; supervisor for metadata and in the directories holding a denied path"},
	"workdir":             {mechanism: "COW layer: overlayfs in a detached copy of the mount tree as root (no mount namespace)", cow: true},
	"chroot":              {mechanism: "chroot (the sandbox's root.path)", root: true},
	"net_allow_hosts":     {mechanism: "supervisor (connect/sendto/sendmsg on behalf, names pinned at create; /etc/hosts)"},
	"net_bind":            {mechanism: "Landlock TCP", minABI: 4},
	"net_connect":         {mechanism: "Landlock TCP", minABI: 4},
	"port_remap":          {mechanism: "supervisor (TCP bind, getsockname/getpeername, loopback connect on behalf; /proc/net/tcp{,6})"},
	"no_raw_sockets":      {mechanism: "seccomp"},
	"no_udp":              {mechanism: "seccomp"},
	"no_network":          {mechanism: "seccomp + Landlock TCP", minABI: 4},
	"isolate_ipc":         {mechanism: "Landlock scope + seccomp", minABI: 6},
	"isolate_signals":     {mechanism: "Landlock scope", minABI: 6},
	"isolate_pids":        {mechanism: "seccomp + supervisor (pid-targeting syscalls); /proc hidepid=ptraceable in containers, /proc opened and listed by the supervisor in the direct mode"},
	"max_memory":          {mechanism: "cgroup memory controller; supervisor (/proc/meminfo)", root: true, controller: "memory"},
	"max_processes":       {mechanism: "cgroup pids controller (processes alive at once)", root: true, controller: "pids"},
	"max_open_files":      {mechanism: "RLIMIT_NOFILE"},
	"max_cpu":             {mechanism: "cgroup cpu controller (CFS quota)", root: true, controller: "cpu"},
	"cpu_cores":           {mechanism: "sched_setaffinity + seccomp"},
	"num_cpus":            {mechanism: "supervisor (/proc/cpuinfo, /proc/stat, /sys CPU lists, sched_getaffinity)"},
	"deny_syscalls":       {mechanism: "seccomp"},
	"allow_syscalls":      {mechanism: "seccomp"},
	"random_seed":         {mechanism: "supervisor (getrandom)", notYet: true},
	"time_start":          {mechanism: "supervisor (clock)", notYet: true},
	"no_randomize_memory": {mechanism: "personality"},
	"no_huge_pages":       {mechanism: "prctl(PR_SET_THP_DISABLE)"},
	"deterministic_dirs":  {mechanism: "supervisor (getdents)", notYet: true},
	"hostname":            {mechanism: "supervisor (uname; /etc/hostname in the direct mode)"},
	"clean_env":           {mechanism: "process setup"},
	"env":                 {mechanism: "process setup"},
	"close_fds":           {mechanism: "process setup", note: "yes (true only: false is refused; fds above 2 never reach the sandbox)"},
	"gpu_devices":         {mechanism: "Landlock (device nodes)"},
	"privileged":          {mechanism: "user namespace (uid 0 inside = the caller)"},
	"no_coredump":         {mechanism: "RLIMIT_CORE"},
	"fs_isolation":        {mechanism: "COW layer (NONE, BRANCHFS, OVERLAYFS: all the overlay layer)", cow: true},
	"fs_storage":          {mechanism: "COW layer (where layers live)", cow: true},
	"max_disk":            {mechanism: "COW layer on a tmpfs of that size (ENOSPC)", cow: true, userNote: "yes in the direct mode (sandbox, the Go API); a user's container needs root"},
	"on_exit":             {mechanism: "COW layer (journaled commit, abort, keep)", cow: true},
	"on_error":            {mechanism: "COW layer (journaled commit, abort, keep)", cow: true},
}

// FieldSupport lists every policy key, in spec.PolicyKeys order, with whether h enforces it.
func FieldSupport(h Host) []Support {
	var out []Support
	for _, k := range spec.PolicyKeys() {
		f := fields[k]
		f.notYet = !spec.IsEnforced(k) // one source of truth: package spec
		out = append(out, Support{Key: k, Mechanism: f.mechanism, Status: f.status(h)})
	}
	return out
}

func (f field) status(h Host) string {
	switch {
	case f.mechanism == "":
		return "unknown"
	case f.notYet && f.note != "":
		return f.note
	case f.notYet:
		return "not yet implemented"
	case h.LandlockABI < minLandlockABI:
		return "no (Landlock ABI " + strconv.Itoa(minLandlockABI) + " needed)"
	case f.minABI > h.LandlockABI:
		return "needs Landlock ABI " + strconv.Itoa(f.minABI)
	case f.root && !h.Root:
		return "needs root"
	case f.controller != "":
		how, ok := lifecycle.ControllerSupport(f.controller)
		if ok {
			return "yes: " + how
		}
		return "no: " + how
	case f.cow && !h.Overlay:
		return "no (overlayfs missing)"
	case f.cow && !h.Root && !h.UserNS:
		return "needs root (unprivileged user namespaces are off here)"
	case f.note != "":
		return f.note
	case f.userNote != "" && !h.Root:
		return f.userNote
	}
	return "yes"
}

// NotEnforced lists the keys p sets that this release parses and validates but does not
// enforce yet, in spec.PolicyKeys order (the sandbox command warns about them).
func NotEnforced(p spec.Policy) []string { return p.NotEnforced() }
