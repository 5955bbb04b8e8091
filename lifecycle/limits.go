package lifecycle

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/spec"
)

// The container's resource limits: linux.resources with the sandlock policy's limits laid over
// it, applied by create through the cgroup controllers (cgroupv1.go on a hybrid host, the
// cgroup2 dir itself on a cgroup2 host with controllers).

// cpuPeriod is the CFS period max_cpu's quota is expressed in (the kernel's default).
const cpuPeriod = 100000

// resourcesFor returns linux.resources with the policy's max_memory, max_processes and max_cpu
// applied where the policy sets them to something config.json did not say (an annotation, a
// profile, the sandbox command): those override the spec's values. max_cpu derived from a quota
// of several cores is capped at 100, so it only overrides when it differs from that.
//
// max_processes becomes pids.max: a bound on the processes (and threads) alive at once, which
// the kernel enforces at fork for every process of the container. The seed's "lifetime fork
// count" would need every fork routed through the supervisor; a concurrent bound is what stops a
// fork bomb, and it is what linux.resources.pids.limit (mapped onto the same field) means. Its
// default (64) is not applied: a container that sets no limit gets none, as with runc.
func resourcesFor(s *specs.Spec, pol spec.Policy) *specs.LinuxResources {
	var r specs.LinuxResources
	if s.Linux != nil && s.Linux.Resources != nil {
		r = *s.Linux.Resources
	}
	oci, _ := spec.OCIPolicy(s)
	if v := pol.MaxMemory; v != nil && !samePtr(v, oci.MaxMemory) {
		m := specs.LinuxMemory{}
		if r.Memory != nil {
			m = *r.Memory
		}
		// Swap included: max_memory bounds what the container can hold, not only its RAM.
		m.Limit, m.Swap = ptrTo(int64(*v)), ptrTo(int64(*v))
		r.Memory = &m
	}
	if v := pol.MaxProcesses; v != nil && !samePtr(v, oci.MaxProcesses) {
		r.Pids = &specs.LinuxPids{Limit: ptrTo(int64(*v))}
	}
	if v := pol.MaxCPU; v != nil && !samePtr(v, oci.MaxCPU) {
		c := specs.LinuxCPU{}
		if r.CPU != nil {
			c = *r.CPU
		}
		c.Period = ptrTo(uint64(cpuPeriod))
		c.Quota = ptrTo(int64(*v) * cpuPeriod / 100)
		r.CPU = &c
	}
	r.Devices = deviceRules(s)
	return &r
}

func samePtr[T comparable](a, b *T) bool { return b != nil && *a == *b }

func ptrTo[T any](v T) *T { return &v }

// limitsPlan is where the container's limits go: the cgroup2 controllers the host offers, or
// else (a hybrid host) the v1 dirs to make, planned before the cgroup2 dir is made so that a
// single record lists every dir create may make (setupCgroup).
type limitsPlan struct {
	offered []string // cgroup2 controllers; none on a hybrid host
	v1      *v1Plan
}

func (cr *creation) planLimits(mnt, dir string, r *specs.LinuxResources) (limitsPlan, error) {
	if offered := strings.Fields(cgroup2Controllers(mnt)); len(offered) > 0 {
		return limitsPlan{offered: offered}, nil
	}
	ws, err := v1Writes(r)
	if err != nil {
		return limitsPlan{}, err
	}
	// The direct mode joins only the controllers its limits need: nobody runs `update` or
	// reads the statistics of a sandbox, and each join is a migration that costs the start
	// 5-15 ms on a hybrid host (an RCU grace period).
	p, err := planV1(strings.TrimPrefix(dir, mnt), ws, !cr.direct)
	return limitsPlan{v1: p}, err
}

// setupLimits creates what the container's limits need beside its cgroup2 dir and writes them,
// except pids.max (see lateLimits). On a hybrid host that is a dir per v1 controller, recorded
// in rec (saved to the state dir once made) for delete, and joined by init in startInit.
func (cr *creation) setupLimits(mnt, dir string, rec *cgroupRecord, r *specs.LinuxResources, lp limitsPlan) error {
	cr.res = r
	if offered := lp.offered; len(offered) > 0 {
		ws, err := v2Writes(r)
		if err != nil {
			return err
		}
		if err := checkDevicesUnenforced(cr.spec, r.Devices); err != nil {
			return err
		}
		if err := delegateV2(mnt, dir, offered, ws); err != nil {
			return err
		}
		return cr.applyEarly(v1Cgroup{Dirs: sameDir(ws, dir)}, ws)
	}
	ws, err := v1Writes(r)
	if err != nil {
		return err
	}
	save := func(v v1Cgroup) error {
		rec.V1 = v
		return cr.saveCgroup(*rec)
	}
	v, err := makeV1(lp.v1, save)
	rec.V1 = v
	if err != nil {
		return err
	}
	return cr.applyEarly(v, ws)
}

