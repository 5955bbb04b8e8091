package spec

// Policy is the sandlock policy: the seed SDK's Policy fields (../shared/seed), one Go type
// for every front door (OCI annotations io.sandlock.<field>, TOML profiles, `sandbox` flags, the
// Go API). Field names in JSON and TOML are exactly the seed's. Optional fields are pointers or
// nil slices: nil means "not set" (no restriction, or the default), which is different from an
// empty list for fields such as GPUDevices where [] means "all".
type Policy struct {
	// Filesystem (Landlock)
	FSReadable []string `json:"fs_readable,omitempty" toml:"fs_readable,omitempty"`
	FSWritable []string `json:"fs_writable,omitempty" toml:"fs_writable,omitempty"`
	FSDenied   []string `json:"fs_denied,omitempty" toml:"fs_denied,omitempty"`
	Workdir    *string  `json:"workdir,omitempty" toml:"workdir,omitempty"`
	Chroot     *string  `json:"chroot,omitempty" toml:"chroot,omitempty"`

	// Network
	NetAllowHosts []string `json:"net_allow_hosts,omitempty" toml:"net_allow_hosts,omitempty"`
	NetBind       []Port   `json:"net_bind,omitempty" toml:"net_bind,omitempty"`
	NetConnect    []Port   `json:"net_connect,omitempty" toml:"net_connect,omitempty"`
	PortRemap     *bool    `json:"port_remap,omitempty" toml:"port_remap,omitempty"`
	NoRawSockets  *bool    `json:"no_raw_sockets,omitempty" toml:"no_raw_sockets,omitempty"` // default true
	NoUDP         *bool    `json:"no_udp,omitempty" toml:"no_udp,omitempty"`
	// NoNetwork is sandlock-runtime's one addition to the seed's fields: no network at all
	// (socket() limited to AF_UNIX, TCP bind/connect denied), what a network namespace without a
	// path stands for. The seed has no way to say it: its empty net_* lists mean unrestricted.
	NoNetwork *bool `json:"no_network,omitempty" toml:"no_network,omitempty"`

	// IPC and process isolation
	IsolateIPC     *bool `json:"isolate_ipc,omitempty" toml:"isolate_ipc,omitempty"`
	IsolateSignals *bool `json:"isolate_signals,omitempty" toml:"isolate_signals,omitempty"`
	IsolatePIDs    *bool `json:"isolate_pids,omitempty" toml:"isolate_pids,omitempty"`

	// Resource limits
	MaxMemory    *Size `json:"max_memory,omitempty" toml:"max_memory,omitempty"`
	MaxProcesses *int  `json:"max_processes,omitempty" toml:"max_processes,omitempty"` // default 64
	MaxOpenFiles *int  `json:"max_open_files,omitempty" toml:"max_open_files,omitempty"`
	MaxCPU       *int  `json:"max_cpu,omitempty" toml:"max_cpu,omitempty"` // percent of one core, 1-100
	CPUCores     []int `json:"cpu_cores,omitempty" toml:"cpu_cores,omitempty"`
	NumCPUs      *int  `json:"num_cpus,omitempty" toml:"num_cpus,omitempty"`

	// Syscall filtering (seccomp): set one or neither
	DenySyscalls  []string `json:"deny_syscalls,omitempty" toml:"deny_syscalls,omitempty"`
	AllowSyscalls []string `json:"allow_syscalls,omitempty" toml:"allow_syscalls,omitempty"`

	// Deterministic execution
	RandomSeed        *int64  `json:"random_seed,omitempty" toml:"random_seed,omitempty"`
	TimeStart         *string `json:"time_start,omitempty" toml:"time_start,omitempty"` // RFC3339 or unix seconds
	NoRandomizeMemory *bool   `json:"no_randomize_memory,omitempty" toml:"no_randomize_memory,omitempty"`
	NoHugePages       *bool   `json:"no_huge_pages,omitempty" toml:"no_huge_pages,omitempty"`
	DeterministicDirs *bool   `json:"deterministic_dirs,omitempty" toml:"deterministic_dirs,omitempty"`
	Hostname          *string `json:"hostname,omitempty" toml:"hostname,omitempty"`

	// Environment
	CleanEnv *bool             `json:"clean_env,omitempty" toml:"clean_env,omitempty"`
	Env      map[string]string `json:"env,omitempty" toml:"env,omitempty"`
	CloseFDs *bool             `json:"close_fds,omitempty" toml:"close_fds,omitempty"` // default true

	// GPU access: nil = none, [] = all. No omitempty for TOML, which would drop [] ("all"); the
	// TOML encoder skips nil slices by itself.
	GPUDevices []int `json:"gpu_devices" toml:"gpu_devices"`

	// Misc
	Privileged *bool `json:"privileged,omitempty" toml:"privileged,omitempty"`
	NoCoredump *bool `json:"no_coredump,omitempty" toml:"no_coredump,omitempty"`

	// COW filesystem isolation: the layer of Workdir (docs/policy.md, "workdir")
	FSIsolation *string `json:"fs_isolation,omitempty" toml:"fs_isolation,omitempty"` // NONE, BRANCHFS, OVERLAYFS
	FSStorage   *string `json:"fs_storage,omitempty" toml:"fs_storage,omitempty"`
	MaxDisk     *Size   `json:"max_disk,omitempty" toml:"max_disk,omitempty"`
	OnExit      *string `json:"on_exit,omitempty" toml:"on_exit,omitempty"`   // COMMIT, ABORT, KEEP
	OnError     *string `json:"on_error,omitempty" toml:"on_error,omitempty"` // COMMIT, ABORT, KEEP
}

// Port is a TCP port or an inclusive range ("8000-8080"), as the seed accepts int | str.
type Port struct{ Lo, Hi uint16 }

// Size is a byte count, written as an int or a string such as "512M" or "1G".
type Size int64
