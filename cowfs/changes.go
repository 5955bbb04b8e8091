package cowfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// Change is one entry of the seed's change list: Kind "A" (added), "M" (modified) or "D"
// (deleted), Path relative to the workdir.
type Change struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
}

// op is one step of a commit: replace Rel in the workdir with the upper's copy (a whole
// subtree for a new or replaced directory), or remove Rel.
type op struct {
	Remove bool   `json:"remove,omitempty"`
	Rel    string `json:"rel"`
}

// Changes lists what the layer changed in its workdir, sorted by path.
func (l *Layer) Changes() ([]Change, error) {
	cs, _, err := diff(l.Upper(), l.Workdir)
	return cs, err
}

// diff walks upper against lower: the change list and the commit's steps.
func diff(upper, lower string) ([]Change, []op, error) {
	var d differ
	err := d.walk(upper, lower, "", false)
	sort.Slice(d.changes, func(i, j int) bool { return d.changes[i].Path < d.changes[j].Path })
	return d.changes, d.ops, err
}

type differ struct {
	changes []Change
	ops     []op
}

func (d *differ) add(kind, rel string) { d.changes = append(d.changes, Change{kind, rel}) }

// walk visits the upper directory rel. hidden: the lower's entries under rel are hidden (an
// opaque directory above, or a new one), so the upper's subtree is the whole content and
// only names matter.
func (d *differ) walk(upper, lower, rel string, hidden bool) error {
	ents, err := os.ReadDir(filepath.Join(upper, rel))
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(rel, e.Name())
		var ust unix.Stat_t
		if err := unix.Lstat(filepath.Join(upper, p), &ust); err != nil {
			return err
		}
		lst, inLower := lstat(filepath.Join(lower, p))
		if err := d.entry(upper, lower, p, &ust, lst, inLower, hidden); err != nil {
			return err
		}
	}
	return nil
}

func (d *differ) entry(upper, lower, p string, ust, lst *unix.Stat_t, inLower, hidden bool) error {
	isDir := ust.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case isWhiteout(ust):
		if inLower && !hidden {
			d.add("D", p)
			d.ops = append(d.ops, op{Remove: true, Rel: p})
		}
		return nil
	case !isDir:
		d.add(kindOf(inLower), p)
		if !hidden {
			d.ops = append(d.ops, op{Rel: p})
		}
		return nil
	}
	lowerDir := inLower && lst.Mode&unix.S_IFMT == unix.S_IFDIR
	if lowerDir && !hidden && !isOpaque(filepath.Join(upper, p)) {
		return d.walk(upper, lower, p, false) // a copied-up directory: only what is under it
	}
	if !inLower || !lowerDir {
		d.add(kindOf(inLower), p)
	} else {
		d.add("M", p) // emptied and refilled (opaque): what it lost is deleted
		d.deletedBeneath(upper, lower, p)
	}
	if !hidden {
		d.ops = append(d.ops, op{Rel: p})
	}
	return d.walk(upper, lower, p, true)
}

// deletedBeneath reports the lower's entries of the opaque directory p that the upper lacks.
func (d *differ) deletedBeneath(upper, lower, p string) {
	ents, _ := os.ReadDir(filepath.Join(lower, p))
	for _, e := range ents {
		q := filepath.Join(p, e.Name())
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(upper, q), &st); err != nil || isWhiteout(&st) {
			d.add("D", q)
		}
	}
}

func kindOf(inLower bool) string {
	if inLower {
		return "M"
	}
	return "A"
}

func lstat(p string) (*unix.Stat_t, bool) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, false
	}
	return &st, true
}

// isWhiteout: overlayfs marks a deleted name with a 0/0 character device.
func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// isOpaque: a directory whose lower content is hidden (removed, then made again).
func isOpaque(p string) bool {
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		buf := make([]byte, 4)
		n, err := unix.Lgetxattr(p, name, buf)
		if err == nil && n > 0 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
