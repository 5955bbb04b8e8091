package spec

import (
	"strconv"
	"strings"
	"time"
)

// DefaultMaxProcesses is max_processes when no source sets it, as in the seed.
const DefaultMaxProcesses = 64

// fs_isolation values.
const (
	FSIsolationNone      = "NONE"
	FSIsolationBranchFS  = "BRANCHFS"
	FSIsolationOverlayFS = "OVERLAYFS"
)

// on_exit and on_error values (the seed's BranchAction).
const (
	BranchCommit = "COMMIT"
	BranchAbort  = "ABORT"
	BranchKeep   = "KEEP"
)

// DefaultPolicy returns the seed's defaults with every defaulted scalar set explicitly (booleans
// included, false ones too), so that it shows what an empty policy means: raw sockets denied,
// inherited fds closed, 64 processes, no COW isolation (commit on exit, abort on error). Lists,
// maps and the optional limits stay nil: "no restriction". The accessors below return the same
// values for a Policy that leaves these fields nil; DefaultPolicy().Merge(p) makes them visible.
func DefaultPolicy() Policy {
	f, t := false, true
	return Policy{
		PortRemap: ptr(f), NoRawSockets: ptr(t), NoUDP: ptr(f), NoNetwork: ptr(f),
		IsolateIPC: ptr(f), IsolateSignals: ptr(f), IsolatePIDs: ptr(f),
		MaxProcesses:      ptr(DefaultMaxProcesses),
		NoRandomizeMemory: ptr(f), NoHugePages: ptr(f), DeterministicDirs: ptr(f),
		CleanEnv: ptr(f), CloseFDs: ptr(t),
		Privileged: ptr(f), NoCoredump: ptr(f),
		FSIsolation: ptr(FSIsolationNone), OnExit: ptr(BranchCommit), OnError: ptr(BranchAbort),
	}
}

func ptr[T any](v T) *T { return &v }

// Ptr returns a pointer to v, for the optional scalars of a Policy written in Go:
// spec.Policy{Hostname: spec.Ptr("box"), NoUDP: spec.Ptr(true)}.
func Ptr[T any](v T) *T { return &v }

func or[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// WorkdirPath is workdir ("" = none).
func (p Policy) WorkdirPath() string { return or(p.Workdir, "") }

// ChrootPath is chroot ("" = none).
func (p Policy) ChrootPath() string { return or(p.Chroot, "") }

// PortRemapEnabled is port_remap (default false).
func (p Policy) PortRemapEnabled() bool { return or(p.PortRemap, false) }

// RawSocketsDenied is no_raw_sockets (default true).
func (p Policy) RawSocketsDenied() bool { return or(p.NoRawSockets, true) }

// UDPDenied is no_udp (default false).
func (p Policy) UDPDenied() bool { return or(p.NoUDP, false) }

// NetworkDenied is no_network (default false).
func (p Policy) NetworkDenied() bool { return or(p.NoNetwork, false) }

// IPCIsolated is isolate_ipc (default false).
func (p Policy) IPCIsolated() bool { return or(p.IsolateIPC, false) }

// SignalsIsolated is isolate_signals (default false).
func (p Policy) SignalsIsolated() bool { return or(p.IsolateSignals, false) }

// PIDsIsolated is isolate_pids (default false).
func (p Policy) PIDsIsolated() bool { return or(p.IsolatePIDs, false) }

// MemoryLimit is max_memory (0 = no limit).
func (p Policy) MemoryLimit() Size { return or(p.MaxMemory, 0) }

// ProcessLimit is max_processes (default 64).
func (p Policy) ProcessLimit() int { return or(p.MaxProcesses, DefaultMaxProcesses) }

// OpenFilesLimit is max_open_files (0 = not set: RLIMIT_NOFILE is left as inherited).
func (p Policy) OpenFilesLimit() int { return or(p.MaxOpenFiles, 0) }

// CPUPercent is max_cpu, percent of one core (0 = no throttling).
func (p Policy) CPUPercent() int { return or(p.MaxCPU, 0) }

// VisibleCPUs is num_cpus (0 = the host's count is shown).
func (p Policy) VisibleCPUs() int { return or(p.NumCPUs, 0) }

// Seed is random_seed; ok is false when getrandom() is not made deterministic.
func (p Policy) Seed() (seed int64, ok bool) {
	if p.RandomSeed == nil {
		return 0, false
	}
	return *p.RandomSeed, true
}

// StartTime is time_start; ok is false when time is not virtualized, or when time_start does
// not parse (Validate refuses that policy).
func (p Policy) StartTime() (t time.Time, ok bool) {
	if p.TimeStart == nil {
		return time.Time{}, false
	}
	t, err := ParseTimeStart(*p.TimeStart)
	return t, err == nil
}

// ParseTimeStart reads time_start: RFC 3339 ("2024-01-01T00:00:00Z", fractional seconds
// allowed) or unix seconds ("1704067200", "1704067200.5").
func ParseTimeStart(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	sec, frac, hasFrac := strings.Cut(s, ".")
	if !isDigits(sec) || (hasFrac && !isDigits(frac)) {
		return time.Time{}, strconv.ErrSyntax
	}
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var ns int64
	if hasFrac {
		frac = (frac + "000000000")[:9]
		ns, _ = strconv.ParseInt(frac, 10, 64)
	}
	return time.Unix(n, ns).UTC(), nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// ASLRDisabled is no_randomize_memory (default false).
func (p Policy) ASLRDisabled() bool { return or(p.NoRandomizeMemory, false) }

// HugePagesDisabled is no_huge_pages (default false).
func (p Policy) HugePagesDisabled() bool { return or(p.NoHugePages, false) }

// DirsSorted is deterministic_dirs (default false).
func (p Policy) DirsSorted() bool { return or(p.DeterministicDirs, false) }

// HostnameOverride is hostname ("" = uname() reports the host's).
func (p Policy) HostnameOverride() string { return or(p.Hostname, "") }

// EnvCleaned is clean_env (default false).
func (p Policy) EnvCleaned() bool { return or(p.CleanEnv, false) }

// FDsClosed is close_fds (default true).
func (p Policy) FDsClosed() bool { return or(p.CloseFDs, true) }

// AllGPUs reports gpu_devices = [] (every GPU); nil GPUDevices means none, a list those indices.
func (p Policy) AllGPUs() bool { return p.GPUDevices != nil && len(p.GPUDevices) == 0 }

// IsPrivileged is privileged (default false).
func (p Policy) IsPrivileged() bool { return or(p.Privileged, false) }

// CoredumpDisabled is no_coredump (default false).
func (p Policy) CoredumpDisabled() bool { return or(p.NoCoredump, false) }

// FSIsolationMode is fs_isolation in upper case (default NONE).
func (p Policy) FSIsolationMode() string { return strings.ToUpper(or(p.FSIsolation, FSIsolationNone)) }

// FSStoragePath is fs_storage ("" = the COW layer's own default).
func (p Policy) FSStoragePath() string { return or(p.FSStorage, "") }

// DiskLimit is max_disk (0 = no quota).
func (p Policy) DiskLimit() Size { return or(p.MaxDisk, 0) }

// ExitAction is on_exit in upper case (default COMMIT).
func (p Policy) ExitAction() string { return strings.ToUpper(or(p.OnExit, BranchCommit)) }

// ErrorAction is on_error in upper case (default ABORT).
func (p Policy) ErrorAction() string { return strings.ToUpper(or(p.OnError, BranchAbort)) }
