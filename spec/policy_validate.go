package spec

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
)

// PolicyError is one refusal: the key as the front door spells it (max_cpu, or
// io.sandlock.max_cpu for an annotation), the value as written, and what is wrong with it,
// ending with what is accepted.
type PolicyError struct {
	Key    string
	Value  string
	Reason string
}

func (e *PolicyError) Error() string {
	if e.Value == "" {
		return e.Key + ": " + e.Reason
	}
	return e.Key + ": " + e.Value + ": " + e.Reason
}

// Validate checks every field p sets and returns all refusals joined (each a *PolicyError,
// reachable with errors.As), or nil. Unset fields are always valid: their defaults are.
func (p Policy) Validate() error {
	probs := p.problems()
	errs := make([]error, len(probs))
	for i, e := range probs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

func (p Policy) problems() []*PolicyError {
	var errs []*PolicyError
	add := func(key, value, reason string) {
		errs = append(errs, &PolicyError{Key: key, Value: value, Reason: reason})
	}
	// Filesystem.
	for _, l := range []struct {
		key   string
		paths []string
	}{{"fs_readable", p.FSReadable}, {"fs_writable", p.FSWritable}, {"fs_denied", p.FSDenied}} {
		for _, path := range l.paths {
			if reason := checkAbsPath(path); reason != "" {
				add(l.key, fmt.Sprintf("%q", path), reason)
			}
		}
	}
	for _, f := range []struct {
		key  string
		path *string
	}{{"workdir", p.Workdir}, {"chroot", p.Chroot}, {"fs_storage", p.FSStorage}} {
		if f.path != nil {
			if reason := checkAbsPath(*f.path); reason != "" {
				add(f.key, fmt.Sprintf("%q", *f.path), reason)
			}
		}
	}
	// Network.
	for _, h := range p.NetAllowHosts {
		if h == "" || strings.IndexFunc(h, unicode.IsSpace) >= 0 {
			add("net_allow_hosts", fmt.Sprintf("%q", h), `not a host name; accepted: domain names or addresses without spaces, e.g. "example.com"`)
		}
	}
	for _, l := range []struct {
		key   string
		ports []Port
	}{{"net_bind", p.NetBind}, {"net_connect", p.NetConnect}} {
		for _, port := range l.ports {
			if port.check() != nil {
				add(l.key, port.String(), portAccepted)
			}
		}
	}
	// Resource limits.
	for _, s := range []struct {
		key  string
		size *Size
	}{{"max_memory", p.MaxMemory}, {"max_disk", p.MaxDisk}} {
		if s.size != nil && *s.size <= 0 {
			add(s.key, s.size.String(), "must be at least 1 byte; "+sizeAccepted)
		}
	}
	if p.MaxProcesses != nil && *p.MaxProcesses < 0 {
		add("max_processes", fmt.Sprint(*p.MaxProcesses), "negative; accepted: an integer >= 0 (the number of forks allowed over the sandbox's lifetime, default 64)")
	}
	if p.MaxOpenFiles != nil && *p.MaxOpenFiles < 1 {
		add("max_open_files", fmt.Sprint(*p.MaxOpenFiles), "accepted: an integer >= 1 (RLIMIT_NOFILE)")
	}
	if p.MaxCPU != nil && (*p.MaxCPU < 1 || *p.MaxCPU > 100) {
		add("max_cpu", fmt.Sprint(*p.MaxCPU), "out of range; accepted: an integer percentage of one core, 1-100")
	}
	for _, c := range p.CPUCores {
		if c < 0 {
			add("cpu_cores", fmt.Sprint(c), "negative; accepted: CPU numbers >= 0")
		}
	}
	if p.NumCPUs != nil && *p.NumCPUs < 1 {
		add("num_cpus", fmt.Sprint(*p.NumCPUs), "accepted: an integer >= 1")
	}
	// Syscall filtering.
	if len(p.AllowSyscalls) > 0 && len(p.DenySyscalls) > 0 {
		add("allow_syscalls", "", "set together with deny_syscalls; accepted: one of allow_syscalls (allowlist) and deny_syscalls (blocklist), or neither (an empty list counts as unset)")
	}
	for _, l := range []struct {
		key   string
		names []string
	}{{"deny_syscalls", p.DenySyscalls}, {"allow_syscalls", p.AllowSyscalls}} {
		for _, name := range l.names {
			if _, ok := syscallNumbers[name]; !ok {
				add(l.key, fmt.Sprintf("%q", name), "unknown syscall; accepted: x86_64 syscall names such as \"ptrace\""+suggest(name, syscallNames()))
			}
		}
	}
	// Deterministic execution.
	if p.TimeStart != nil {
		if _, err := ParseTimeStart(*p.TimeStart); err != nil {
			add("time_start", fmt.Sprintf("%q", *p.TimeStart), `not a time; accepted: RFC 3339 ("2024-01-01T00:00:00Z") or unix seconds ("1704067200", "1704067200.5")`)
		}
	}
	if p.Hostname != nil && (len(*p.Hostname) > 64 || strings.ContainsRune(*p.Hostname, 0)) {
		add("hostname", fmt.Sprintf("%q", *p.Hostname), "accepted: at most 64 bytes, no NUL (what uname() can report)")
	}
	// Environment.
	for _, k := range slices.Sorted(maps.Keys(p.Env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(p.Env[k], 0) {
			add("env", fmt.Sprintf("%q=%q", k, p.Env[k]), "accepted: a non-empty name without '=' or NUL, a value without NUL")
		}
	}
	// GPU.
	for _, g := range p.GPUDevices {
		if g < 0 {
			add("gpu_devices", fmt.Sprint(g), "negative; accepted: GPU indices >= 0, or [] for all")
		}
	}
	// COW filesystem isolation.
	checkEnum := func(key string, v *string, accepted ...string) {
		if v != nil && !slices.Contains(accepted, strings.ToUpper(*v)) {
			add(key, fmt.Sprintf("%q", *v), "accepted: "+strings.Join(accepted, ", ")+" (either case)")
		}
	}
	checkEnum("fs_isolation", p.FSIsolation, FSIsolationNone, FSIsolationBranchFS, FSIsolationOverlayFS)
	checkEnum("on_exit", p.OnExit, BranchCommit, BranchAbort, BranchKeep)
	checkEnum("on_error", p.OnError, BranchCommit, BranchAbort, BranchKeep)
	return errs
}

// checkAbsPath returns why path is not an absolute path, or "".
func checkAbsPath(path string) string {
	if !filepath.IsAbs(path) || strings.ContainsRune(path, 0) {
		return `not an absolute path; accepted: absolute paths such as "/usr"`
	}
	return ""
}

// syscallNames returns the names of syscallNumbers, sorted.
func syscallNames() []string {
	return slices.Sorted(maps.Keys(syscallNumbers))
}

// IsSyscallName reports whether name is an x86_64 syscall name deny_syscalls and
// allow_syscalls accept.
func IsSyscallName(name string) bool {
	_, ok := syscallNumbers[name]
	return ok
}
