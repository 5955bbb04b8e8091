package notifsup

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// The lookups other than open that could reach another process's /proc entry, handled with
// HidePIDs: stat and readlink are performed on behalf (the answer is written into the
// process's buffer), chdir and access are checked and then continued (see lookupHandler), and
// directory listings are read on behalf so that /proc lists only the container's processes.

// pathSpec says where a lookup syscall has its arguments (-1: absent).
type pathSpec struct {
	dir, path, flags int
	nofollow         bool
	stat             func(fd int, a []uint64, flags int) ([]byte, error)
	buf              int
}

var statSpecs = map[string]pathSpec{
	"stat":       {dir: -1, path: 0, flags: -1, stat: statBytes, buf: 1},
	"lstat":      {dir: -1, path: 0, flags: -1, nofollow: true, stat: statBytes, buf: 1},
	"newfstatat": {dir: 0, path: 1, flags: 3, stat: statBytes, buf: 2},
	"statx":      {dir: 0, path: 1, flags: 2, stat: statxBytes, buf: 4},
	"statfs":     {dir: -1, path: 0, flags: -1, stat: statfsBytes, buf: 1},
}

func statfsBytes(fd int, _ []uint64, _ int) ([]byte, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&st)), unsafe.Sizeof(st)), nil
}

func statBytes(fd int, _ []uint64, _ int) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&st)), unsafe.Sizeof(st)), nil
}

func statxBytes(fd int, a []uint64, flags int) ([]byte, error) {
	var stx unix.Statx_t
	keep := flags & (atStatxSyncType | unix.AT_NO_AUTOMOUNT)
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|keep, int(uint32(a[3])), &stx); err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&stx)), unsafe.Sizeof(stx)), nil
}

// decodeLookup copies a lookup's path and flags out of the process.
func decodeLookup(t *target, a []uint64, dir, path, flags int, nofollow bool) (lookup, int, error) {
	l := lookup{dirfd: unix.AT_FDCWD, nofollow: nofollow}
	if dir >= 0 {
		l.dirfd = int(int32(a[dir]))
	}
	f := 0
	if flags >= 0 {
		f = int(uint32(a[flags]))
		l.nofollow = l.nofollow || f&unix.AT_SYMLINK_NOFOLLOW != 0
		l.emptyPath = f&unix.AT_EMPTY_PATH != 0
	}
	if a[path] == 0 && l.emptyPath {
		return l, f, nil // statx and newfstatat accept NULL with AT_EMPTY_PATH (Linux 6.11)
	}
	p, err := t.readString(a[path], pathMax)
	l.path = p
	return l, f, err
}

// statHandler performs stat on behalf of the process: the path is resolved in its view (a
// /proc entry of another process is absent) and the object's attributes are written into its
// buffer. Landlock does not govern stat, so nothing of the process's confinement is lost.
func (v *procView) statHandler(name string, s pathSpec) Handler {
	return pinned(true, func(c *Call, t *target) seccomp.ScmpNotifResp {
		a := c.Req.Data.Args
		l, flags, err := decodeLookup(t, a, s.dir, s.path, s.flags, s.nofollow)
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		var out []byte
		_, err = v.inViewOf(c, t, l, func(r resolved) (uint64, error) {
			fd := r.fd
			if r.selfLink != "" {
				sl, err := procOpen("self", unix.O_PATH|unix.O_NOFOLLOW)
				if err != nil {
					return 0, err
				}
				defer unix.Close(sl)
				fd = sl
			}
			var err error
			out, err = s.stat(fd, a, flags)
			return 0, err
		})
		if err != nil {
			return v.fail(c, name, unwrapWalk(err))
		}
		if err := t.writeBytes(a[s.buf], out); err != nil {
			return errnoResp(unix.EFAULT)
		}
		return seccomp.ScmpNotifResp{}
	})
}

func unwrapWalk(err error) error {
	var we *walkErr
	if errors.As(err, &we) {
		return we.err
	}
	return err
}

