package cowfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Change is one entry of the seed's change list: Kind "A" (added), "M" (modified) or "D"
// (deleted), Path relative to the workdir.
type Change struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
}

// DisplayPath is a path of the layer as a report shows it: as it is when every character is
// printable, quoted (Go syntax, escapes for the rest) otherwise. The sandbox names the files:
// a name with a newline forged lines of a dry run's report, and terminal escapes in one erased
// the real lines on the operator's terminal (TestEscapeCOWDryRunReport).
func DisplayPath(p string) string {
	if utf8.ValidString(p) && !strings.ContainsFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) && !strings.HasPrefix(p, "\"") {
		return p
	}
	return strconv.Quote(p)
}

// op is one step of a commit: replace Rel in the workdir with the upper's copy (a whole
// subtree for a new or replaced directory), remove Rel, or give the directory Rel, whose
// entries stay, the mode (and owner) the sandbox gave it (Meta).
type op struct {
	Remove bool   `json:"remove,omitempty"`
	Rel    string `json:"rel"`
	Dir    bool   `json:"dir,omitempty"` // a directory, staged whole (mergeCopy)
	// Lower: a renamed directory (overlayfs' redirect): its content is the lower's Lower
	// merged with the upper's Rel.
	Lower string `json:"lower,omitempty"`
	// LinkTo: Rel is another name of the workdir file the step for LinkTo writes (a hard
	// link): it is staged as a link to that step's file, so that both names land as one.
	LinkTo string `json:"linkTo,omitempty"`
	// Meta: chmod Rel to Mode; with Chown, chown it to UID and GID as well.
	Meta  bool   `json:"meta,omitempty"`
	Mode  uint32 `json:"mode,omitempty"`
	Chown bool   `json:"chown,omitempty"`
	UID   int    `json:"uid,omitempty"`
	GID   int    `json:"gid,omitempty"`
}

// metaOp is the Meta step of a copied-up directory whose mode or owner the sandbox changed
// (chmod, chown): nothing else of it is replaced. ok is false when nothing changed.
func metaOp(p string, ust, lst *unix.Stat_t) (o op, ok bool) {
	chown := ust.Uid != lst.Uid || ust.Gid != lst.Gid
	if ust.Mode&0o7777 == lst.Mode&0o7777 && !chown {
		return op{}, false
	}
	return op{Rel: p, Meta: true, Mode: ust.Mode & 0o7777, Chown: chown, UID: int(ust.Uid), GID: int(ust.Gid)}, true
}

// Changes lists what the layer changed in its workdir, sorted by path.
func (l *Layer) Changes() ([]Change, error) {
	if err := l.Reachable(); err != nil {
		return nil, err
	}
	wd, done, err := l.openWorkdir()
	if err != nil {
		return nil, err
	}
	defer done()
	cs, _, err := diff(l.Upper(), wd)
	return cs, err
}

// diff walks upper against lower: the change list and the commit's steps.
func diff(upper, lower string) ([]Change, []op, error) {
	d := differ{linked: map[[2]uint64]string{}}
	err := d.walk(upper, lower, "", false)
	if err == nil && len(d.linked) > 0 {
		err = d.relink(upper, lower)
	}
	sort.Slice(d.changes, func(i, j int) bool { return d.changes[i].Path < d.changes[j].Path })
	return d.changes, metaLast(d.ops), err
}

// relink makes the other names of a hard-linked workdir file the layer wrote through one name
// land as links to the written file, as a write through one name changes them all on a plain
// file system (overlayfs copies up the written name alone). A name the layer itself changed,
// or one under a directory it replaced, removed or renamed, is left to its own step.
func (d *differ) relink(upper, lower string) error {
	// lower may be the commit's descriptor link (/proc/self/fd/N): the slash walks what it names.
	return filepath.WalkDir(lower+"/", func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil // unreadable parts of the workdir hold no name to relink
		}
		st, ok := lstat(path)
		if !ok || st.Nlink < 2 {
			return nil
		}
		to := d.linked[[2]uint64{st.Dev, st.Ino}]
		rel, rerr := filepath.Rel(lower, path)
		if to == "" || rerr != nil || rel == to || touched(upper, rel) {
			return nil
		}
		d.add("M", rel)
		d.ops = append(d.ops, op{Rel: rel, LinkTo: to})
		return nil
	})
}