// applyEarly writes ws now, except pids.max, which lateLimits writes once init is confined and
// waiting: init is a Go program with a handful of threads until it execs, and pids.max counts
// threads, so a small limit set earlier would make its runtime or the zygote's fork fail.
func (cr *creation) applyEarly(v v1Cgroup, ws []cgWrite) error {
	var early []cgWrite
	for _, w := range ws {
		if w.file == "pids.max" {
			cr.late = append(cr.late, w)
		} else {
			early = append(early, w)
		}
	}
	cr.lateCg, cr.early = v, early
	return applyV1(v, early)
}

// lateLimits is the create step after the processes: the limits applyEarly held back.
func (cr *creation) lateLimits(o *Options, c CreateOpts) error {
	if err := applyV1(cr.lateCg, cr.late); err != nil {
		return err
	}
	if cr.cg != nil && cr.cg.Systemd != nil && cr.res != nil && cr.res.Pids != nil {
		// The unit's TasksMax, which systemd would otherwise write over pids.max at a reload.
		return cr.cg.Systemd.setUnitLimits(&specs.LinuxResources{Pids: cr.res.Pids})
	}
	return nil
}

// cgroup2Controllers is what the cgroup2 root offers ("" on a hybrid host).
func cgroup2Controllers(mnt string) string {
	b, _ := os.ReadFile(filepath.Join(mnt, "cgroup.controllers"))
	return strings.TrimSpace(string(b))
}

// noCgroupLimits is create without a writable cgroup: any limit asked for is an error, since
// nothing can enforce it (a warning would let the container run unbounded); a device list is
// refused when it denies a device the container could open (resources_devices.go).
func noCgroupLimits(s *specs.Spec, r *specs.LinuxResources) error {
	if err := checkDevicesUnenforced(s, r.Devices); err != nil {
		return err
	}
	noDev := *r
	noDev.Devices = nil
	ws, err := v1Writes(&noDev)
	if err == nil && len(ws) == 0 {
		return nil
	}
	f := resPrefix + "unified"
	if len(ws) > 0 {
		f = ws[0].field
	}
	for _, w := range ws { // named as the policy spells it when a policy field asked for it
		if policyName(w.field) != w.field {
			f = w.field
			break
		}
	}
	return fmt.Errorf("%s: no writable cgroup controller to enforce it (a limit needs root and a cgroup hierarchy with the controller; see `sandlock-runtime check`)", policyName(f))
}

// policyName names a limit as the sandlock policy spells it when it has a policy field.
func policyName(field string) string {
	switch field {
	case resPrefix + "memory.limit":
		return field + " (max_memory)"
	case resPrefix + "pids.limit":
		return field + " (max_processes)"
	case resPrefix + "cpu.quota":
		return field + " (max_cpu)"
	}
	return field
}

// LimitSupport says, for `check`, what enforces resource limits (linux.resources, max_memory,
// max_processes, max_cpu) for this caller on this host.
func LimitSupport() string {
	const refused = "limits are refused at create (nothing could enforce them)"
	mnt := Cgroup2Mount()
	if mnt == "" || unix.Access(mnt, unix.W_OK) != nil {
		return "none: no writable cgroup2 hierarchy (needs root); " + refused
	}
	if c := cgroup2Controllers(mnt); c != "" {
		return "cgroup2 controllers: " + c
	}
	var have []string
	mounts := v1Mounts()
	for _, c := range v1Limiting {
		if m, ok := mounts[c]; ok && unix.Access(m, unix.W_OK) == nil {
			have = append(have, c)
		}
	}
	if len(have) == 0 {
		return "none: cgroup2 has no controllers and no cgroup v1 controller is writable; " + refused
	}
	return "cgroup v1 controllers (hybrid host): " + strings.Join(have, " ")
}

// ControllerSupport says, for `check`, what enforces one controller's limits for this caller on
// this host: the v1 hierarchy (hybrid host) or cgroup2, and false when nothing can (a limit on
// it is then refused at create).
func ControllerSupport(ctrl string) (string, bool) {
	mnt := Cgroup2Mount()
	if mnt == "" || unix.Access(mnt, unix.W_OK) != nil {
		return "no writable cgroup (needs root): refused at create", false
	}
	if cs := strings.Fields(cgroup2Controllers(mnt)); len(cs) > 0 {
		if slices.Contains(cs, ctrl) {
			return "cgroup2 " + ctrl + " controller", true
		}
		return "cgroup2 offers no " + ctrl + " controller: refused at create", false
	}
	if m, ok := v1Mounts()[ctrl]; ok && unix.Access(m, unix.W_OK) == nil {
		return "cgroup v1 " + ctrl + " controller at " + m + " (hybrid host)", true
	}
	return "no writable " + ctrl + " controller: refused at create", false
}
