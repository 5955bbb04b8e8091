package notifsup

import (
	"os"
	"strconv"
	"strings"
	"sync"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// ProcViewConfig configures what the supervisor shows of /proc, of the CPU lists in /sys and of
// /etc/hostname (docs/design.md, "/proc and identity views").
type ProcViewConfig struct {
	// HidePIDs (isolate_pids where the process sees the host's /proc: the direct mode, host
	// mode) makes /proc list and reach only the container's processes. The process's Landlock
	// rules then grant nothing under /proc (lifecycle carves it out): every open there is made
	// by the supervisor, on behalf, after the check. ProcRules are the policy's rules on /proc
	// (and above it) before the carving, which those opens obey.
	HidePIDs  bool     `json:",omitempty"`
	ProcRules []FSRule `json:",omitempty"`
	// MetaReads: the metadata feature (FSMeta, declared after this one) decides readlink
	// outside /proc by the policy's readable set; this feature leaves it those.
	MetaReads bool `json:",omitempty"`
	// NumCPUs (num_cpus) is the CPU count shown: /proc/cpuinfo, /proc/stat, the CPU lists of
	// /sys/devices/system/cpu and sched_getaffinity.
	NumCPUs int `json:",omitempty"`
	// MemLimit (bytes, the memory limit) is /proc/meminfo's MemTotal; MemUsage is the host
	// path of the container's cgroup file giving its usage (memory.usage_in_bytes on v1,
	// memory.current on v2), which MemFree and MemAvailable subtract. MemLimitFile has the
	// limit as it is now (memory.limit_in_bytes, memory.max), so that an update is followed.
	MemLimit     int64  `json:",omitempty"`
	MemUsage     string `json:",omitempty"`
	MemLimitFile string `json:",omitempty"`
	// EtcHostname, when set, is what /etc/hostname reads as (the direct mode: the host's file
	// would show the host's name).
	EtcHostname string `json:",omitempty"`

	// Set by the supervisor when it starts: who the container's processes are. Cgroup is the
	// container's cgroup2 path (relative to the mount, "/sandlock-runtime/ID"); without one,
	// the descendants of InitPid are.
	Cgroup  string `json:"-"`
	InitPid int    `json:"-"`
}

// Active: the configuration asks for anything (the feature is declared only then).
func (c ProcViewConfig) Active() bool {
	return c.HidePIDs || c.NumCPUs > 0 || c.MemLimit > 0 || c.EtcHostname != ""
}

// procView is the feature behind ProcView.
type procView struct {
	c      ProcViewConfig
	self   int        // the supervisor's pid: never one of the container's
	mounts mountTable // the host's mounts, for names inside /proc
	synth  sync.Map   // root's rootKey -> map[object's rootKey]kind: the synthetic files, per root
	procID rootKey    // the host's /proc root (dev, ino), set at Start
}

// ProcView answers the opens (and, with HidePIDs, the lookups, listings and pid-targeting
// calls) that reach the views c configures. See docs/security.md for the safety argument of
// each handler.
func ProcView(c ProcViewConfig) Feature {
	v := &procView{c: c, self: os.Getpid()}
	f := Feature{Name: "proc-view", Handlers: map[string]Handler{}, Start: v.start}
	for name, s := range openSpecs {
		f.Handlers[name] = v.openHandler(name, s)
	}
	if c.HidePIDs {
		for name, s := range statSpecs {
			f.Handlers[name] = v.statHandler(name, s)
		}
		f.Handlers["readlink"] = v.readlinkHandler("readlink", -1, 0, 1, 2)
		f.Handlers["readlinkat"] = v.readlinkHandler("readlinkat", 0, 1, 2, 3)
		f.Handlers["chdir"] = v.lookupHandler("chdir", -1, 0, -1)
		f.Handlers["access"] = v.accessHandler("access", -1, 0, 1, -1)
		f.Handlers["faccessat"] = v.accessHandler("faccessat", 0, 1, 2, -1)
		f.Handlers["faccessat2"] = v.accessHandler("faccessat2", 0, 1, 2, 3)
		for name, s := range pidSpecs {
			f.Handlers[name] = v.pidHandler(s)
		}
		f.Handlers["capget"] = pinned(true, v.capget)
	}
	if c.NumCPUs > 0 {
		f.Handlers["sched_getaffinity"] = v.affinity
	}
	if c.HidePIDs || c.NumCPUs > 0 {
		f.Handlers["getdents64"] = v.getdentsHandler(unix.SYS_GETDENTS64, 19)
		f.Handlers["getdents"] = v.getdentsHandler(sysGetdents, 18)
		f.listing = func(c *Call, t *target, fd int) (func([]byte) []byte, error) {
			edit, _, err := v.listEdit(t, fd, 19, true)
			return edit, err
		}
	}
	return f
}

func (v *procView) start() {
	hostFDs()
	v.procID, _ = keyOf(hostProc)
}

// member reports whether pid (a process or a thread id of the host's pid namespace) is one of
// the container's processes. The supervisor itself never is: a /proc path resolved on its
// threads that names it ("self" read by the supervisor) must not show its environment.
func (v *procView) member(pid int) bool {
	if pid <= 0 || pid == v.self {
		return false
	}
	if v.c.Cgroup != "" {
		p, ok := procCgroup(pid)
		return ok && (p == v.c.Cgroup || strings.HasPrefix(p, v.c.Cgroup+"/"))
	}
	return v.descendant(pid)
}

// descendant: pid's parent chain reaches the container's init. A process the host started
// can never become one (reparenting only moves a process up its chain); a container process
// that was reparented to the host's init (a daemon that double-forked) drops out, which hides
// it from its own container: the safe side.
func (v *procView) descendant(pid int) bool {
	for range 4096 {
		if pid == v.c.InitPid {
			return true
		}
		if pid <= 1 || pid == v.self {
			return false
		}
		b, err := procRead(strconv.Itoa(pid) + "/status")
		if err != nil {
			return false
		}
		ppid := -1
		for _, l := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "PPid:"); ok {
				ppid, _ = strconv.Atoi(strings.TrimSpace(rest))
				break
			}
		}
		pid = ppid
	}
	return false
}