// touched reports whether the layer has anything at rel or above it that decides rel: an
// entry of its own, or an ancestor that is not a plain copied-up directory.
func touched(upper, rel string) bool {
	p := upper
	for _, c := range strings.Split(filepath.Dir(rel), "/") {
		if c == "." {
			break
		}
		p = filepath.Join(p, c)
		st, ok := lstatIn(upper, p) // the layer's, read beneath it without a symlink
		if !ok {
			return false // nothing of the layer below here
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || isOpaqueIn(upper, p) || redirectIn(upper, p) != "" {
			return true
		}
	}
	_, ok := lstatIn(upper, filepath.Join(upper, rel))
	return ok
}

func isReg(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFREG }

// metaLast moves the Meta steps after the others, deepest first: a directory made read-only
// (chmod 500) is so only once every entry has been renamed into it and into those beneath it.
func metaLast(ops []op) []op {
	var rest, meta []op
	for _, o := range ops {
		if o.Meta {
			meta = append(meta, o)
		} else {
			rest = append(rest, o)
		}
	}
	slices.Reverse(meta) // the walk visits a directory before what is beneath it
	return append(rest, meta...)
}

type differ struct {
	changes []Change
	ops     []op
	// linked: the workdir files with other names (hard links) that the layer wrote through
	// one name, by device and inode, to that name ("" when it wrote two of them).
	linked map[[2]uint64]string
}

func (d *differ) add(kind, rel string) { d.changes = append(d.changes, Change{kind, rel}) }

// walk visits the upper directory rel. hidden: the lower's entries under rel are hidden (an
// opaque directory above, or a new one), so the upper's subtree is the whole content and
// only names matter.
func (d *differ) walk(upper, lower, rel string, hidden bool) error {
	ents, err := readDirIn(upper, filepath.Join(upper, rel))
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(rel, e.Name())
		ust, err := lstatInErr(upper, filepath.Join(upper, p))
		if errors.Is(err, unix.ENOENT) {
			continue // gone since the listing (a process of the sandbox still running): nothing to land
		}
		if err != nil {
			return fmt.Errorf("%w (or not beneath %s without a symlink)", err, upper)
		}
		lst, inLower := lstatIn(lower, filepath.Join(lower, p))
		if err := d.entry(upper, lower, p, ust, lst, inLower, hidden); err != nil {
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
			if inLower && lst.Nlink > 1 && isReg(lst) && isReg(ust) {
				key := [2]uint64{lst.Dev, lst.Ino}
				if _, twice := d.linked[key]; twice {
					p = "" // written through two names: which the others follow is anyone's guess
				}
				d.linked[key] = p
			}
		}
		return nil
	}
	up := filepath.Join(upper, p)
	r := redirectIn(upper, up)
	lowerDir := inLower && lst.Mode&unix.S_IFMT == unix.S_IFDIR
	if r == "" && lowerDir && !hidden && !isOpaqueIn(upper, up) {
		// A copied-up directory: what is under it, and its own mode and owner.
		if o, ok := metaOp(p, ust, lst); ok {
			d.add("M", p)
			d.ops = append(d.ops, o)
		}
		return d.walk(upper, lower, p, false)
	}
	// A new directory, one made again after its removal (opaque), or one renamed from
	// elsewhere in the lower (a redirect): its content is all the upper's, merged with the
	// redirect's source.
	from := ""
	if r != "" {
		from = redirectTarget(filepath.Dir(p), r)
	}
	if lowerDir && r == "" && !hidden {
		d.add("M", p)
		d.deletedBeneath(upper, lower, p)
	} else {
		d.add(kindOf(inLower && !hidden), p)
	}
	if !hidden {
		d.ops = append(d.ops, op{Rel: p, Dir: true, Lower: from})
	}
	fromDir := ""
	if from != "" {
		fromDir = filepath.Join(lower, from)
	}
	return mergeNames(fromDir, up, lower, upper, func(rel string) {
		q := filepath.Join(p, rel)
		_, there := lstatIn(lower, filepath.Join(lower, q))
		d.add(kindOf(there && lowerDir && !hidden), q)
	})
}

