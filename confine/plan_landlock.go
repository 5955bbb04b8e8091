package confine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/openat2"
	"github.com/sandlock/sandlock-runtime/spec"
)

// maxPortRules caps the ports one of net_bind / net_connect may expand to: Landlock has no
// port ranges, so every port is one rule, and a range over a large part of the port space is
// more likely a mistake than a policy.
const maxPortRules = 4096

// landlockPlan adds the policy's Landlock fields to the runtime's base rules (docs/policy.md,
// "Filesystem and port rules"): fs_readable / fs_writable replace the rootfs-wide rule,
// gpu_devices adds device rules, fs_denied carves its paths out of every rule, and net_bind /
// net_connect become TCP port rules.
func landlockPlan(p spec.Policy, base LandlockConfig, root string) (LandlockConfig, error) {
	c := base
	c.DenyTCP = c.DenyTCP || p.NetworkDenied()
	c.ScopeSignal = c.ScopeSignal || p.SignalsIsolated()
	// no_network scopes abstract unix sockets too: they live in the network namespace, so
	// the network namespace no_network stands for hides the host's (containerd's shim, X11,
	// D-Bus) even without an ipc namespace or isolate_ipc.
	c.ScopeAbstractUnix = c.ScopeAbstractUnix || p.IPCIsolated() || p.NetworkDenied()
	if err := checkPolicyABI(p, LandlockABI()); err != nil {
		return c, err
	}
	var err error
	if c.Paths, c.Carved, err = fsPlan(p, base.Paths, root); err != nil {
		return c, err
	}
	if c.BindTCP, err = expandPorts("net_bind", p.NetBind); err != nil {
		return c, err
	}
	c.ConnectTCP, err = expandPorts("net_connect", p.NetConnect)
	return c, err
}

// checkPolicyABI refuses, at create, a policy whose fields the kernel's Landlock cannot
// enforce, naming the field (the seed has no best-effort switch, so nothing is dropped
// silently). Filesystem fields need ABI 1, which every Landlock has.
func checkPolicyABI(p spec.Policy, abi int) error {
	for _, f := range []struct {
		name string
		set  bool
	}{{"net_bind", len(p.NetBind) > 0}, {"net_connect", len(p.NetConnect) > 0}} {
		if f.set && abi < abiNetTCP {
			return fmt.Errorf("%s needs Landlock ABI %d, kernel has %d", f.name, abiNetTCP, abi)
		}
	}
	return nil
}

// fsPlan computes the path rules: the base (or the policy's allowlist in place of the
// rootfs-wide rule), the GPU devices, then fs_denied carved out of all of them; the carving is
// described for the supervisor, which mediates what Landlock can no longer grant (Carving).
func fsPlan(p spec.Policy, base []PathRule, root string) ([]PathRule, *Carving, error) {
	rules := slices.Clone(base)
	if len(p.FSReadable)+len(p.FSWritable) > 0 {
		var err error
		if rules, err = allowlist(p, base, root); err != nil {
			return nil, nil, err
		}
	}
	dev := filepath.Join(root, "dev")
	rules = append(rules, gpuRules(p, dev)...)
	deny := append(slices.Clone(p.FSDenied), unselectedGPUs(p, dev)...)
	if len(deny) == 0 {
		return rules, nil, nil
	}
	denied, err := resolveDenied(deny, root)
	if err != nil {
		return nil, nil, err
	}
	denied = append(denied, preexistingLinks(rules, denied)...)
	cv := carver{denied: denied, inodes: deniedInodes(denied), info: &Carving{}}
	out, err := cv.all(rules)
	if err != nil {
		return nil, nil, err
	}
	if len(cv.info.Dirs) == 0 {
		return out, nil, nil
	}
	cv.info.Denied = deniedObjects(denied)
	for ino := range cv.inodes {
		cv.info.Inodes = append(cv.info.Inodes, ino)
	}
	slices.SortFunc(cv.info.Inodes, func(a, b [2]uint64) int { return cmpInode(a, b) })
	return out, cv.info, nil
}

// ---- fs_readable / fs_writable ----

