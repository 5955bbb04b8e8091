package notifsup

import (
	"strings"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// CarveConfig describes fs_denied's carving (confine.Carving, copied by lifecycle): Landlock
// grants at most listing in the carved directories, and the supervisor grants what the carved
// rules granted there, never on a denied object. Paths are host paths.
type CarveConfig struct {
	// Rules are the rules the carving replaced, with their rights.
	Rules []FSRule
	// Dirs are the carved directories: each carved rule's path and every directory between it
	// and a denied path.
	Dirs []string
	// Present are the entries of each carved directory when the plan was made (name ->
	// device and inode): Landlock decides on those, by their own rule or the lack of one.
	Present map[string]map[string][2]uint64
	// Denied are the denied paths; a denied directory denies everything beneath it.
	Denied []DeniedPath
	// Inodes are the (device, inode) of every denied file: another name of one is denied.
	Inodes [][2]uint64 `json:",omitempty"`
}

// DeniedPath is one denied path on the host.
type DeniedPath struct {
	Path string
	Dir  bool `json:",omitempty"`
}

// carveModel answers, for a host path, whether the supervisor mediates it and with which
// rights, and whether it is denied.
type carveModel struct {
	cfg    CarveConfig
	final  []FSRule // the Landlock rules in force
	inodes map[[2]uint64]bool
	dirs   map[string]bool
}

func newCarveModel(c CarveConfig, final []FSRule) *carveModel {
	m := &carveModel{cfg: c, final: final, inodes: map[[2]uint64]bool{}, dirs: map[string]bool{}}
	for _, ino := range c.Inodes {
		m.inodes[ino] = true
	}
	for _, d := range c.Dirs {
		m.dirs[d] = true
	}
	return m
}

func hostLstat(p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	rel := strings.TrimPrefix(p, "/")
	if rel == "" {
		rel = "."
	}
	err := unix.Fstatat(hostRoot, rel, &st, unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// mediated: p lies where Landlock no longer grants what the carved rules granted: a carved
// directory itself, or beneath one but not beneath an entry it had when the plan was made
// (those Landlock decides on: their own rule, or none for a denied path, another name of a
// denied file, or what another carving took, such as the host's devices). An entry made
// later, or one that replaced an entry of that name, is covered by no rule: it is the
// supervisor's to grant.
func (m *carveModel) mediated(p string) bool {
	d := ""
	for dir := range m.dirs {
		if within(p, dir) && len(dir) >= len(d) {
			d = dir
		}
	}
	switch {
	case d == "":
		return false
	case p == d:
		return true
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(p[len(d):], "/"), "/")
	id, ok := m.cfg.Present[d][first]
	if !ok {
		return true
	}
	hostFDs()
	st, err := hostLstat(joinPath(d, first))
	return err != nil || [2]uint64{st.Dev, st.Ino} != id
}

// rights are what the rules grant on p: the carved rules where p is mediated, the Landlock
// rules (as fsMeta reads them) elsewhere.
func (m *carveModel) rights(p string) (read, write bool) {
	rules := m.final
	if m.mediated(p) {
		rules = m.cfg.Rules
	}
	return grants(rules, p, true)
}

// deniedName: p is a denied path or beneath a denied directory.
func (m *carveModel) deniedName(p string) bool {
	for _, d := range m.cfg.Denied {
		if within(p, d.Path) {
			return true
		}
	}
	return false
}

// holdsDenied: p is above a denied path (a carved directory or rule): moving or removing it
// would move the denied path out from under its name.
func (m *carveModel) holdsDenied(p string) bool {
	for _, d := range m.cfg.Denied {
		if within(d.Path, p) {
			return true
		}
	}
	return false
}

// check refuses a denied object: by its name, or by its identity (another name of a denied
// file); st is nil for a name that does not exist.
func (m *carveModel) check(p string, st *unix.Stat_t) error {
	if m.deniedName(p) || (st != nil && m.inodes[[2]uint64{st.Dev, st.Ino}]) {
		return refuse(unix.EACCES, p, "fs_denied")
	}
	return nil
}

// checkMove is check for an object being renamed, replaced or removed: a directory above a
// denied path is refused too.
func (m *carveModel) checkMove(p string, st *unix.Stat_t) error {
	if m.holdsDenied(p) {
		return refuse(unix.EACCES, p, "fs_denied")
	}
	return m.check(p, st)
}

// need refuses when the rules do not grant reading (or writing) p.
func (m *carveModel) need(p string, read, write bool) error {
	r, w := m.rights(p)
	if write && !w {
		return refuse(unix.EACCES, p, "fs_writable")
	}
	if read && !r {
		return refuse(unix.EACCES, p, "fs_readable")
	}
	return nil
}

// within reports whether p is dir or lies beneath it.
func within(p, dir string) bool {
	return p == dir || dir == "/" && strings.HasPrefix(p, "/") || strings.HasPrefix(p, dir+"/")
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// FSCarve gives back what fs_denied's carving took from Landlock, without the denied objects
// (docs/design.md "fs_denied", docs/security.md): in a carved directory (W, for fs_writable
// [W] and fs_denied [W/secret]) Landlock grants only listing, so the supervisor creates,
// opens, links, renames and removes there on the process's behalf, with the rights of the
// carved rule, and never on a denied object, whatever the spelling.
//
// Every call is decided on a path copied once and resolved by the supervisor in the process's
// view (openat2 with RESOLVE_NO_MAGICLINKS, plus the caller's own resolve flags), and the
// operation is done on the directory or object fd that was checked: one component from a
// checked directory fd, or a reopen of the checked object through /proc/thread-self/fd. An
// opened file is given to the process with SECCOMP_IOCTL_NOTIF_ADDFD; if that fails, the call
// fails (never continues).
//
// A call the supervisor does not mediate (resolved outside the carved directories, or onto
// what they held at create, device nodes and kernel file systems, or not resolvable by the
// supervisor) is NotMine, and the kernel runs it with the process's memory, which may by then name something else (a thread flipping
// the path buffer). That is safe because Landlock alone never grants a denied object: the
// carving left no rule on a denied path, on a directory above one (only READ_DIR, which grants
// no file), or on another name of a denied file (carved out by inode, pre-existing links
// included), and links and renames of a denied object are refused by Landlock too (no
// rights on the directories that hold it; REFER). Losing the race makes the kernel refuse what
// the supervisor would have done, never grant what it would have refused.
func FSCarve(c FSMetaConfig) Feature {
	m := newCarveModel(*c.Carve, c.Rules)
	f := Feature{Name: "fs-denied", Handlers: map[string]Handler{}}
	for name, op := range carveOps {
		f.Handlers[name] = m.handler(name, op)
	}
	return f
}

// carveResult is a handler's outcome: NotMine, a value, or an fd to give the process.
type carveResult struct {
	notMine bool
	val     uint64
	fd      int // >= 0: inject it
	cloexec bool
	fifo    bool   // fd is an O_PATH on a FIFO, to open with flags off the worker (openFIFO)
	flags   uint64 // the open flags, for fifo
}

var notMine = carveResult{notMine: true, fd: -1}

func value(v uint64) carveResult { return carveResult{val: v, fd: -1} }

// carveCall is one call being handled: its target, arguments and what it opened.
type carveCall struct {
	m     *carveModel
	c     *Call
	t     *target
	a     []uint64
	fds   []int
	objs  []*object
	inCwd bool // the worker has taken the process's cwd
}

// cwd makes the process's working directory the worker's, once per call: for a path relative
// to it.
func (cc *carveCall) cwd() error {
	if cc.inCwd {
		return nil
	}
	fd, err := cc.t.cwdFD()
	if err != nil {
		return err
	}
	if err := unix.Fchdir(fd); err != nil {
		return err
	}
	cc.inCwd = true
	return nil
}

func (cc *carveCall) track(fd int) int {
	cc.fds = append(cc.fds, fd)
	return fd
}

func (cc *carveCall) close() {
	for _, fd := range cc.fds {
		unix.Close(fd)
	}
	for _, o := range cc.objs {
		o.close()
	}
}

type carveOp func(cc *carveCall) (carveResult, error)

func (m *carveModel) handler(name string, op carveOp) Handler {
	return pinned(false, func(c *Call, t *target) seccomp.ScmpNotifResp {
		cc := &carveCall{m: m, c: c, t: t, a: c.Req.Data.Args}
		defer cc.close()
		var r carveResult
		// noCwd: the process's cwd is taken only by a relative path that needs it (cwd).
		_, err := c.w.inView(t, noCwd, func() (uint64, error) {
			var err error
			r, err = op(cc)
			return 0, err
		})
		switch {
		case err != nil:
			c.report(name, err)
			return errnoResp(errnoOf(err))
		case r.notMine:
			return NotMine()
		case r.fifo:
			c.openFIFO(r.fd, r.flags, r.cloexec, t.creds.threadCreds())
			return seccomp.ScmpNotifResp{}
		case r.fd >= 0:
			return c.InjectFD(r.fd, r.cloexec)
		}
		return seccomp.ScmpNotifResp{Val: r.val}
	})
}

// object copies the path argument(s) of the call (see target.object).
func (cc *carveCall) object(spec objArgs) (*object, error) {
	o, err := cc.t.object(spec, cc.a)
	if o != nil {
		cc.objs = append(cc.objs, o)
	}
	return o, err
}

// hostOf is the host path of what fd (resolved in the view) is open on, "" when it has none.
func (cc *carveCall) hostOf(fd int) string {
	name, err := fdName(fd)
	if err != nil || !strings.HasPrefix(name, "/") || strings.HasSuffix(name, " (deleted)") {
		return ""
	}
	return cc.c.w.hostName(name)
}
