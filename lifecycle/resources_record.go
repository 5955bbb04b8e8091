package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The container's linux.resources as in force: what create applied (the config's with the
// policy's limits laid over it, the device rules as applied; state.json's "resources"), and
// after each `update` the same with the update's fields merged in (<state>/resources.json,
// which then wins), as runc writes an update back into its state. `state` prints it, and a
// later partial update is completed from it (cgroup2's memory.swap.max and cpu.max each need
// two OCI fields). create's go in state.json, written anyway, rather than a file of their own:
// each file made in the state dir costs 0.1-1 ms on ext4 (docs/performance.md).

const resourcesFile = "resources.json"

// saveResources records r as `update` merged it.
func saveResources(dir string, r *specs.LinuxResources) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, resourcesFile), b, 0o600)
}

// Resources is the container's linux.resources as in force now (nil for a container created
// before they were recorded, or without any).
func (c *Container) Resources() *specs.LinuxResources {
	r, err := c.loadResources()
	if err != nil {
		return nil
	}
	return r
}

// loadResources reads what `update` wrote last, else what create applied.
func (c *Container) loadResources() (*specs.LinuxResources, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, resourcesFile))
	if errors.Is(err, fs.ErrNotExist) {
		var r specs.LinuxResources
		if c.State != nil && len(c.State.Resources) > 0 {
			if err := json.Unmarshal(c.State.Resources, &r); err != nil {
				return nil, fmt.Errorf("state.json resources: %w", err)
			}
		}
		return &r, nil
	}
	if err != nil {
		return nil, err
	}
	var r specs.LinuxResources
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", resourcesFile, err)
	}
	return &r, nil
}

// mergeResources is old with every field upd sets replaced. Lists of per-device or per-size
// entries (blockIO throttles, weightDevice, hugepageLimits, network priorities) are merged by
// their key, as the kernel keeps one value per device, page size or interface.
func mergeResources(old, upd *specs.LinuxResources) (*specs.LinuxResources, error) {
	var a, b any
	if err := roundTrip(old, &a); err != nil {
		return nil, err
	}
	if err := roundTrip(upd, &b); err != nil {
		return nil, err
	}
	var out specs.LinuxResources
	m, err := json.Marshal(mergeJSON(a, b))
	if err == nil {
		err = json.Unmarshal(m, &out)
	}
	return &out, err
}

func roundTrip(v any, out *any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func mergeJSON(a, b any) any {
	switch bv := b.(type) {
	case map[string]any:
		av, ok := a.(map[string]any)
		if !ok {
			return bv
		}
		out := map[string]any{}
		for k, v := range av {
			out[k] = v
		}
		for k, v := range bv {
			out[k] = mergeJSON(av[k], v)
		}
		return out
	case []any:
		av, _ := a.([]any)
		return mergeList(av, bv)
	}
	return b
}

// mergeList keeps the entries of a whose key no entry of b has, then b's.
func mergeList(a, b []any) []any {
	seen := map[string]bool{}
	for _, e := range b {
		seen[entryKey(e)] = true
	}
	var out []any
	for _, e := range a {
		if k := entryKey(e); k == "" || !seen[k] {
			out = append(out, e)
		}
	}
	return append(out, b...)
}

// entryKey identifies a list entry: a device's major:minor, a page size, an interface name.
func entryKey(e any) string {
	m, ok := e.(map[string]any)
	if !ok {
		return ""
	}
	if ps, ok := m["pageSize"]; ok {
		return fmt.Sprint("size ", ps)
	}
	if n, ok := m["name"]; ok {
		return fmt.Sprint("if ", n)
	}
	if maj, ok := m["major"]; ok {
		return fmt.Sprint("dev ", maj, ":", m["minor"])
	}
	return ""
}

// v2Delta is what an update must write on cgroup2, completed from the merged resources: the
// memory limit and swap together (memory.swap.max is OCI's swap minus the limit), and the CPU
// quota and period together (cpu.max holds both).
func v2Delta(upd, merged *specs.LinuxResources) *specs.LinuxResources {
	d := *upd
	if m := upd.Memory; m != nil && (m.Limit != nil || m.Swap != nil) && merged.Memory != nil {
		mm := *m
		if mm.Limit == nil {
			mm.Limit = merged.Memory.Limit
		}
		if mm.Swap == nil {
			mm.Swap = merged.Memory.Swap
		}
		d.Memory = &mm
	}
	if c := upd.CPU; c != nil && (c.Quota != nil || c.Period != nil) && merged.CPU != nil {
		cc := *c
		if cc.Quota == nil {
			cc.Quota = merged.CPU.Quota
		}
		if cc.Period == nil {
			cc.Period = merged.CPU.Period
		}
		d.CPU = &cc
	}
	return &d
}
