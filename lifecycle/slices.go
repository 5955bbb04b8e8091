package lifecycle

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Without systemd, the slice dirs of the systemd layout (kubepods.slice/...) are made by the
// create that first needed them, and a pod's containers share them. The create that made one is
// not always the last container out of it, so the dirs a create made above the container's own
// are listed in <root>/.cgroup-slices.json, and each delete removes those above its container
// that are empty by then: the last container out of a slice the runtime made takes it away. A
// slice dir that existed before (the kubelet's, an admin's) is never listed, so never removed.

const slicesFile = ".cgroup-slices.json"

// updateSlices edits the list under an flock, so that concurrent creates and deletes each see
// the others' entries.
func updateSlices(root string, edit func([]string) []string) error {
	// The lock is the root dir's own flock: a lock file would stay behind in the root.
	d, err := os.Open(root)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	p := filepath.Join(root, slicesFile)
	var list []string
	if b, err := os.ReadFile(p); err == nil {
		_ = json.Unmarshal(b, &list) // a damaged list only loses what it held
	}
	list = edit(list)
	if len(list) == 0 {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	return writeFileAtomic(p, b, 0o600)
}

// recordSlices lists the slice dirs among made (the dirs a create made; own are the container's
// own dirs, which its delete removes anyway).
func recordSlices(root string, made, own []string) error {
	var add []string
	for _, d := range made {
		if !slices.Contains(own, d) && strings.HasSuffix(d, sliceSuffix) {
			add = append(add, d)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return updateSlices(root, func(list []string) []string {
		for _, d := range add {
			if !slices.Contains(list, d) {
				list = append(list, d)
			}
		}
		return list
	})
}

// sweepSlices removes the listed slice dirs above the container's dirs (own) that are empty
// now, deepest first, and drops from the list those that are gone. A create racing with it
// that finds its slice removed under it makes it again (mkdirRetry).
func sweepSlices(root string, own []string) error {
	return updateSlices(root, func(list []string) []string {
		var above []string
		for _, d := range list {
			for _, o := range own {
				if strings.HasPrefix(o, d+"/") {
					above = append(above, d)
					break
				}
			}
		}
		// Deepest first: a child's path is longer than its parent's.
		slices.SortFunc(above, func(a, b string) int { return len(b) - len(a) })
		var gone []string
		for _, d := range above {
			if err := unix.Rmdir(d); err == nil || err == unix.ENOENT {
				gone = append(gone, d)
			}
		}
		return slices.DeleteFunc(list, func(d string) bool { return slices.Contains(gone, d) })
	})
}