// readlinkHandler performs readlink on behalf: the link is resolved without following it,
// in the process's view; /proc/self itself reads as the process's pid. A link outside /proc
// is left to FSMeta when it governs reads (MetaReads): it reads the path again and performs
// the call itself, refusing another process's /proc entry as this feature does, so a path
// swapped in between reaches nothing more.
func (v *procView) readlinkHandler(name string, dir, path, buf, size int) Handler {
	return pinned(true, func(c *Call, t *target) seccomp.ScmpNotifResp {
		a := c.Req.Data.Args
		bufsiz := int(int32(a[size]))
		if bufsiz <= 0 {
			return errnoResp(unix.EINVAL)
		}
		l, _, err := decodeLookup(t, a, dir, path, -1, true)
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		l.emptyPath = l.path == "" && dir >= 0 // readlinkat(fd, "") reads the link fd is open on
		var target string
		notMine := false
		_, err = v.inViewOf(c, t, l, func(r resolved) (uint64, error) {
			if r.selfLink != "" {
				target = r.selfLink
				return 0, nil
			}
			if v.c.MetaReads && !isProcFS(r.fd) {
				notMine = true // FSMeta's, which performs it on behalf under the readable set
				return 0, nil
			}
			var st unix.Stat_t
			if err := unix.Fstat(r.fd, &st); err != nil {
				return 0, err
			}
			if st.Mode&unix.S_IFMT != unix.S_IFLNK {
				return 0, unix.EINVAL
			}
			var err error
			target, err = readlinkFD(r.fd)
			return 0, err
		})
		if err != nil {
			return v.fail(c, name, unwrapWalk(err))
		}
		if notMine {
			return NotMine()
		}
		out := []byte(target)[:min(len(target), bufsiz)]
		if err := t.writeBytes(a[buf], out); err != nil {
			return errnoResp(unix.EFAULT)
		}
		return seccomp.ScmpNotifResp{Val: uint64(len(out))}
	})
}

// lookupHandler checks chdir: a path reaching another process's /proc entry is refused as
// absent; anything else continues. This is check-then-continue, on purpose: chdir changes the
// process's own working directory, which the supervisor cannot do for it. If the process
// swaps the path after the check, its working directory can at worst be a foreign /proc/PID,
// from which every open, stat, readlink and listing is again resolved by the supervisor and
// refused (docs/security.md). It is also access's answer for a process whose real ids differ
// from its effective ones (accessHandler).
func (v *procView) lookupHandler(name string, dir, path, flags int) Handler {
	return pinned(false, func(c *Call, t *target) seccomp.ScmpNotifResp {
		l, _, err := decodeLookup(t, c.Req.Data.Args, dir, path, flags, false)
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		_, err = v.inViewOf(c, t, l, func(resolved) (uint64, error) { return 0, nil })
		var we *walkErr
		if errors.As(err, &we) {
			return v.fail(c, name, we.err)
		}
		return NotMine()
	})
}

