package confine

import (
	"fmt"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/spec"
)

// ProcessSettings are the per-process attributes a policy sets before confinement. Apply sets
// them on init's locked thread; fork copies them to the zygote and everything it forks, and
// execve keeps them (affinity, personality without setuid, the THP flag, rlimits).
type ProcessSettings struct {
	CPUs []int // cpu_cores: sched_setaffinity; seccomp then refuses sched_setaffinity
	// Visible (num_cpus), without CPUs: the process is pinned to the first Visible CPUs it
	// may run on when it may run on more, so that it runs on as many as it is shown (the
	// supervisor shows the count: notifsup.ProcView). With cpu_cores, cpu_cores decides.
	Visible int      `json:",omitempty"`
	NoASLR  bool     // no_randomize_memory: personality(ADDR_NO_RANDOMIZE)
	NoTHP   bool     // no_huge_pages: prctl(PR_SET_THP_DISABLE)
	Rlimits []Rlimit // no_coredump (RLIMIT_CORE 0) and max_open_files (RLIMIT_NOFILE N), soft = hard
}

// maxCPUs is how many CPUs a unix.CPUSet holds (glibc's CPU_SETSIZE).
const maxCPUs = len(unix.CPUSet{}) * 64

// processPlan maps the per-process fields. (privileged is the user namespace init is cloned
// into: lifecycle.)
func processPlan(p spec.Policy) (ProcessSettings, error) {
	s := ProcessSettings{CPUs: slices.Clone(p.CPUCores), Visible: p.VisibleCPUs(), NoASLR: p.ASLRDisabled(), NoTHP: p.HugePagesDisabled()}
	for _, c := range s.CPUs {
		if c >= maxCPUs {
			return s, fmt.Errorf("cpu_cores: %d: above the largest CPU number this runtime can pin to (%d)", c, maxCPUs-1)
		}
	}
	if p.CoredumpDisabled() {
		s.Rlimits = append(s.Rlimits, Rlimit{Type: unix.RLIMIT_CORE})
	}
	if n := p.OpenFilesLimit(); n > 0 {
		s.Rlimits = append(s.Rlimits, Rlimit{Type: unix.RLIMIT_NOFILE, Soft: uint64(n), Hard: uint64(n)})
	}
	return s, nil
}

// SetsRlimit reports whether the policy sets resource t. The policy wins over the OCI
// process.rlimits entry for the same resource, which init then leaves out.
func (s ProcessSettings) SetsRlimit(t int) bool {
	return slices.ContainsFunc(s.Rlimits, func(r Rlimit) bool { return r.Type == t })
}

// Apply sets the process attributes on the calling thread (and so on everything it forks and
// execs). The caller has locked its OS thread: affinity and personality are per thread.
func (s ProcessSettings) Apply() error {
	for _, step := range []func() error{s.applyCPUs, s.applyPersonality, s.applyTHP, s.applyRlimits} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// applyCPUs pins the thread to s.CPUs and checks the kernel kept exactly that set: it
// silently drops CPUs that are offline or outside the cpuset, and cpu_cores must not widen or
// shrink without a word.
func (s ProcessSettings) applyCPUs() error {
	if len(s.CPUs) == 0 {
		return s.applyVisible()
	}
	var want, got unix.CPUSet
	for _, c := range s.CPUs {
		want.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &want); err != nil {
		if err == unix.EINVAL { // none of them is a CPU this thread may run on
			return fmt.Errorf("cpu_cores %v: sched_setaffinity: %w (none of these CPUs is online here, or in this cgroup's cpuset)", s.CPUs, err)
		}
		return fmt.Errorf("cpu_cores %v: sched_setaffinity: %w", s.CPUs, err)
	}
	if err := unix.SchedGetaffinity(0, &got); err != nil {
		return fmt.Errorf("cpu_cores %v: sched_getaffinity: %w", s.CPUs, err)
	}
	if got != want {
		return fmt.Errorf("cpu_cores %v: only %d of them can be used here (offline, or outside this cgroup's cpuset)", s.CPUs, got.Count())
	}
	return nil
}

// applyVisible narrows the thread's affinity to its first s.Visible CPUs; with fewer allowed,
// it is left as it is (the rest of the count is only shown).
func (s ProcessSettings) applyVisible() error {
	var cur, want unix.CPUSet
	if s.Visible <= 0 || unix.SchedGetaffinity(0, &cur) != nil || cur.Count() <= s.Visible {
		return nil
	}
	for c, n := 0, 0; c < maxCPUs && n < s.Visible; c++ {
		if cur.IsSet(c) {
			want.Set(c)
			n++
		}
	}
	if err := unix.SchedSetaffinity(0, &want); err != nil {
		return fmt.Errorf("num_cpus %d: sched_setaffinity: %w", s.Visible, err)
	}
	return nil
}

// addrNoRandomize is ADDR_NO_RANDOMIZE from <linux/personality.h>.
const addrNoRandomize = 0x0040000

// applyPersonality adds ADDR_NO_RANDOMIZE to the thread's personality. It is set before
// seccomp, whose personality rule refuses that value inside the container (so the container
// cannot turn ASLR off by itself), and it survives execve except of setuid programs.
func (s ProcessSettings) applyPersonality() error {
	if !s.NoASLR {
		return nil
	}
	cur, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	if e != 0 {
		return fmt.Errorf("no_randomize_memory: personality: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, cur|addrNoRandomize, 0, 0); e != 0 {
		return fmt.Errorf("no_randomize_memory: personality: %w", e)
	}
	return nil
}

// applyTHP disables transparent huge pages for the process's memory; the flag is inherited by
// fork and kept across execve.
func (s ProcessSettings) applyTHP() error {
	if !s.NoTHP {
		return nil
	}
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_huge_pages: prctl(PR_SET_THP_DISABLE): %w", err)
	}
	return nil
}

// applyRlimits sets the policy's limits, soft = hard, so the container cannot raise them
// without CAP_SYS_RESOURCE. They come here, late, rather than with process.rlimits at init's
// start: a small RLIMIT_NOFILE must not stop init opening what it needs to confine itself.
// syscall.Setrlimit, not unix: it also stops Go restoring its own RLIMIT_NOFILE at exec.
func (s ProcessSettings) applyRlimits() error {
	for _, r := range s.Rlimits {
		if err := syscall.Setrlimit(r.Type, &syscall.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return fmt.Errorf("%s: setrlimit to %d: %w", rlimitField(r.Type), r.Hard, err)
		}
	}
	return nil
}

func rlimitField(t int) string {
	if t == unix.RLIMIT_CORE {
		return "no_coredump"
	}
	return "max_open_files"
}