// procPid returns the pid a /proc object belongs to ("/proc/PID/..."), 0 for /proc's other
// entries, and whether fd is on the host's /proc at all (another procfs instance is refused:
// its pids are another namespace's). rel is the name inside /proc ("" for its root).
func (v *procView) procPid(fd int) (pid int, rel string, onProc bool) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Dev != v.procID.dev {
		return 0, "", false
	}
	name, err := fdName(fd)
	if err != nil {
		return 0, "", false
	}
	point, known := v.mounts.lookup(fd)
	if !known {
		if point, known = procMountPoint(name, st); !known {
			return 0, "", false
		}
	}
	rel, ok := strings.CutPrefix(name, point)
	if !ok || (rel != "" && rel[0] != '/') {
		return 0, "", false
	}
	rel = strings.TrimPrefix(rel, "/")
	first, _, _ := strings.Cut(rel, "/")
	if n, err := strconv.Atoi(first); err == nil && strconv.Itoa(n) == first {
		return n, rel, true
	}
	return 0, rel, true
}

// procMountPoint finds where the host's procfs is mounted in the name of an object on it whose
// mount is not in the host's table (a copy of it: the copy-on-write workdir's view, a
// detached copy of the mount tree or a mount namespace): the prefix of name whose rest names
// the same inode in the supervisor's own /proc (the same procfs instance: the device was
// checked, and the object's open fd keeps its dentry, so the lookup finds that one).
func procMountPoint(name string, st unix.Stat_t) (string, bool) {
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '/' {
			continue
		}
		rel := strings.TrimPrefix(name[i:], "/")
		if rel == "" {
			rel = "."
		}
		var s unix.Stat_t
		if unix.Fstatat(hostProc, rel, &s, unix.AT_SYMLINK_NOFOLLOW) == nil && s.Dev == st.Dev && s.Ino == st.Ino {
			return name[:i], true
		}
	}
	return "", false
}

// isProcFS: fd is on a procfs instance.
func isProcFS(fd int) bool {
	var s unix.Statfs_t
	return unix.Fstatfs(fd, &s) == nil && s.Type == unix.PROC_SUPER_MAGIC
}

// checkProcObject decides on a /proc object reached for the process: another procfs instance
// is refused, and so is an entry of a process outside the container (as if it did not exist).
func (v *procView) checkProcObject(fd int) error {
	pid, rel, ok := v.procPid(fd)
	if !ok {
		return refuse(unix.EACCES, "procfs", "isolate_pids: another procfs instance")
	}
	if pid != 0 && !v.member(pid) {
		return refuse(unix.ENOENT, "/proc/"+rel, "isolate_pids")
	}
	return nil
}

func (v *procView) fail(c *Call, name string, err error) seccomp.ScmpNotifResp {
	c.report(name, err)
	return errnoResp(errnoOf(err))
}
