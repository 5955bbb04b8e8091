package lifecycle

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/spec"
)

// The sandlock policy's part of create: merging it from its sources and what it changes in the
// spec before anything is mounted or started (environment, /proc options, the hostname file).

// policyFor merges the sandlock policy from its sources (docs/policy.md): profile, OCI
// fields, annotations, then what an embedder passes.
func policyFor(s *specs.Spec, over *spec.Policy, log Logger) (spec.Policy, error) {
	pol, err := spec.PolicyFromSpec(s, spec.DefaultProfileStore())
	if err != nil {
		return pol, err
	}
	if over != nil {
		pol = pol.Merge(*over)
	}
	if err := pol.Validate(); err != nil {
		return pol, err
	}
	if !pol.FDsClosed() {
		// Refused, not ignored: only fds 0-2 and --preserve-fds ever reach the container.
		// A PolicyError, so that the sandbox command names its flag and the Go API's
		// errors.As(err, *PolicyError) holds.
		return pol, &spec.PolicyError{Key: "close_fds", Value: "false", Reason: "not supported: fds above 2 never reach the sandbox " +
			"(a container is given more with create/run --preserve-fds); accepted: true"}
	}
	if keys := unenforcedAsked(s, pol); len(keys) > 0 {
		log.Warnf("policy fields set but not enforced by this release: %s (docs/policy.md)", strings.Join(keys, ", "))
	}
	if keys := pol.InertWithoutWorkdir(); len(keys) > 0 {
		log.Warnf("policy fields set without a workdir, where they do nothing (they configure its copy-on-write layer): %s (docs/policy.md)", strings.Join(keys, ", "))
	}
	return pol, nil
}

// applyPolicyEnv bakes clean_env and env into the process, so init and every exec that starts
// from the container's process see the same environment.
func applyPolicyEnv(p *specs.Process, pol spec.Policy) {
	if pol.EnvCleaned() {
		p.Env = minimalEnv(p.Env)
	}
	for _, k := range slices.Sorted(maps.Keys(pol.Env)) {
		p.Env = setEnv(p.Env, k, pol.Env[k])
	}
	for _, kv := range confine.GPUEnv(pol) { // gpu_devices: CUDA_VISIBLE_DEVICES
		k, v, _ := strings.Cut(kv, "=")
		p.Env = setEnv(p.Env, k, v)
	}
}

// minimalEnv keeps what a program needs to find its tools and terminal.
func minimalEnv(env []string) []string {
	var out []string
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if k == "PATH" || k == "TERM" || k == "HOME" || k == "LANG" {
			out = append(out, e)
		}
	}
	return out
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// unenforcedAsked lists the fields a user asked for (annotation, profile, embedder) that this
// release does not enforce. Those that only come from config.json's own fields are left out:
// the OCI fields are applied or refused by create itself.
func unenforcedAsked(s *specs.Spec, pol spec.Policy) []string {
	oci, _ := spec.OCIPolicy(s)
	fromOCI := oci.SetKeys()
	return slices.DeleteFunc(pol.NotEnforced(), func(k string) bool {
		_, annotated := s.Annotations[spec.AnnotationPrefix+k]
		return slices.Contains(fromOCI, k) && !annotated
	})
}

// hidePIDs mounts the container's /proc with hidepid=ptraceable for isolate_pids (a PID
// namespace's stand-in): a process then sees in /proc only the processes it may ptrace, and
// Landlock allows ptrace only within the container's domain, so host processes (and the
// supervisor) vanish from /proc. In host mode and the direct mode /proc is the host's own mount:
// the supervisor shows it as the container's instead (supervisorPlan, notifsup.ProcView).
func hidePIDs(s *specs.Spec, pol spec.Policy, rootfs string, log Logger) {
	if !pol.PIDsIsolated() {
		return
	}
	if rootfs == "/" {
		return
	}
	for i, m := range s.Mounts {
		if m.Type == "proc" && !slices.ContainsFunc(m.Options, func(o string) bool { return strings.HasPrefix(o, "hidepid=") }) {
			s.Mounts[i].Options = append(slices.Clone(m.Options), "hidepid=ptraceable")
		}
	}
}

// hostnameFile shows the container's hostname in /proc/sys/kernel/hostname too (uname is
// answered by the supervisor): Go's os.Hostname and others read that file first. A read-only
// bind of a file in the state dir over the container's own /proc entry; image mode only. The
// file goes with the state dir: a cache of such files shared between containers would keep
// one for every hostname ever run (containerd and docker name each container's host after
// its id) until the next reboot.
func (cr *creation) hostnameFile() error {
	st := cr.cont.State
	if st.Hostname == "" || st.Rootfs == "/" || !hasMount(cr.spec, "/proc", "proc") {
		return nil
	}
	src := filepath.Join(cr.cont.dir, "hostname")
	if err := os.WriteFile(src, []byte(st.Hostname+"\n"), 0o444); err != nil {
		return err
	}
	cr.spec.Mounts = append(cr.spec.Mounts, specs.Mount{
		Destination: "/proc/sys/kernel/hostname", Type: "bind", Source: src, Options: []string{"bind", "ro"},
	})
	return nil
}
