package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The systemd cgroup driver (--systemd-cgroup, cgroupsPath "slice:prefix:name"), as runc has
// it: the container's cgroup is the scope unit <prefix>-<name>.scope inside the slice, and a
// slice name nests by its dashes (kubepods-burstable-pod1.slice lives in
// kubepods.slice/kubepods-burstable.slice/), so the limits a kubelet set on the pod's and the QoS
// class's slices hold for the container, in every v1 hierarchy and in cgroup2.
//
// The dirs are made by create itself in every case (init is cloned straight into the cgroup2
// one, and joins the v1 ones before it confines itself). When systemd runs, create then
// registers the cgroup with it over D-Bus as a transient scope holding init, with Delegate=yes
// (systemd leaves what is under it to us), so systemd knows the unit, stops it at delete and
// owns the slices; without systemd, nobody else would remove the slice dirs create made, so
// delete removes those that are empty (docs/design.md, "Resource limits").

// systemdCgroup is a parsed "slice:prefix:name" cgroupsPath.
type systemdCgroup struct {
	Slice string // the slice unit the scope is in ("system.slice" when unset)
	Unit  string // the container's unit: prefix-name.scope, or name when it is a slice
}

const sliceSuffix = ".slice"

// parseSystemdPath reads a cgroupsPath for the systemd driver. An empty one is
// ":sandlock-runtime:<id>" (runc's is ":runc:<id>"); anything but three colon-separated parts is
// refused, as runc refuses it.
func parseSystemdPath(cgroupsPath, id string) (systemdCgroup, error) {
	if cgroupsPath == "" {
		cgroupsPath = ":sandlock-runtime:" + id
	}
	parts := strings.Split(cgroupsPath, ":")
	if len(parts) != 3 {
		return systemdCgroup{}, fmt.Errorf("linux.cgroupsPath %q: the systemd cgroup driver expects \"slice:prefix:name\" (e.g. system.slice:docker:1234)", cgroupsPath)
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
	}
	if name == "" || strings.Contains(name, "/") || strings.Contains(prefix, "/") {
		return systemdCgroup{}, fmt.Errorf("linux.cgroupsPath %q: the name must be set and neither the prefix nor the name may contain '/'", cgroupsPath)
	}
	unit := name
	if !strings.HasSuffix(name, sliceSuffix) {
		unit = name + ".scope"
		if prefix != "" {
			unit = prefix + "-" + unit
		}
	}
	return systemdCgroup{Slice: slice, Unit: unit}, nil
}

// expandSlice turns a slice unit name into its cgroup path: "a-b-c.slice" is
// /a.slice/a-b.slice/a-b-c.slice, and "-.slice" (the root slice) is "/". An empty component
// ("a--b.slice", "-a.slice"), a '/' or a name not ending in .slice is refused.
func expandSlice(slice string) (string, error) {
	bad := fmt.Errorf("linux.cgroupsPath: %q is not a systemd slice name (a dash-separated name ending in .slice, e.g. kubepods-burstable.slice)", slice)
	base, ok := strings.CutSuffix(slice, sliceSuffix)
	if !ok || base == "" || strings.Contains(slice, "/") {
		return "", bad
	}
	if base == "-" {
		return "/", nil
	}
	var path, prefix strings.Builder
	for _, comp := range strings.Split(base, "-") {
		if comp == "" {
			return "", bad
		}
		prefix.WriteString(comp)
		path.WriteString("/" + prefix.String() + sliceSuffix)
		prefix.WriteString("-")
	}
	return path.String(), nil
}

// relPath is the container's cgroup path below a hierarchy's root.
func (s systemdCgroup) relPath() (string, error) {
	p, err := expandSlice(s.Slice)
	if err != nil {
		return "", err
	}
	return filepath.Join(p, s.Unit), nil
}

// systemdBooted is systemdRunning, swapped by the D-Bus protocol test.
var systemdBooted = systemdRunning