// accessHandler performs access, faccessat and faccessat2 on behalf when the process's real
// ids are its effective ones (always, unless it runs a setuid program): the object is
// resolved in its view and checked with AT_EACCESS on the worker holding its credentials,
// which is what access(2) checks then. Otherwise (real ids the worker cannot take) it is
// lookupHandler's check-then-continue, whose lost race answers only whether a foreign /proc
// entry exists.
func (v *procView) accessHandler(name string, dir, path, mode, flags int) Handler {
	fallback := v.lookupHandler(name, dir, path, flags)
	return func(c *Call) seccomp.ScmpNotifResp {
		t, err := pinTarget(c.Listener, c.Req, false)
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		if t.creds.ruid != t.creds.euid || t.creds.rgid != t.creds.egid {
			t.close()
			return fallback(c)
		}
		defer t.close()
		a := c.Req.Data.Args
		l, f, err := decodeLookup(t, a, dir, path, flags, false)
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		if f&^(unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 || uint32(a[mode])&^7 != 0 {
			return errnoResp(unix.EINVAL)
		}
		_, err = v.inViewOf(c, t, l, func(r resolved) (uint64, error) {
			fd := r.fd
			if r.selfLink != "" {
				return 0, nil // the link /proc/self itself: it exists
			}
			return 0, unix.Faccessat2(fd, "", uint32(a[mode]), unix.AT_EMPTY_PATH|unix.AT_EACCESS)
		})
		if err != nil {
			return v.fail(c, name, unwrapWalk(err))
		}
		return seccomp.ScmpNotifResp{}
	}
}

// getdentsHandler lists a directory on behalf of the process, on its own open file (a copy
// shares the offset): with HidePIDs the host's /proc root loses the entries of other
// processes, and every listing is performed, never continued, since the fd number is the
// process's to change (dup2) between a check and the kernel's call. With NumCPUs,
// /sys/devices/system/cpu lists cpu0..cpuN-1 (musl counts them for _SC_NPROCESSORS_CONF);
// without HidePIDs other directories continue: a swapped fd can only show the host's CPUs.
func (v *procView) getdentsHandler(nr uintptr, nameOff int) Handler {
	return pinned(true, func(c *Call, t *target) seccomp.ScmpNotifResp {
		a := c.Req.Data.Args
		fd, err := t.fd(int(int32(a[0])))
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		defer unix.Close(fd)
		edit, mine, err := v.listEdit(t, fd, nameOff, nr == unix.SYS_GETDENTS64)
		switch {
		case err != nil:
			return v.fail(c, "getdents", err)
		case !mine:
			return NotMine()
		}
		count := min(int(uint32(a[2])), 1<<18)
		if count < nameOff+2 {
			return errnoResp(unix.EINVAL) // no room for one entry, as the kernel says
		}
		room := 0
		if edit != nil && v.c.NumCPUs > 0 {
			room = min(max(v.c.NumCPUs-hostCPUCount(), 0)*cpuDirentMax, count/2) // for the CPUs shown beyond the host's
		}
		buf := make([]byte, count-room, count)
		for {
			// With the process's credentials, as sortedDirs lists (a read of map_files is
			// checked against the reader).
			var n uintptr
			_, err := c.w.inView(t, noCwd, func() (uint64, error) {
				var e unix.Errno
				if n, _, e = unix.Syscall(nr, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf))); e != 0 {
					return 0, e
				}
				return 0, nil
			})
			if err != nil {
				return errnoResp(errnoOf(err))
			}
			out := buf[:n]
			if edit != nil {
				out = edit(out)
			}
			if len(out) > count {
				out = trimDirents(fd, out, count) // more CPUs made up than the room kept
			}
			if len(out) > 0 || n == 0 {
				if err := t.writeBytes(a[1], out); err != nil {
					return errnoResp(unix.EFAULT)
				}
				return seccomp.ScmpNotifResp{Val: uint64(len(out))}
			}
		}
	})
}

// listEdit decides on a listing of the directory open on fd (records of linux_dirent64 when
// d64, else linux_dirent, the name at nameOff): the edit this view makes to them (nil: none),
// or the refusal. mine is false when the view has nothing to do with the listing (no
// HidePIDs, not the CPU directory): the kernel may list it.
func (v *procView) listEdit(t *target, fd, nameOff int, d64 bool) (edit func([]byte) []byte, mine bool, err error) {
	switch {
	case v.c.NumCPUs > 0 && v.isCPUDir(t, fd):
		return func(b []byte) []byte { return cpuDirents(b, nameOff, v.c.NumCPUs, d64) }, true, nil
	case v.c.HidePIDs && isProcFS(fd):
		pid, rel, ok := v.procPid(fd)
		if !ok || (pid != 0 && !v.member(pid)) {
			return nil, true, refuse(unix.ENOENT, "/proc/"+rel, "isolate_pids")
		}
		if rel == "" {
			return func(b []byte) []byte { return v.filterPids(b, nameOff) }, true, nil
		}
	case !v.c.HidePIDs:
		return nil, false, nil
	}
	return nil, true, nil
}

