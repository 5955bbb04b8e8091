package notifsup

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/openat2"
)

// The files shown synthetic, by the path the process names them in its own view. They are
// recognised by the object a path reaches (its device and inode, per root), so every spelling
// of them is, and shown only to reads.
var synthPaths = map[string]string{
	"/proc/cpuinfo":                    "cpuinfo",
	"/proc/stat":                       "stat",
	"/proc/meminfo":                    "meminfo",
	"/sys/devices/system/cpu/online":   "cpulist",
	"/sys/devices/system/cpu/possible": "cpulist",
	"/sys/devices/system/cpu/present":  "cpulist",
	"/proc/sys/kernel/hostname":        "hostname",
	"/sys/devices/system/cpu":          "cpudir", // listed, not opened synthetic
}

// synthNames are the last components of synthPaths and /etc/hostname (maybeSynth).
var synthNames = map[string]bool{"cpuinfo": true, "stat": true, "meminfo": true, "online": true,
	"possible": true, "present": true, "hostname": true, "cpu": true}

func (v *procView) wants(kind string) bool {
	switch kind {
	case "cpuinfo", "stat", "cpulist", "cpudir":
		return v.c.NumCPUs > 0
	case "meminfo":
		return v.c.MemLimit > 0
	case "hostname":
		return v.c.EtcHostname != ""
	}
	return false
}

// synthKind names the synthetic file fd is open on ("" for none). It runs on a thread with the
// process's root: the reference objects are looked up there once per root. /etc/hostname is
// recognised by name (the host's root only), as it may be replaced at any time.
func (v *procView) synthKind(fd int) string {
	if v.c.NumCPUs <= 0 && v.c.MemLimit <= 0 && v.c.EtcHostname == "" {
		return "" // isolate_pids alone: no synthetic file, nothing to look up on each open
	}
	k, err := keyOf(fd)
	if err != nil {
		return ""
	}
	if v.c.EtcHostname != "" {
		if name, err := fdName(fd); err == nil && name == "/etc/hostname" {
			return "hostname"
		}
	}
	root, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	rk, err := keyOf(root)
	unix.Close(root)
	if err != nil {
		return ""
	}
	m, ok := v.synth.Load(rk)
	if !ok {
		refs := map[rootKey]string{}
		for p, kind := range synthPaths {
			if !v.wants(kind) {
				continue
			}
			how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_MAGICLINKS}
			rfd, err := openat2.Open(unix.AT_FDCWD, p, &how)
			if err != nil {
				continue
			}
			if rkey, err := keyOf(rfd); err == nil {
				refs[rkey] = kind
			}
			unix.Close(rfd)
		}
		m, _ = v.synth.LoadOrStore(rk, refs)
	}
	return m.(map[rootKey]string)[k]
}

// synthFD makes the content of a synthetic file and returns a read-only fd on it (a memfd,
// sealed).
func (v *procView) synthFD(kind string) (int, error) {
	var content string
	switch kind {
	case "cpuinfo":
		content = hostCpuinfo()
	case "stat":
		content = procStatFor(readHost("stat"), v.c.NumCPUs)
	case "meminfo":
		content = meminfoFor(readHost("meminfo"), v.memLimit(), v.cgroupInt(v.c.MemUsage))
	case "cpulist":
		content = cpuList(v.c.NumCPUs)
	case "hostname":
		content = v.c.EtcHostname + "\n"
	}
	if kind == "cpuinfo" {
		content = cpuinfoFor(content, v.c.NumCPUs)
	}
	return memFile([]byte(content))
}

// isCPUDir: fd is /sys/devices/system/cpu as the process's root has it (known once the
// process opened it: the open is trapped, and resolving it fills the per-root table).
func (v *procView) isCPUDir(t *target, fd int) bool {
	root, err := t.rootFD()
	if err != nil {
		return false
	}
	rk, err1 := keyOf(root)
	k, err2 := keyOf(fd)
	m, ok := v.synth.Load(rk)
	return err1 == nil && err2 == nil && ok && m.(map[rootKey]string)[k] == "cpudir"
}

// cpuDirentMax is the largest record of a CPU directory entry made up ("cpu" and 4 digits).
const cpuDirentMax = 32

// hostCPUCount is how many cpuN entries the host's /sys/devices/system/cpu has, read once.
var hostCPUCount = sync.OnceValue(countCPUDirs)