// systemdRunning is sd_booted(3)'s test: systemd creates /run/systemd/system at boot.
func systemdRunning() bool {
	fi, err := os.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// systemdTimeout bounds each D-Bus exchange and each job create and delete wait for.
const systemdTimeout = 30 * time.Second

// dialSystemd connects to systemd: over the system bus, or its private socket when no bus
// daemon runs (early boot, minimal hosts).
func dialSystemd(ctx context.Context) (*sdbus.Conn, error) {
	c, err := sdbus.NewSystemConnectionContext(ctx)
	if err == nil {
		return c, nil
	}
	c, err2 := sdbus.NewSystemdConnectionContext(ctx)
	if err2 != nil {
		return nil, fmt.Errorf("systemd runs (/run/systemd/system) but cannot be reached over D-Bus: %w", errors.Join(err, err2))
	}
	return c, nil
}

// startScope registers the container's cgroup with systemd: a transient scope (or slice) unit
// in its slice with init in it, delegated to us, and waits for the job to finish. The
// accounting properties make systemd keep the controllers enabled along the slices (on a
// cgroup2 host it would otherwise turn off what no unit asked for); the limits are given as
// unit properties too, since systemd writes a unit's own cgroup attributes from its properties
// (when it starts the unit, and again at each daemon-reload).
func (s systemdCgroup) startScope(pid int, r *specs.LinuxResources) error {
	return withSystemd(func(ctx context.Context, conn *sdbus.Conn) error {
		return s.startUnit(ctx, conn, pid, r)
	})
}

func (s systemdCgroup) startUnit(ctx context.Context, conn *sdbus.Conn, pid int, r *specs.LinuxResources) error {
	props := []sdbus.Property{
		sdbus.PropDescription("sandlock-runtime container " + s.Unit),
		{Name: "DefaultDependencies", Value: godbus.MakeVariant(false)},
		{Name: "MemoryAccounting", Value: godbus.MakeVariant(true)},
		{Name: "CPUAccounting", Value: godbus.MakeVariant(true)},
		{Name: "TasksAccounting", Value: godbus.MakeVariant(true)},
		{Name: "IOAccounting", Value: godbus.MakeVariant(true)},
	}
	// TasksMax waits for lateLimits, like pids.max: init still has its runtime's threads.
	props = append(props, unitLimits(r, false)...)
	if strings.HasSuffix(s.Unit, sliceSuffix) {
		// A slice holds no processes of its own (init is already in its dir) and cannot be
		// delegated; its parent is a dependency, not a Slice= property.
		props = append(props, sdbus.PropWants(s.Slice))
	} else {
		props = append(props, sdbus.PropSlice(s.Slice), sdbus.PropPids(uint32(pid)),
			sdbus.Property{Name: "Delegate", Value: godbus.MakeVariant(true)})
	}
	// A failed unit of the same name (a container of that name that died) would make the start
	// fail with "already exists".
	_ = conn.ResetFailedUnitContext(ctx, s.Unit)
	done := make(chan string, 1)
	if _, err := conn.StartTransientUnitContext(ctx, s.Unit, "replace", props, done); err != nil {
		return fmt.Errorf("systemd: start transient unit %s in %s: %w", s.Unit, s.Slice, err)
	}
	return waitJob(ctx, done, "start", s.Unit)
}

// stopScope stops the container's unit (systemd removes its cgroup); a unit systemd no longer
// knows is already gone.
func (s systemdCgroup) stopScope() error {
	if !systemdBooted() {
		return nil
	}
	return withSystemd(func(ctx context.Context, conn *sdbus.Conn) error {
		done := make(chan string, 1)
		if _, err := conn.StopUnitContext(ctx, s.Unit, "replace", done); err != nil {
			if dbusErrorName(err) == "org.freedesktop.systemd1.NoSuchUnit" {
				return nil
			}
			return fmt.Errorf("systemd: stop %s: %w", s.Unit, err)
		}
		return waitJob(ctx, done, "stop", s.Unit)
	})
}

// withSystemd runs fn on a fresh connection to systemd, everything within systemdTimeout.
func withSystemd(fn func(ctx context.Context, conn *sdbus.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), systemdTimeout)
	defer cancel()
	conn, err := dialSystemd(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(ctx, conn)
}

func waitJob(ctx context.Context, done <-chan string, what, unit string) error {
	select {
	case r := <-done:
		if r != "done" {
			return fmt.Errorf("systemd: %s %s: job %s", what, unit, r)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("systemd: %s %s: no answer in %s", what, unit, systemdTimeout)
	}
}

// dbusErrorName is the D-Bus error name of err ("" when it is not a D-Bus error): godbus returns
// its Error both as a value and as a pointer.
func dbusErrorName(err error) string {
	var v godbus.Error
	if errors.As(err, &v) {
		return v.Name
	}
	var p *godbus.Error
	if errors.As(err, &p) {
		return p.Name
	}
	return ""
}

// registerScope hands the container's cgroup to systemd (when create decided to: the systemd
// driver and a running systemd): a scope with init in it, already in the dirs create made, so
// systemd moves nothing. From then on the slices above it are systemd's: create no longer
// counts the ones it made as its own, and delete stops the unit instead of removing them.
func (cr *creation) registerScope(pid int) error {
	sd := cr.scope
	if sd == nil {
		return nil
	}
	if err := sd.startScope(pid, cr.res); err != nil {
		return err
	}
	cr.onFail(func() {
		if err := sd.stopScope(); err != nil {
			cr.log.Warnf("%v", err)
		}
	})
	rec := cr.cg
	rec.Systemd = sd
	rec.Made = ownOnly(rec.Made, []string{rec.Dir})
	rec.V1.Made = ownOnly(rec.V1.Made, rec.V1.uniqueDirs())
	cr.cont.State.CgroupMade = rec.Made
	if err := cr.saveCgroup(*rec); err != nil {
		return err
	}
	// systemd wrote the unit's attributes when it started it (accounting on, its defaults for
	// what the properties do not say): the limits create wrote before are written again.
	return applyV1(cr.lateCg, cr.early)
}

// ownOnly keeps of made the dirs in own.
func ownOnly(made, own []string) []string {
	var out []string
	for _, d := range made {
		if slices.Contains(own, d) {
			out = append(out, d)
		}
	}
	return out
}

// unitLimits are the container's main limits as systemd unit properties (MemoryMax, TasksMax
// when pids, CPUQuotaPerSecUSec), so that systemd, which writes a unit's attributes from its
// properties, writes the same values as create and update.
func unitLimits(r *specs.LinuxResources, pids bool) []sdbus.Property {
	if r == nil {
		return nil
	}
	var p []sdbus.Property
	u64prop := func(name string, v uint64) {
		p = append(p, sdbus.Property{Name: name, Value: godbus.MakeVariant(v)})
	}
	const infinity = ^uint64(0)
	if m := r.Memory; m != nil && m.Limit != nil {
		v := infinity
		if *m.Limit > 0 {
			v = uint64(*m.Limit)
		}
		u64prop("MemoryMax", v)
	}
	if pids && r.Pids != nil && r.Pids.Limit != nil {
		v := infinity
		if *r.Pids.Limit > 0 {
			v = uint64(*r.Pids.Limit)
		}
		u64prop("TasksMax", v)
	}
	if c := r.CPU; c != nil && c.Quota != nil {
		period := uint64(cpuPeriod)
		if c.Period != nil && *c.Period > 0 {
			period = *c.Period
		}
		v := infinity
		if *c.Quota > 0 {
			// systemd's unit: CPU time per second of wall time, in µs, rounded up to 10 ms
			// as systemd itself rounds it.
			v = uint64(*c.Quota) * 1000000 / period
			v = (v + 9999) / 10000 * 10000
		}
		u64prop("CPUQuotaPerSecUSec", v)
	}
	return p
}

// setUnitLimits is update's (and lateLimits') counterpart of startScope's properties.
func (s systemdCgroup) setUnitLimits(r *specs.LinuxResources) error {
	props := unitLimits(r, true)
	if len(props) == 0 || !systemdBooted() {
		return nil
	}
	return withSystemd(func(ctx context.Context, conn *sdbus.Conn) error {
		if err := conn.SetUnitPropertiesContext(ctx, s.Unit, true, props...); err != nil {
			return fmt.Errorf("systemd: set the limits of %s: %w", s.Unit, err)
		}
		return nil
	})
}