// trimDirents keeps the whole records of b that fit in count and moves the directory's offset
// (shared with the process's open file) back to the last one kept, so the next listing goes on
// from there.
func trimDirents(fd int, b []byte, count int) []byte {
	end, last := 0, int64(-1)
	for end+18 <= len(b) {
		reclen := int(binary.NativeEndian.Uint16(b[end+16:]))
		if reclen == 0 || end+reclen > count {
			break
		}
		last = int64(binary.NativeEndian.Uint64(b[end+8:]))
		end += reclen
	}
	if last >= 0 {
		_, _ = unix.Seek(fd, last, 0)
	}
	return b[:end]
}

// filterPids drops the entries of processes outside the container from a listing of the
// /proc root (linux_dirent or linux_dirent64 records: the record length at byte 16, the name
// at nameOff).
func (v *procView) filterPids(b []byte, nameOff int) []byte {
	out := b[:0:0]
	eachDirent(b, nameOff, func(rec []byte, name string) {
		if pid, err := strconv.Atoi(name); err == nil && !v.member(pid) {
			return
		}
		out = append(out, rec...)
	})
	return out
}

// eachDirent calls fn with each whole record of a listing (linux_dirent or linux_dirent64:
// the record length at byte 16, the NUL-terminated name at nameOff) and its name, in order,
// up to the first record that is cut or malformed.
func eachDirent(b []byte, nameOff int, fn func(rec []byte, name string)) {
	for len(b) >= nameOff {
		reclen := int(binary.NativeEndian.Uint16(b[16:]))
		if reclen < nameOff || reclen > len(b) {
			return
		}
		rec := b[:reclen]
		b = b[reclen:]
		name := rec[nameOff:]
		if i := indexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		fn(rec, string(name))
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// pidSpec says which arguments of a pid-targeting syscall name processes: pids (a process
// or thread id, 0 the caller), and group, a kill-style pid (<-1 a process group, -1 every
// process).
type pidSpec struct {
	name  string
	pids  []int
	group int // -1: none
	which int // getpriority/ioprio_get: the "which" argument (-1: none), process form only
}

var pidSpecs = map[string]pidSpec{
	"kill":                  {name: "kill", group: 0, which: -1},
	"tkill":                 {name: "tkill", pids: []int{0}, group: -1, which: -1},
	"tgkill":                {name: "tgkill", pids: []int{0, 1}, group: -1, which: -1},
	"rt_sigqueueinfo":       {name: "rt_sigqueueinfo", group: 0, which: -1},
	"rt_tgsigqueueinfo":     {name: "rt_tgsigqueueinfo", pids: []int{0, 1}, group: -1, which: -1},
	"pidfd_open":            {name: "pidfd_open", pids: []int{0}, group: -1, which: -1},
	"getpgid":               {name: "getpgid", pids: []int{0}, group: -1, which: -1},
	"getsid":                {name: "getsid", pids: []int{0}, group: -1, which: -1},
	"sched_getparam":        {name: "sched_getparam", pids: []int{0}, group: -1, which: -1},
	"sched_getaffinity":     {name: "sched_getaffinity", pids: []int{0}, group: -1, which: -1},
	"sched_getscheduler":    {name: "sched_getscheduler", pids: []int{0}, group: -1, which: -1},
	"sched_getattr":         {name: "sched_getattr", pids: []int{0}, group: -1, which: -1},
	"sched_rr_get_interval": {name: "sched_rr_get_interval", pids: []int{0}, group: -1, which: -1},
	"get_robust_list":       {name: "get_robust_list", pids: []int{0}, group: -1, which: -1},
	"getpriority":           {name: "getpriority", group: -1, which: 0},
	"ioprio_get":            {name: "ioprio_get", group: -1, which: 0},
}

// pidHandler refuses a pid-targeting call that names a process outside the container (ESRCH,
// as if it did not exist) and continues the others. The pids are registers, not memory: the
// process cannot change them after the check. kill(-1) (every process the caller may signal)
// is refused; kill(0) and the process's own group are left to the kernel (isolate_signals
// governs signals).
func (v *procView) pidHandler(s pidSpec) Handler {
	return func(c *Call) seccomp.ScmpNotifResp {
		a := c.Req.Data.Args
		deny := func(pid int) seccomp.ScmpNotifResp {
			return v.fail(c, s.name, refuse(unix.ESRCH, "pid "+strconv.Itoa(pid), "isolate_pids"))
		}
		for _, i := range s.pids {
			if p := int(int32(a[i])); p > 0 && p != int(c.Req.Pid) && !v.member(p) {
				return deny(p)
			}
		}
		if s.group >= 0 {
			switch p := int(int32(a[s.group])); {
			case p == -1:
				return v.fail(c, s.name, refuse(unix.EPERM, "pid -1", "isolate_pids"))
			case p > 0 && !v.member(p), p < -1 && !v.member(-p):
				return deny(p)
			}
		}
		if s.which >= 0 {
			which, who := int(int32(a[s.which])), int(int32(a[s.which+1]))
			process := (s.name == "getpriority" && which == unix.PRIO_PROCESS) || (s.name == "ioprio_get" && which == 1)
			group := (s.name == "getpriority" && which == unix.PRIO_PGRP) || (s.name == "ioprio_get" && which == 2)
			if (process || group) && who > 0 && who != int(c.Req.Pid) && !v.member(who) {
				return deny(who)
			}
		}
		return NotMine()
	}
}

// atStatxSyncType is AT_STATX_SYNC_TYPE (the mask of statx's sync flags).
const atStatxSyncType = 0x6000

// capget is performed on behalf: its pid is in the process's memory (the header), so a check
// followed by continuing would let a thread swap in a host pid, whose capabilities capget
// reads without any permission check. The header is copied once; a pid outside the container
// is ESRCH, as if absent; 0 is the calling thread. Only the header's version goes back (the
// kernel's preferred one when it refused the process's), then the data.
func (v *procView) capget(c *Call, t *target) seccomp.ScmpNotifResp {
	a := c.Req.Data.Args
	h, err := t.readBytes(a[0], 8)
	if err != nil {
		return errnoResp(unix.EFAULT)
	}
	hdr := unix.CapUserHeader{Version: binary.NativeEndian.Uint32(h), Pid: int32(binary.NativeEndian.Uint32(h[4:]))}
	switch pid := int(hdr.Pid); {
	case pid < 0:
		return errnoResp(unix.EINVAL)
	case pid == 0:
		hdr.Pid = int32(c.Req.Pid)
	case pid != int(c.Req.Pid) && !v.member(pid):
		return v.fail(c, "capget", refuse(unix.ESRCH, "pid "+strconv.Itoa(pid), "isolate_pids"))
	}
	var data [2]unix.CapUserData
	dp := &data[0]
	if a[1] == 0 {
		dp = nil
	}
	_, _, e := unix.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(dp)), 0)
	if hdr.Version != binary.NativeEndian.Uint32(h) {
		var ver [4]byte
		binary.NativeEndian.PutUint32(ver[:], hdr.Version)
		if err := t.writeBytes(a[0], ver[:]); err != nil {
			return errnoResp(unix.EFAULT)
		}
	}
	if e != 0 || a[1] == 0 {
		return errnoResp(e)
	}
	n := 2
	if hdr.Version == unix.LINUX_CAPABILITY_VERSION_1 {
		n = 1
	}
	out := unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), n*int(unsafe.Sizeof(data[0])))
	if err := t.writeBytes(a[1], out); err != nil {
		return errnoResp(unix.EFAULT)
	}
	return seccomp.ScmpNotifResp{}
}