// runtimeDevices are the device nodes every process expects to open; they stay writable when
// an allowlist replaces the rootfs rule (docs/policy.md lists them).
var runtimeDevices = []string{"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts"}

// allowlist drops the base rule on the rootfs itself (the one that grants the whole image)
// and adds the listed paths, the runtime's devices, and keeps the base's narrower rules (the
// writable mounts of a read-only root, host mode's devices).
func allowlist(p spec.Policy, base []PathRule, root string) ([]PathRule, error) {
	rootC := canonical(root)
	var rules []PathRule
	for _, r := range base {
		if canonical(r.Path) != rootC {
			rules = append(rules, r)
		}
	}
	for _, l := range []struct {
		field string
		paths []string
		write bool
	}{{"fs_readable", p.FSReadable, false}, {"fs_writable", p.FSWritable, true}} {
		listed, err := listedRules(l.field, l.paths, root, l.write)
		if err != nil {
			return nil, err
		}
		rules = append(rules, listed...)
	}
	for _, d := range runtimeDevices {
		if host, err := resolveIn(root, "/dev/"+d); err == nil {
			rules = append(rules, PathRule{Path: host, Write: true, NoSymlinks: true})
		}
	}
	return rules, nil
}

// listedRules resolves one list's container paths inside root. A path missing from the image
// is skipped: it grants nothing, and the seed's own example lists /lib64, which many images
// lack. Any other failure (a symlink loop, a permission error) names the field and path.
func listedRules(field string, paths []string, root string, write bool) ([]PathRule, error) {
	var rules []PathRule
	for _, path := range paths {
		host, err := resolveIn(root, path)
		if errors.Is(err, unix.ENOENT) {
			logrus.Debugf("%s: %s: not in the root, skipped", field, path)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", field, path, err)
		}
		rules = append(rules, PathRule{Path: host, Write: write, Exec: true, NoSymlinks: true})
	}
	return rules, nil
}

// resolveIn resolves container path p inside root as the container would see it (symlinks in
// the image stay inside root, even absolute ones and "..") and returns the host path of the
// object reached, with no symlink left in it.
func resolveIn(root, p string) (string, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(rfd)
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	rel := strings.TrimPrefix(p, "/")
	if rel == "" {
		rel = "." // the root itself: openat2 refuses an empty path
	}
	fd, err := openat2.Open(rfd, rel, &how)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	return os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
}

// canonical is the host path PrepareLandlock's open would reach for a base rule (it follows
// symlinks), so base rules and resolved policy paths compare as the same objects.
func canonical(p string) string {
	if c, err := filepath.EvalSymlinks(p); err == nil {
		return c
	}
	return filepath.Clean(p)
}

// ---- gpu_devices ----

var nvidiaGPU = regexp.MustCompile(`^nvidia[0-9]+$`)

// nvidiaControl are the NVIDIA nodes any GPU use needs besides the GPU's own /dev/nvidiaN.
var nvidiaControl = []string{"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"}

// gpuRules grants read and write (ioctl included) on the chosen GPUs' nodes under dev and on
// the control nodes, each a file rule, only for nodes that exist. gpu_devices unset adds
// nothing; [] means every /dev/nvidiaN.
func gpuRules(p spec.Policy, dev string) []PathRule {
	if p.GPUDevices == nil {
		return nil
	}
	names := slices.Clone(nvidiaControl)
	if p.AllGPUs() {
		ents, _ := os.ReadDir(dev)
		for _, e := range ents {
			if nvidiaGPU.MatchString(e.Name()) {
				names = append(names, e.Name())
			}
		}
	}
	for _, i := range p.GPUDevices {
		names = append(names, "nvidia"+strconv.Itoa(i))
	}
	caps, _ := os.ReadDir(filepath.Join(dev, "nvidia-caps"))
	for _, e := range caps {
		names = append(names, filepath.Join("nvidia-caps", e.Name()))
	}
	var rules []PathRule
	for _, n := range names {
		path := filepath.Join(dev, n)
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink == 0 && !fi.IsDir() {
			rules = append(rules, PathRule{Path: path, Write: true, NoSymlinks: true})
		}
	}
	return rules
}