func countCPUDirs() int {
	// By its host path: the worker asking first may have taken a container's root.
	fd, err := unix.Openat(hostRoot, "sys/devices/system/cpu", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 1
	}
	f := os.NewFile(uintptr(fd), "cpu")
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	n := 0
	for _, name := range names {
		if cpuNumber(name) >= 0 {
			n++
		}
	}
	return max(n, 1)
}

// cpuNumber is K for a name "cpuK", -1 for any other name.
func cpuNumber(name string) int {
	rest, ok := strings.CutPrefix(name, "cpu")
	if !ok || rest == "" {
		return -1
	}
	k, err := strconv.Atoi(rest)
	if err != nil || strconv.Itoa(k) != rest {
		return -1
	}
	return k
}

// cpuDirents edits one batch of a listing of /sys/devices/system/cpu (linux_dirent64 when
// d64, else linux_dirent): the entries cpuK for K >= n are dropped, and when the host has fewer
// than n, cpuH..cpuN-1 are made up right after the host's last one (its offset, so that a
// listing resumed from there goes on with the host's next entry).
func cpuDirents(b []byte, nameOff, n int, d64 bool) []byte {
	host := hostCPUCount()
	var out []byte
	eachDirent(b, nameOff, func(rec []byte, name string) {
		k := cpuNumber(name)
		if k >= n {
			return
		}
		out = append(out, rec...)
		if k == host-1 {
			for j := host; j < n; j++ {
				out = append(out, dirent(rec, nameOff, "cpu"+strconv.Itoa(j), d64)...)
			}
		}
	})
	return out
}

// dirent makes a directory entry named name with like's inode and offset.
func dirent(like []byte, nameOff int, name string, d64 bool) []byte {
	reclen := (nameOff + len(name) + 2 + 7) &^ 7
	r := make([]byte, reclen)
	copy(r[:16], like[:16]) // d_ino, d_off
	binary.NativeEndian.PutUint16(r[16:], uint16(reclen))
	copy(r[nameOff:], name)
	if d64 {
		r[18] = unix.DT_DIR
	} else {
		r[reclen-1] = unix.DT_DIR
	}
	return r
}

// hostCpuinfo is the host's /proc/cpuinfo, read once: the kernel makes it slowly (it measures
// each CPU's frequency), and what the view takes from it (the first processor's model) does
// not change.
var hostCpuinfo = sync.OnceValue(func() string { return readHost("cpuinfo") })

func readHost(name string) string {
	b, _ := procRead(name)
	return string(b)
}

// memLimit is the container's memory limit now (an update changes it), never more than the
// host has: no limit ("max", v1's huge number) shows the host's memory.
func (v *procView) memLimit() int64 {
	limit := v.c.MemLimit
	if v.c.MemLimitFile != "" {
		if b, err := hostRead(v.c.MemLimitFile); err == nil {
			if s := strings.TrimSpace(string(b)); s == "max" {
				limit = 1<<63 - 1
			} else if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
				limit = n
			}
		}
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		limit = min(limit, int64(uint64(si.Totalram)*uint64(si.Unit)))
	}
	return limit
}

// hostRead reads a file by its host path, whatever root the worker has taken (a container's).
func hostRead(path string) ([]byte, error) {
	return readAllAt(hostRoot, strings.TrimPrefix(path, "/"))
}

