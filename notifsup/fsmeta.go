package notifsup

import (
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// FSRule is one Landlock path rule as the supervisor checks it: the rules the kernel enforces
// for opens, applied to what Landlock does not govern (metadata). Paths are host paths.
type FSRule struct {
	Path     string
	Write    bool
	ListOnly bool `json:",omitempty"`
}

// FSMetaConfig configures the metadata feature.
type FSMetaConfig struct {
	Rules []FSRule
	// Reads also mediates what reads metadata (readlink, getxattr, listxattr): needed when the
	// policy's readable set is narrower than everything the process can name.
	Reads bool `json:",omitempty"`
	// Connect, when set, also mediates connect(2) and the sends that name an address (see
	// ConnectConfig).
	Connect *ConnectConfig `json:",omitempty"`
	// Carve, when set, is fs_denied's carving (see FSCarve): the metadata of what the
	// supervisor mediates there is allowed by the carved rules, not by Rules.
	Carve *CarveConfig `json:",omitempty"`
	// Ports, when set (port_remap), virtualises the TCP ports the process binds (PortMap);
	// Connect must be set too. Not part of the saved configuration: made by the supervisor.
	Ports *PortMap `json:"-"`
}

// fsMeta is the feature behind FSMeta.
type fsMeta struct {
	given   []FSRule
	connect ConnectConfig
	rules   []FSRule            // given, canonical: made by Start, in the supervisor, off the container's start
	hosts   map[netip.Addr]bool // connect.AllowHosts
	ports   *PortMap            // port_remap, or nil
	mounts  sync.Map            // rootKey -> *mountTable: the mounts as seen from each root
	carve   *carveModel
}

// FSMeta mediates the metadata syscalls Landlock has no access right for: chmod, chown,
// utimes, extended attributes and inode flags are allowed only on objects the policy lets the
// process write, and (with c.Reads) readlink, getxattr and listxattr only where it may read.
//
// Each call is performed on behalf of the process, never checked and then continued: the path
// is copied out of the process once, resolved (O_PATH) on a thread that sees the file system
// as the process does and holds its credentials (fsView), the object behind that fd is checked
// against the rules, and the operation is done on that very fd. What the process does to its
// memory afterwards cannot change which object is acted on; a rename after the check moves an
// object the process was allowed to change.
func FSMeta(c FSMetaConfig) Feature {
	m := &fsMeta{given: c.Rules}
	if c.Carve != nil {
		m.carve = newCarveModel(*c.Carve, c.Rules)
	}
	f := Feature{Name: "fs-metadata", Handlers: map[string]Handler{}, Ioctls: map[uint32]Handler{},
		Start: func() { m.rules = canonicalRules(m.given) }}
	for name, op := range metaWriteOps {
		f.Handlers[name] = m.handler(name, op, true)
	}
	for req, op := range ioctlOps {
		f.Ioctls[req] = m.handler("ioctl", op, true)
	}
	if c.Connect != nil {
		m.connect = *c.Connect
		m.hosts = parseHosts(c.Connect.AllowHosts)
		f.Handlers["connect"] = m.connectHandler
		f.Handlers["sendto"] = m.sendtoHandler
		f.Handlers["sendmsg"] = m.sendmsgHandler
		f.Handlers["sendmmsg"] = m.sendmmsgHandler
		if c.Ports != nil {
			m.ports = c.Ports
			f.Handlers["bind"] = pinned(false, m.bindHandler)
			f.Handlers["getsockname"] = m.nameHandler(false)
			f.Handlers["getpeername"] = m.nameHandler(true)
		}
	}
	if c.Reads {
		for name, op := range metaReadOps {
			f.Handlers[name] = m.handler(name, op, false)
		}
	}
	return f
}

// mountsFrom is the mount table as seen from the worker's current root.
func (m *fsMeta) mountsFrom(w *worker) *mountTable {
	mt, _ := m.mounts.LoadOrStore(w.root, &mountTable{})
	return mt.(*mountTable)
}

// canonicalRules resolves symlinks in the rule paths, as opening them for Landlock did: the
// checks compare them with the kernel's name for an object, which has none.
func canonicalRules(rs []FSRule) []FSRule {
	out := make([]FSRule, 0, len(rs))
	for _, r := range rs {
		p, err := filepath.EvalSymlinks(r.Path)
		if err != nil {
			continue // a missing path got no Landlock rule either
		}
		r.Path = p
		out = append(out, r)
	}
	return out
}

// allowed answers whether the rules grant reading (or writing) the object named p, the way
// Landlock grants it: by a rule on p or on a directory above it. A list-only rule (what
// fs_denied leaves above a denied path) lets only that directory itself be read.
func (m *fsMeta) allowed(p string, write bool) bool {
	return m.allowedBy(p, write, true)
}

// allowedBy is allowed, where self says whether a rule on p itself counts: a rule on a device
// node (the /dev/null, /dev/tty a sandbox is always given) grants using the device, not
// changing the host's inode, so its metadata needs a writable directory above it.
func (m *fsMeta) allowedBy(p string, write, self bool) bool {
	r, w := grants(m.rules, p, self)
	if write {
		return w
	}
	return r
}

// grants is what rules grant on the host path p, the way Landlock grants it (see allowed);
// self: a rule on p itself counts.
func grants(rules []FSRule, p string, self bool) (read, write bool) {
	for _, r := range rules {
		if !within(p, r.Path) || !self && p == r.Path {
			continue
		}
		if r.ListOnly {
			read = read || p == r.Path
			continue
		}
		read, write = true, write || r.Write
	}
	return read, write
}

// objArgs says where a syscall names its object: a dirfd and path, or an fd (-1 = absent).
type objArgs struct {
	dir, path, fd, flags int
	nofollow             bool // the l* variants
	nullPathIsFD         bool // utimensat: a NULL path means dirfd itself
	// nofollowBit, when set, is the bit of the flags argument that means "do not follow"
	// (inotify_add_watch's IN_DONT_FOLLOW in its mask), instead of AT_SYMLINK_NOFOLLOW; such
	// flags have no AT_EMPTY_PATH.
	nofollowBit uint32
}

// metaOp is one syscall: where its object is, and how to prepare the operation (reading the
// rest of its arguments from the process) to run on the resolved object.
type metaOp struct {
	obj     objArgs
	prepare func(t *target, a []uint64) (action, error)
	// selfLink, for readlink, answers for the link /proc/self (or thread-self) itself, which on
	// the supervisor's thread would name the supervisor.
	selfLink func(t *target, a []uint64, target string) (uint64, error)
}

// action performs the operation on fd, on the thread holding the process's view; fdBased
// says fd is the process's own open file (pidfd_getfd), not an O_PATH resolved for it.
type action func(fd int, fdBased bool) (uint64, error)

func (m *fsMeta) handler(name string, op metaOp, write bool) Handler {
	return func(c *Call) seccomp.ScmpNotifResp {
		v, err := m.handle(c, op, write)
		if err != nil {
			c.report(name, err)
			return errnoResp(errnoOf(err))
		}
		return seccomp.ScmpNotifResp{Val: v}
	}
}

func (m *fsMeta) handle(c *Call, op metaOp, write bool) (uint64, error) {
	t, err := pinTarget(c.Listener, c.Req, !write)
	if err != nil {
		return 0, err
	}
	defer t.close()
	a := c.Req.Data.Args
	do, err := op.prepare(t, a)
	if err != nil {
		return 0, err
	}
	o, err := t.object(op.obj, a)
	if err != nil {
		return 0, err
	}
	defer o.close()
	if o.selfLink != "" && op.selfLink != nil {
		return op.selfLink(t, a, o.selfLink)
	}
	w := c.w
	if o.fd >= 0 {
		// The process's own fd: checked from the host's root, where the kernel's name for
		// it is unambiguous (it may lie outside the process's root).
		if err := w.takeHostRoot(); err != nil {
			return 0, err
		}
		if err := m.check(w, t, o.fd, write, true); err != nil {
			return 0, err
		}
		return w.inView(t, noCwd, func() (uint64, error) { return do(o.fd, !o.byName) })
	}
	dirfd := o.dirfd
	if strings.HasPrefix(o.path, "/") {
		dirfd = noCwd
	}
	return w.inView(t, dirfd, func() (uint64, error) {
		fd, err := w.resolvePath(o.path, o.nofollow)
		if err != nil {
			return 0, err
		}
		defer unix.Close(fd)
		// Resolved in the process's root without magic links: reachable from that root,
		// so the kernel's name for it, relative to the root, is unambiguous.
		if err := m.check(w, t, fd, write, false); err != nil {
			return 0, err
		}
		return do(fd, false)
	})
}

// check decides on the object open as fd: allowed when the rules grant the access on the
// kernel's own name for it. An fd the process holds on an object outside every mount of the
// host (a pipe, a socket, a memfd) names no file of the host and is allowed. /proc is checked
// by owner: its entries are not files of the host, and on behalf of the process the supervisor
// must not read another process's (see checkProc).
func (m *fsMeta) check(w *worker, t *target, fd int, write, fdBased bool) error {
	name, err := fdName(fd)
	if err != nil {
		return unix.EACCES
	}
	if !strings.HasPrefix(name, "/") {
		if fdBased {
			return nil
		}
		return unix.EACCES
	}
	name = strings.TrimSuffix(name, " (deleted)")
	mnt, known := m.mountsFrom(w).lookup(fd)
	if fdBased && !known && unnamed(fd) {
		return nil
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return unix.EACCES
	}
	if sfs.Type == unix.PROC_SUPER_MAGIC {
		return m.checkProc(w, t, name, mnt, write)
	}
	if host := w.hostName(name); m.carve != nil && !isDevice(fd) && m.carve.mediated(host) {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return unix.EACCES
		}
		if err := m.carve.check(host, &st); err != nil {
			return err
		}
		return m.carve.need(host, true, write)
	}
	if !m.allowedBy(w.hostName(name), write, !(write && isDevice(fd))) {
		return refuse(unix.EACCES, name, ruleFor(write)) // as the process names it
	}
	return nil
}

