package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultCPUPeriod is the CFS period the kernel uses when linux.resources.cpu.period is unset.
const defaultCPUPeriod = 100000

// PolicyFromSpec returns a container's policy: the sources below merged in this order, each
// later one winning field by field (Merge: lists replace, env merges):
//
//  1. the profile named by the annotation io.sandlock.profile, loaded from profiles;
//  2. what config.json says in OCI terms (OCIPolicy);
//  3. the io.sandlock.<field> annotations (ParseAnnotations).
//
// The spec is checked with Translate first, and the merged policy with Validate, so an error
// names the source and key at fault. Defaults are not filled in: use the accessors
// (p.ProcessLimit(), ...) or DefaultPolicy().Merge(p).
func PolicyFromSpec(s *specs.Spec, profiles ProfileStore) (Policy, error) {
	return PolicyFromSpecProfile(s, profiles, "")
}

// PolicyFromSpecProfile is PolicyFromSpec with a profile the caller selects (a command-line
// flag, say); "" leaves the choice to the io.sandlock.profile annotation. When both name a
// profile they must name the same one: there is no silent winner.
func PolicyFromSpecProfile(s *specs.Spec, profiles ProfileStore, profile string) (Policy, error) {
	oci, err := OCIPolicy(s)
	if err != nil {
		return Policy{}, err
	}
	ann, err := ParseAnnotations(s.Annotations)
	if err != nil {
		return Policy{}, err
	}
	if annName, ok := s.Annotations[ProfileAnnotation]; ok {
		if profile != "" && profile != annName {
			return Policy{}, fmt.Errorf("%s: %q: conflicts with profile %q selected by the caller; accepted: the same name, or either alone", ProfileAnnotation, annName, profile)
		}
		profile = annName
	}
	var base Policy
	if profile != "" {
		if base, err = profiles.Load(profile); err != nil {
			return Policy{}, err
		}
	}
	p := base.Merge(oci).Merge(ann)
	if err := p.Validate(); err != nil {
		return Policy{}, fmt.Errorf("policy merged from %s: %w", sourcesOf(profile), err)
	}
	return p, nil
}

func sourcesOf(profile string) string {
	if profile == "" {
		return "config.json and its io.sandlock.* annotations"
	}
	return fmt.Sprintf("profile %q, config.json and its io.sandlock.* annotations", profile)
}

// OCIPolicy returns the policy config.json asks for in OCI terms, after checking s with
// Translate. It sets only the fields the spec has something to say about:
//
//   - process.rlimits: RLIMIT_CORE with a hard limit of 0 -> no_coredump. RLIMIT_NOFILE stays an
//     rlimit (the exec step applies it as given, soft and hard): max_open_files would set
//     soft = hard and lose the config's soft limit;
//   - linux.resources.memory.limit > 0 -> max_memory; pids.limit > 0 -> max_processes;
//     cpu.quota / cpu.period -> max_cpu, the percentage of one core rounded up and capped at 100
//     (max_cpu cannot say more than one core; create applies the quota itself as written);
//     cpu.cpus ("0-1,3") -> cpu_cores;
//   - linux.namespaces as Translate maps them: network without a path -> no_network, ipc ->
//     isolate_ipc, pid -> isolate_signals, uts with a hostname -> hostname.
//
// process.env stays the process's environment (env is for overrides); root.readonly,
// maskedPaths and readonlyPaths are applied by the runtime directly and are no policy fields.
func OCIPolicy(s *specs.Spec) (Policy, error) {
	iso, err := Translate(s)
	if err != nil {
		return Policy{}, err
	}
	var p Policy
	if iso.NoNetwork {
		p.NoNetwork = ptr(true)
	}
	if iso.IsolateIPC {
		p.IsolateIPC = ptr(true)
	}
	if iso.IsolateSignals {
		// A PID namespace's stand-in: signal scoping, and foreign pids hidden in /proc and
		// out of reach of the pid-targeting syscalls (isolate_pids).
		p.IsolateSignals = ptr(true)
		p.IsolatePIDs = ptr(true)
	}
	if iso.Hostname != "" {
		p.Hostname = ptr(iso.Hostname)
	}
	for _, r := range s.Process.Rlimits {
		switch r.Type {
		case "RLIMIT_CORE":
			if r.Hard == 0 {
				p.NoCoredump = ptr(true)
			}
		}
	}
	if s.Linux == nil || s.Linux.Resources == nil {
		return p, nil
	}
	res := s.Linux.Resources
	if m := res.Memory; m != nil && m.Limit != nil && *m.Limit > 0 {
		p.MaxMemory = ptr(Size(*m.Limit))
	}
	if res.Pids != nil && res.Pids.Limit != nil && *res.Pids.Limit > 0 {
		p.MaxProcesses = ptr(int(min(*res.Pids.Limit, math.MaxInt32)))
	}
	if c := res.CPU; c != nil {
		if c.Quota != nil && *c.Quota > 0 {
			period := uint64(defaultCPUPeriod)
			if c.Period != nil && *c.Period > 0 {
				period = *c.Period
			}
			pct := uint64(100)
			if q := uint64(*c.Quota); q < period {
				pct = max(1, (q*100+period-1)/period)
			}
			p.MaxCPU = ptr(int(pct))
		}
		if c.Cpus != "" {
			cores, err := ParseCPUList(c.Cpus)
			if err != nil {
				return Policy{}, fmt.Errorf("linux.resources.cpu.cpus: %w", err)
			}
			p.CPUCores = cores
		}
	}
	return p, nil
}

// ParseCPUList reads a cpuset list such as "0-1,3" (the kernel's cpuset.cpus format) into
// the CPU numbers it names, in the order written.
func ParseCPUList(s string) ([]int, error) {
	bad := func() error {
		return fmt.Errorf("%q: not a CPU list; accepted: CPU numbers and inclusive ranges separated by commas, e.g. \"0-1,3\"", s)
	}
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		a, b, isRange := strings.Cut(part, "-")
		if !isRange {
			b = a
		}
		if !isDigits(a) || !isDigits(b) {
			return nil, bad()
		}
		lo, err1 := strconv.Atoi(a)
		hi, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || lo > hi || hi-lo >= 1<<16 {
			return nil, bad()
		}
		for c := lo; c <= hi; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