// cgroupInt reads a cgroup file holding one number (0 when it cannot).
func (v *procView) cgroupInt(path string) int64 {
	b, err := hostRead(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// cpuList is a CPU list file's content for n CPUs ("0-1").
func cpuList(n int) string {
	if n == 1 {
		return "0\n"
	}
	return fmt.Sprintf("0-%d\n", n-1)
}

// cpuinfoFor repeats the host's first processor block n times, numbered 0..n-1.
func cpuinfoFor(host string, n int) string {
	blocks := strings.Split(strings.TrimRight(host, "\n"), "\n\n")
	tmpl := blocks[0]
	var b strings.Builder
	for i := range n {
		for _, l := range strings.Split(tmpl, "\n") {
			k, _, ok := strings.Cut(l, ":")
			key := strings.TrimSpace(k)
			switch {
			case ok && (key == "processor" || key == "core id" || key == "apicid" || key == "initial apicid"):
				l = k + ": " + strconv.Itoa(i)
			case ok && (key == "siblings" || key == "cpu cores"):
				l = k + ": " + strconv.Itoa(n)
			}
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// procStatFor keeps the host's /proc/stat with the per-CPU lines of n CPUs (cpu0's repeated
// when the host has fewer).
func procStatFor(host string, n int) string {
	var b strings.Builder
	var cpu0 string
	wrote := false
	for _, l := range strings.Split(strings.TrimRight(host, "\n"), "\n") {
		name, rest, _ := strings.Cut(l, " ")
		if num, ok := strings.CutPrefix(name, "cpu"); ok && num != "" {
			i, err := strconv.Atoi(num)
			if err == nil {
				if i == 0 {
					cpu0 = rest
				}
				if i < n {
					b.WriteString(l + "\n")
				}
				continue
			}
		}
		if !wrote && cpu0 != "" {
			for i := hostLines(host); i < n; i++ {
				b.WriteString("cpu" + strconv.Itoa(i) + " " + cpu0 + "\n")
			}
			wrote = true
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

func hostLines(host string) int {
	n := 0
	for _, l := range strings.Split(host, "\n") {
		if name, _, _ := strings.Cut(l, " "); strings.HasPrefix(name, "cpu") && name != "cpu" {
			n++
		}
	}
	return n
}

// meminfoFor shows limit as the total memory, limit - usage as free and available. The host's
// page cache (Buffers, Cached, SReclaimable, ...) is not the sandbox's and would exceed its
// total (free(1) showed a buff/cache of gigabytes under a 64M MemTotal): it shows as 0, so
// used = total - free = the sandbox's usage.
func meminfoFor(host string, limit, usage int64) string {
	free := max(limit-usage, 0)
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(host, "\n"), "\n") {
		k, _, _ := strings.Cut(l, ":")
		switch k {
		case "MemTotal":
			l = fmt.Sprintf("%-15s %8d kB", k+":", limit/1024)
		case "MemFree", "MemAvailable":
			l = fmt.Sprintf("%-15s %8d kB", k+":", free/1024)
		case "Buffers", "Cached", "SwapCached", "KReclaimable", "SReclaimable":
			l = fmt.Sprintf("%-15s %8d kB", k+":", 0)
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// affinity answers sched_getaffinity for the process (pid 0, its own thread or another of the
// container's) with a mask of NumCPUs CPUs, 0..N-1, as the kernel would copy it: len must be a
// multiple of sizeof(long) holding N bits, and the answer is min(len, mask size) bytes. The
// pid is a register, not memory: a NotMine on it cannot be raced.
func (v *procView) affinity(c *Call) seccomp.ScmpNotifResp {
	a := c.Req.Data.Args
	pid := int(int32(a[0]))
	if pid < 0 {
		return errnoResp(unix.EINVAL)
	}
	if pid != 0 && pid != int(c.Req.Pid) && !v.member(pid) {
		if v.c.HidePIDs {
			return v.fail(c, "sched_getaffinity", refuse(unix.ESRCH, "pid "+strconv.Itoa(pid), "isolate_pids"))
		}
		return NotMine() // a host process's real mask
	}
	n := v.c.NumCPUs
	size := uint64(max(kernelMaskSize(), (n+63)/64*8))
	l := a[1]
	if l*8 < uint64(n) || l%uint64(unsafe.Sizeof(uintptr(0))) != 0 || l > 1<<40 {
		return errnoResp(unix.EINVAL)
	}
	out := make([]byte, min(l, size))
	for i := range n {
		out[i/8] |= 1 << (i % 8)
	}
	t, err := pinTarget(c.Listener, c.Req, true)
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	defer t.close()
	if err := t.writeBytes(a[2], out); err != nil {
		return errnoResp(unix.EFAULT)
	}
	return seccomp.ScmpNotifResp{Val: uint64(len(out))}
}

// kernelMaskSize is what the kernel's sched_getaffinity copies (cpumask_size()), asked once.
var kernelMaskSize = sync.OnceValue(func() int {
	buf := make([]byte, 8192)
	n, _, e := unix.RawSyscall(unix.SYS_SCHED_GETAFFINITY, 0, uintptr(len(buf)), uintptr(unsafe.Pointer(&buf[0])))
	if e != 0 {
		return 8
	}
	return int(n)
})