// unnamed: fd's file has no name left in any directory (a memfd, a SysV segment, an unlinked
// file), so what is done to it reaches only those who hold it open. A mount the host's table
// lacks is not enough to tell an internal one: in a copy-on-write workdir's mount namespace
// every mount has an ID of its own, and every host file reached through them was taken for a
// memfd and changed (fchmod, fchown, futimens, fsetxattr, the flag ioctls).
func unnamed(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Nlink == 0
}

// isDevice: fd is open on a character or block device node.
func isDevice(fd int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return true // fail closed: treated as a device, needing a directory rule
	}
	t := st.Mode & unix.S_IFMT
	return t == unix.S_IFCHR || t == unix.S_IFBLK
}

// ruleFor names the policy field a refusal comes from.
func ruleFor(write bool) string {
	if write {
		return "fs_writable"
	}
	return "fs_readable"
}

// checkProc: metadata of /proc entries cannot be changed (the kernel refuses most of it
// anyway); it can be read where the rules let the process read and the entry is its own or its
// container's. name and mountpoint are relative to the worker's root.
func (m *fsMeta) checkProc(w *worker, t *target, name, mountpoint string, write bool) error {
	if write {
		return refuse(unix.EPERM, name, "/proc metadata is never changed")
	}
	if !m.allowed(w.hostName(name), false) {
		return refuse(unix.EACCES, name, "fs_readable")
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(name, mountpoint), "/")
	first, _, _ := strings.Cut(rel, "/")
	pid, err := strconv.Atoi(first)
	if err != nil || pid == t.tgid || sameCgroup(t.tgid, pid) {
		return nil // not a process's entry, or one of the process's own container
	}
	// ENOENT, as if absent: another errno than for a missing pid would tell that it exists.
	return refuse(unix.ENOENT, name, "another process's /proc entry")
}

// sameCgroup: both processes are in the same cgroup2 directory (the container's).
func sameCgroup(a, b int) bool {
	ca, oka := procCgroup(a)
	cb, okb := procCgroup(b)
	return oka && okb && ca != "/" && ca == cb
}

// procCgroup is pid's cgroup2 directory (its /proc/PID/cgroup line "0::PATH"), and false when
// it cannot be read or the process has none.
func procCgroup(pid int) (string, bool) {
	b, err := procRead(strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return "", false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p, true
		}
	}
	return "", false
}