// unselectedGPUs are the container paths of the /dev/nvidiaN a gpu_devices list leaves out.
// They are denied like fs_denied paths, so the list holds even where a base rule grants all
// of /dev (a writable rootfs). Unset and [] deny nothing: the bundle decides.
func unselectedGPUs(p spec.Policy, dev string) []string {
	if len(p.GPUDevices) == 0 {
		return nil
	}
	var out []string
	ents, _ := os.ReadDir(dev)
	for _, e := range ents {
		n := e.Name()
		i, err := strconv.Atoi(strings.TrimPrefix(n, "nvidia"))
		if nvidiaGPU.MatchString(n) && (err != nil || !slices.Contains(p.GPUDevices, i)) {
			out = append(out, "/dev/"+n)
		}
	}
	return out
}

// GPUEnv is the environment gpu_devices implies, for lifecycle to add to the process:
// CUDA_VISIBLE_DEVICES names the chosen GPUs so CUDA does not try the ones Landlock refuses,
// in PCI bus order, the order the driver numbers /dev/nvidiaN in (CUDA's default order is
// fastest first). Unset and [] (all) need nothing.
func GPUEnv(p spec.Policy) []string {
	if len(p.GPUDevices) == 0 {
		return nil
	}
	ids := make([]string, len(p.GPUDevices))
	for i, d := range p.GPUDevices {
		ids[i] = strconv.Itoa(d)
	}
	return []string{"CUDA_DEVICE_ORDER=PCI_BUS_ID", "CUDA_VISIBLE_DEVICES=" + strings.Join(ids, ",")}
}

// ---- net_bind / net_connect ----

