package spec

import "slices"

// notEnforced are the keys this release parses and validates but does not enforce yet (the
// determinism ones). Set, they are reported (the sandbox command and create warn), never
// silently dropped. docs/policy.md has the same list.
var notEnforced = []string{}

// IsEnforced reports whether this release enforces policy key k.
func IsEnforced(k string) bool { return !slices.Contains(notEnforced, k) }

// NotEnforced lists the keys p sets that this release does not enforce yet, in PolicyKeys
// order.
func (p Policy) NotEnforced() []string {
	var out []string
	for _, k := range p.SetKeys() {
		if !IsEnforced(k) {
			out = append(out, k)
		}
	}
	return out
}

// workdirKeys are the keys that configure the copy-on-write layer of workdir: without a
// workdir there is no layer, and they do nothing.
var workdirKeys = []string{"fs_isolation", "fs_storage", "max_disk", "on_exit", "on_error"}

// InertWithoutWorkdir lists the keys p sets that do nothing because p has no workdir
// (max_disk bounds the layer, not fs_writable), in PolicyKeys order: they are reported (the
// sandbox command and create warn), so that a quota or a commit policy believed in force is
// not silently absent.
func (p Policy) InertWithoutWorkdir() []string {
	if p.Workdir != nil {
		return nil
	}
	var out []string
	for _, k := range p.SetKeys() {
		if slices.Contains(workdirKeys, k) {
			out = append(out, k)
		}
	}
	return out
}
