package confine

import (
	"cmp"
	"io/fs"

	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// Carving describes what fs_denied's carving took from Landlock, for the supervisor
// (notifsup.FSCarve, docs/design.md "fs_denied"): in the carved directories (a carved rule's
// path and every directory between it and a denied path) Landlock grants at most listing, so
// creating there, and using what is created there after the plan, is done by the supervisor on
// the process's behalf, with the carved rule's rights and never on a denied object.
type Carving struct {
	// Rules are the rules the carving replaced, as they were (canonical host paths).
	Rules []CarvedRule
	// Dirs are the carved directories (host paths).
	Dirs []string
	// Present are, for each carved directory, the entries it had when the plan was made, by
	// name, with their (device, inode): what Landlock decides on (their own rule, or none).
	// An entry made later has no rule; the supervisor grants it.
	Present map[string]map[string][2]uint64
	// Denied are the denied paths with their identity when they exist.
	Denied []DeniedObject
	// Inodes are every denied file's (device, inode): a denied path's, and those of the
	// files beneath a denied directory that have other names. Another name of one is denied.
	Inodes [][2]uint64 `json:",omitempty"`
}

// CarvedRule is one rule fs_denied carved, with its rights.
type CarvedRule struct {
	Path  string
	Write bool
	Exec  bool `json:",omitempty"`
}

// DeniedObject is one denied path on the host.
type DeniedObject struct {
	Path string
	Dir  bool `json:",omitempty"`
}

// linkSearchMax bounds the entries preexistingLinks looks at, so a policy denying a file with
// other names under a rule on a large tree (the direct mode's "/") does not stall create.
const linkSearchMax = 200000

// deniedMax bounds the entries of one denied directory looked at for files with other names.
const deniedMax = 20000

func deniedObjects(denied []deniedPath) []DeniedObject {
	out := make([]DeniedObject, 0, len(denied))
	for _, d := range denied {
		out = append(out, DeniedObject{Path: d.path, Dir: d.dir})
	}
	return out
}

// deniedInodes are the identities of the denied files, and of the files beneath a denied
// directory that have more than one name (only those can be reached by another name).
func deniedInodes(denied []deniedPath) map[[2]uint64]bool {
	inodes := map[[2]uint64]bool{}
	for _, d := range denied {
		switch {
		case !d.ok:
		case !d.dir:
			inodes[d.ino] = true
		default:
			for _, ino := range linkedBeneath(d.path) {
				inodes[ino] = true
			}
		}
	}
	return inodes
}

// linkedBeneath lists the files under dir (one file system) that have other names.
func linkedBeneath(dir string) [][2]uint64 {
	var out [][2]uint64
	n := 0
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if n++; err != nil || n > deniedMax {
			return filepath.SkipDir
		}
		if e.IsDir() || e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) == nil && st.Nlink > 1 {
			out = append(out, [2]uint64{st.Dev, st.Ino})
		}
		return nil
	})
	return out
}

// preexistingLinks finds the other names, under the rules' paths, of the denied files that have
// more than one name, so that they are denied too: Landlock cannot tell two names of one file
// apart, so a rule on a directory holding another name would grant the denied file. The search
// stays on the denied file's file system (a hard link cannot cross one), skips what is denied
// anyway, and stops when every other name is found or after linkSearchMax entries
// (docs/policy.md says so).
func preexistingLinks(rules []PathRule, denied []deniedPath) []deniedPath {
	want := map[[2]uint64]int{} // inode -> names still to find
	for _, d := range denied {
		var st unix.Stat_t
		if d.ok && !d.dir && unix.Lstat(d.path, &st) == nil && st.Nlink > 1 {
			want[d.ino] = int(st.Nlink) - 1
		}
	}
	if len(want) == 0 {
		return nil
	}
	s := linkSearch{want: want, denied: denied, seen: map[string]bool{}}
	// The rules holding a denied file first: another name is likeliest near it, and the
	// bound is then spent where it matters most.
	rules = slices.Clone(rules)
	holds := func(r PathRule) bool {
		return slices.ContainsFunc(denied, func(d deniedPath) bool { return within(d.path, canonical(r.Path)) })
	}
	slices.SortStableFunc(rules, func(a, b PathRule) int {
		ha, hb := holds(a), holds(b)
		switch {
		case ha && !hb:
			return -1
		case hb && !ha:
			return 1
		case ha && hb: // the nearer rule first: "/" last
			return len(canonical(b.Path)) - len(canonical(a.Path))
		}
		return 0
	})
	for _, r := range rules {
		if !r.ListOnly && len(s.want) > 0 && s.n < linkSearchMax {
			s.walk(canonical(r.Path))
		}
	}
	return s.found
}

type linkSearch struct {
	want   map[[2]uint64]int
	denied []deniedPath
	seen   map[string]bool
	found  []deniedPath
	n      int
}

func (s *linkSearch) walk(root string) {
	if s.seen[root] {
		return
	}
	s.seen[root] = true
	devs := map[uint64]bool{}
	for ino := range s.want {
		devs[ino[0]] = true
	}
	_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if s.n++; s.n > linkSearchMax || len(s.want) == 0 {
			return filepath.SkipAll
		}
		if err != nil {
			if e != nil && e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if slices.ContainsFunc(s.denied, func(d deniedPath) bool { return within(p, d.path) }) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			return nil
		}
		if e.IsDir() {
			if !devs[st.Dev] {
				return filepath.SkipDir // another file system: no link to the denied files
			}
			return nil
		}
		ino := [2]uint64{st.Dev, st.Ino}
		if left, ok := s.want[ino]; ok {
			s.found = append(s.found, deniedPath{path: p, ino: ino, ok: true})
			if left <= 1 {
				delete(s.want, ino)
			} else {
				s.want[ino] = left - 1
			}
		}
		return nil
	})
}

func cmpInode(a, b [2]uint64) int {
	if c := cmp.Compare(a[0], b[0]); c != 0 {
		return c
	}
	return cmp.Compare(a[1], b[1])
}