// expandPorts turns a port list into one port per rule, sorted and without duplicates. nil
// (unset or empty: unrestricted) stays nil.
func expandPorts(field string, ports []spec.Port) ([]uint16, error) {
	var out []uint16
	for _, p := range ports {
		if p.Lo == 0 || p.Lo > p.Hi {
			return nil, fmt.Errorf("%s: %s: not a port range 1-65535", field, p)
		}
		if int(p.Hi)-int(p.Lo) >= maxPortRules {
			return nil, tooManyPorts(field)
		}
		for n := int(p.Lo); n <= int(p.Hi); n++ {
			out = append(out, uint16(n))
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxPortRules {
		return nil, tooManyPorts(field)
	}
	return out, nil
}

func tooManyPorts(field string) error {
	return fmt.Errorf("%s: more than %d ports: Landlock needs one rule per port; accepted: at most %d ports in all", field, maxPortRules, maxPortRules)
}

// ---- fs_denied ----

// deniedPath is one fs_denied entry resolved to its host path; dir says it is a directory
// (a missing path counts as a file: nothing can create it, see carver.dir).
type deniedPath struct {
	path string
	dir  bool
	ino  [2]uint64 // device and inode, when the path exists
	ok   bool      // ino is set
}

// resolveDenied resolves the fs_denied paths inside root, so every spelling of a path (a
// symlink, "..") denies the one object it names. A path that does not exist is resolved
// through its deepest existing ancestor: it stays uncreatable.
func resolveDenied(paths []string, root string) ([]deniedPath, error) {
	var out []deniedPath
	for _, p := range paths {
		host, err := resolveMissing(root, filepath.Clean(p))
		if err != nil {
			return nil, fmt.Errorf("fs_denied: %s: %w", p, err)
		}
		d := deniedPath{path: host}
		var st unix.Stat_t
		if unix.Lstat(host, &st) == nil {
			d.dir = st.Mode&unix.S_IFMT == unix.S_IFDIR
			d.ino, d.ok = [2]uint64{st.Dev, st.Ino}, true
		}
		out = append(out, d)
	}
	return out, nil
}

func resolveMissing(root, p string) (string, error) {
	host, err := resolveIn(root, p)
	if !errors.Is(err, unix.ENOENT) || p == "/" {
		return host, err
	}
	parent, err := resolveMissing(root, filepath.Dir(p))
	return filepath.Join(parent, filepath.Base(p)), err
}

// carveAll removes the denied paths from every rule. Landlock rules only add rights, and a
// rule on any directory above a path grants that path, so a rule above a denied path is
// replaced by rules on what lies beside the way down to it (carver.dir); a rule on or beneath a
// denied path is dropped.
func carveAll(rules []PathRule, denied []deniedPath) ([]PathRule, error) {
	return carver{denied: denied}.all(rules)
}

// carver carves rules around denied paths. inodes are the denied files' identities: an entry
// that is a hard link to one of them gets no rule either (Landlock rules are on inodes, so a
// rule on the link would grant the denied file itself). info, when set, records the carving
// for the supervisor.
type carver struct {
	denied []deniedPath
	inodes map[[2]uint64]bool
	info   *Carving
}

func (cv carver) all(rules []PathRule) ([]PathRule, error) {
	var out []PathRule
	for _, r := range rules {
		carved, err := cv.rule(r)
		if err != nil {
			return nil, err
		}
		out = append(out, carved...)
	}
	return out, nil
}

func carveRule(r PathRule, denied []deniedPath) ([]PathRule, error) {
	return carver{denied: denied}.rule(r)
}

func (cv carver) rule(r PathRule) ([]PathRule, error) {
	if r.ListOnly {
		// A list-only rule (left by an earlier carving, e.g. fs_denied's, before the direct
		// mode carves the host's devices) grants no file beneath it: carving it would hand
		// every entry a full rule, the denied path's siblings and the denied path's parent's
		// other entries included. It stays as it is.
		return []PathRule{r}, nil
	}
	path := canonical(r.Path)
	var below []deniedPath
	for _, d := range cv.denied {
		if within(path, d.path) {
			return nil, nil
		}
		if within(d.path, path) {
			below = append(below, d)
		}
	}
	if len(below) == 0 {
		return []PathRule{r}, nil
	}
	if cv.info != nil {
		cv.info.Rules = append(cv.info.Rules, CarvedRule{Path: path, Write: r.Write, Exec: r.Exec})
	}
	return cv.dir(r, path, below)
}

// dir grants r's rights on every entry of dir except the denied ones, descending into
// the entries that lie above a denied path. dir itself gets at most READ_DIR (ListOnly), so
// it can be listed but nothing can be created, removed or renamed in it: a denied path
// cannot be replaced, moved out from under its rule-less parents, or created if missing.
// Even READ_DIR is left out when a denied directory lies beneath: a rule grants beneath, so
// it would let that directory be listed. Symlinks get no rule: resolving one needs none, and
// their target is granted (or not) where it lies. What Landlock no longer grants in dir
// (creating there, what is created there later) the supervisor grants (notifsup.FSCarve).
func (cv carver) dir(r PathRule, dir string, below []deniedPath) ([]PathRule, error) {
	var out []PathRule
	if cv.info != nil && !slices.Contains(cv.info.Dirs, dir) {
		cv.info.Dirs = append(cv.info.Dirs, dir)
	}
	present := map[string][2]uint64{}
	if !slices.ContainsFunc(below, func(d deniedPath) bool { return d.dir }) {
		out = append(out, PathRule{Path: dir, ListOnly: true, NoSymlinks: true})
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fs_denied: list %s: %w", dir, err)
	}
	for _, e := range ents {
		child := filepath.Join(dir, e.Name())
		var st unix.Stat_t
		if cv.info != nil && unix.Lstat(child, &st) == nil {
			present[e.Name()] = [2]uint64{st.Dev, st.Ino}
		}
		var under []deniedPath
		for _, d := range below {
			if within(d.path, child) {
				under = append(under, d)
			}
		}
		switch {
		case slices.ContainsFunc(under, func(d deniedPath) bool { return d.path == child }):
			// denied itself: no rule
		case len(under) > 0:
			sub, err := cv.dir(r, child, under)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		case e.Type()&fs.ModeSymlink != 0, cv.deniedInode(child):
			// a symlink needs no rule; a hard link to a denied file must get none
		default:
			out = append(out, PathRule{Path: child, Write: r.Write, Exec: r.Exec, NoSymlinks: true, Beside: cv.info != nil})
		}
	}
	if cv.info != nil {
		if cv.info.Present == nil {
			cv.info.Present = map[string]map[string][2]uint64{}
		}
		cv.info.Present[dir] = present
	}
	return out, nil
}

// deniedInode: path is another name of a denied file.
func (cv carver) deniedInode(path string) bool {
	if len(cv.inodes) == 0 {
		return false
	}
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && cv.inodes[[2]uint64{st.Dev, st.Ino}]
}

// within reports whether p is dir or lies beneath it.
func within(p, dir string) bool {
	if dir == "/" {
		return true
	}
	// Without building dir+"/": carving /dev asks this for every entry and denied path.
	return p == dir || (len(p) > len(dir) && p[len(dir)] == '/' && strings.HasPrefix(p, dir))
}

// ---- the host's terminals (direct mode) ----

// ttyMajors are the character-device majors of terminals and of what reads their screens:
// virtual consoles and serial lines (4), /dev/tty and /dev/console (5; 5:2 is /dev/ptmx),
// virtual console memory (7), UNIX98 pty slaves (136-143), USB serial (166, 188), low-density
// serial (204).
func ttyMajor(maj, min uint32) bool {
	switch {
	case maj == 5 && min == 2: // ptmx makes a new pty; it reaches no existing terminal
		return false
	case maj == 4, maj == 5, maj == 7, maj >= 136 && maj <= 143, maj == 166, maj == 188, maj == 204:
		return true
	}
	return false
}

// HideHostTerminals carves the host's terminals out of rules: /dev/pts (the host's devpts,
// where every ssh and tmux session has its pty) and every terminal device in /dev. The direct
// mode runs on the host's own /dev, where a read rule on / or /dev would let the sandbox open
// an admin's terminal and read what is typed there; the sandbox's own terminal is granted
// apart, on the open file. /dev/pts counts as a file here so that / and /dev stay listable
// (carver.dir keeps READ_DIR above denied files): the names of the ptys are no secret.
func HideHostTerminals(rules []PathRule) ([]PathRule, error) {
	return carveAll(rules, terminalsDenied(readDevDir("/dev")))
}

// terminalsDenied are /dev/pts and the terminal devices of /dev (dev: its entries).
func terminalsDenied(dev []devEntry) []deniedPath {
	denied := []deniedPath{{path: "/dev/pts"}}
	for _, e := range dev {
		if e.mode == unix.S_IFCHR && ttyMajor(unix.Major(e.rdev), unix.Minor(e.rdev)) {
			denied = append(denied, deniedPath{path: e.path})
		}
	}
	return denied
}

// devEntry is an entry of a /dev directory; mode and rdev are set for a device node (mode 0
// when it could not be read: it vanished).
type devEntry struct {
	path      string
	dir, link bool
	mode      uint32 // S_IFCHR or S_IFBLK
	rdev      uint64
}

// readDevDir lists dir, in name order, with the type and number of each device node, read
// with an fstatat relative to dir: the direct mode's two carvings (terminals, other devices)
// share one pass over the host's /dev, which has a hundred nodes or more.
func readDevDir(dir string) []devEntry {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	ents, _ := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	out := make([]devEntry, 0, len(ents))
	for _, e := range ents {
		d := devEntry{path: filepath.Join(dir, e.Name()), dir: e.IsDir(), link: e.Type()&fs.ModeSymlink != 0}
		if e.Type()&(fs.ModeCharDevice|fs.ModeDevice) != 0 {
			var st unix.Stat_t
			if unix.Fstatat(int(f.Fd()), e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
				d.mode, d.rdev = st.Mode&unix.S_IFMT, st.Rdev
			}
		}
		out = append(out, d)
	}
	return out
}

// ---- the host's devices (direct mode) ----

// harmlessDevices are the device nodes every program may use on the host's /dev: null, zero,
// full, random, urandom. Terminals (ptmx, tty included) are HideHostTerminals' business.
var harmlessDevices = map[[2]uint32]bool{
	{1, 3}: true, {1, 5}: true, {1, 7}: true, {1, 8}: true, {1, 9}: true,
}

// hostIPCDirs are /dev's directories of other processes' shared objects: POSIX shared memory,
// message queues, huge pages.
var hostIPCDirs = []string{"/dev/shm", "/dev/mqueue", "/dev/hugepages"}

// HideHostDevices carves out of rules every device node of the host's /dev but the harmless
// ones, and its shared-memory directories, on top of HideHostTerminals. A uid-0 sandbox needs
// no capability to open a block device (every file's data, past every path rule), an input
// device (keystrokes), /dev/kmsg (the kernel log, past the denied syslog), or another
// process's /dev/shm object: a read rule on / or /dev must not reach them. A rule on a device
// itself (gpu_devices, an explicit -r /dev/kvm) is kept: only rules above are carved.
func HideHostDevices(rules []PathRule) ([]PathRule, error) {
	explicit := map[string]bool{}
	for _, r := range rules {
		explicit[canonical(r.Path)] = true
	}
	// One carving for everything: carving already carved rules would turn a list-only rule
	// into read rules on each entry.
	dev := readDevDir("/dev")
	denied := terminalsDenied(dev)
	for _, d := range hostIPCDirs {
		if _, err := os.Lstat(d); err == nil && !explicit[d] && !explicitBelow(explicit, d) {
			denied = append(denied, listOnly(d)...)
		}
	}
	denied = append(denied, hostDeviceNodes(dev, explicit, 0)...)
	return carveAll(rules, denied)
}

// listOnly denies every entry of dir, those made later too, and leaves dir listable: each
// existing entry is denied, and so is a name no entry has, so that dir is always carved into a
// list-only rule (an entry made after the plan is covered by no rule). Denying dir itself as a
// directory would take listing away from every directory above it.
func listOnly(dir string) []deniedPath {
	out := []deniedPath{{path: filepath.Join(dir, ".sandlock-list-only")}}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		out = append(out, deniedPath{path: filepath.Join(dir, e.Name())})
	}
	return out
}

// hostDeviceNodes lists the device nodes under a directory of entries ents (a few levels
// down: /dev/input/event0, /dev/bus/usb/001/002) that are neither harmless nor granted by a
// rule of their own.
func hostDeviceNodes(ents []devEntry, explicit map[string]bool, depth int) []deniedPath {
	if depth > 3 {
		return nil
	}
	var out []deniedPath
	for _, e := range ents {
		p := e.path
		switch {
		case p == "/dev/pts" || slices.Contains(hostIPCDirs, p) || e.link:
		case e.dir:
			if depth < 3 {
				out = append(out, hostDeviceNodes(readDevDir(p), explicit, depth+1)...)
			}
		case e.mode != 0:
			if explicit[p] {
				continue
			}
			mode := e.mode
			maj, min := unix.Major(e.rdev), unix.Minor(e.rdev)
			if mode == unix.S_IFCHR && (harmlessDevices[[2]uint32{maj, min}] || ttyMajor(maj, min) || maj == 5) {
				continue // harmless, or a terminal (HideHostTerminals has dealt with those)
			}
			out = append(out, deniedPath{path: p})
		}
	}
	return out
}

// explicitBelow: some rule lies beneath dir.
func explicitBelow(explicit map[string]bool, dir string) bool {
	for p := range explicit {
		if strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

// HideProc carves /proc out of rules (isolate_pids where the process sees the host's /proc):
// the supervisor then opens every /proc entry on the process's behalf, after checking it is
// the container's (notifsup.ProcView), and a path the process swaps after that check reaches a
// /proc object the kernel refuses. /proc is carved as a directory, so no READ_DIR is left on
// "/" either (Landlock grants it beneath, /proc's process directories included): the
// supervisor opens "/" for listing on the process's behalf too. also are the host's other
// procfs mounts that show every pid (a bind of /proc, a chroot's /proc): carved the same way.
func HideProc(rules []PathRule, also ...string) ([]PathRule, error) {
	denied := []deniedPath{{path: "/proc", dir: true}}
	for _, p := range also {
		denied = append(denied, deniedPath{path: p, dir: true})
	}
	return carveAll(rules, denied)
}