// source is where one name of a merged directory comes from: its upper entry ("" for none)
// and, for a directory, the lower directory merged under it ("" for none).
type source struct{ upper, lower string }

// merged lists a merged directory as overlayfs shows it: lowerDir ("" for none) under upperDir
// ("" for none), whiteouts hiding lower names, opaque directories hiding the whole lower, and
// renamed directories (redirects) taking their content from elsewhere in the lower. Each
// directory is read beneath its root (lowerRoot, upperRoot; beneath.go).
func merged(lowerDir, upperDir, lowerRoot, upperRoot string) (map[string]source, error) {
	out := map[string]source{}
	if lowerDir != "" && (upperDir == "" || !isOpaqueIn(upperRoot, upperDir)) {
		ents, err := readDirIn(lowerRoot, lowerDir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			out[e.Name()] = source{lower: filepath.Join(lowerDir, e.Name())}
		}
	}
	if upperDir == "" {
		return out, nil
	}
	ents, err := readDirIn(upperRoot, upperDir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		up := filepath.Join(upperDir, e.Name())
		st, ok := lstatIn(upperRoot, up)
		switch {
		case !ok:
			continue
		case isWhiteout(st):
			delete(out, e.Name())
			continue
		case st.Mode&unix.S_IFMT != unix.S_IFDIR:
			out[e.Name()] = source{upper: up}
			continue
		}
		lo := out[e.Name()].lower
		if r := redirectIn(upperRoot, up); r != "" {
			lo = filepath.Join(lowerRoot, redirectTarget(relTo(lowerRoot, lowerDir), r))
		}
		if lo != "" && !isDirIn(lowerRoot, lo) {
			lo = ""
		}
		out[e.Name()] = source{upper: up, lower: lo}
	}
	return out, nil
}

// mergeNames calls fn with every path under a merged directory, sorted.
func mergeNames(lowerDir, upperDir, lowerRoot, upperRoot string, fn func(rel string)) error {
	m, err := merged(lowerDir, upperDir, lowerRoot, upperRoot)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fn(n)
		src := m[n]
		sub := func(rel string) { fn(filepath.Join(n, rel)) }
		switch {
		case src.upper != "" && isDirIn(upperRoot, src.upper):
			err = mergeNames(src.lower, src.upper, lowerRoot, upperRoot, sub)
		case src.upper == "" && isDirIn(lowerRoot, src.lower):
			err = lowerNames(src.lower, sub)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func lowerNames(dir string, fn func(rel string)) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			fn(relTo(dir, p))
		}
		return nil
	})
}

func relTo(base, p string) string {
	r, err := filepath.Rel(base, p)
	if err != nil || r == "." {
		return ""
	}
	return r
}

// redirectIn is a renamed directory's overlayfs redirect (p beneath root): the lower path it
// came from.
func redirectIn(root, p string) string {
	return dirXattrIn(root, p, "trusted.overlay.redirect")
}

// redirectTarget is a redirect as a path relative to the lower root: absolute ones are from
// the root, relative ones from the lower directory of the renamed directory's parent.
func redirectTarget(parentRel, r string) string {
	if strings.HasPrefix(r, "/") {
		return filepath.Clean(strings.TrimPrefix(r, "/"))
	}
	return filepath.Join(parentRel, r)
}

// deletedBeneath reports the lower's entries of the opaque directory p that the upper lacks.
func (d *differ) deletedBeneath(upper, lower, p string) {
	ents, _ := readDirIn(lower, filepath.Join(lower, p))
	for _, e := range ents {
		q := filepath.Join(p, e.Name())
		if st, ok := lstatIn(upper, filepath.Join(upper, q)); !ok || isWhiteout(st) {
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

// isOpaqueIn: the directory p beneath root hides its lower content (removed, then made again).
func isOpaqueIn(root, p string) bool {
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if strings.HasPrefix(dirXattrIn(root, p, name), "y") {
			return true
		}
	}
	return false
}
