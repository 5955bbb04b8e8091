package notifsup

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// openHowSize is sizeof(struct open_how), the first version; larger structs must be zero
// past it (the kernel's rule for extensible structs).
const openHowSize = 24

// openHow copies openat2's struct open_how (at ptr, size bytes) out of the process once,
// with the kernel's checks of its size: below the first version EINVAL, above a page or
// non-zero past the fields known E2BIG.
func (t *target) openHow(ptr, size uint64) (flags, mode, resolve uint64, err error) {
	if size < openHowSize {
		return 0, 0, 0, unix.EINVAL
	}
	if size > 4096 {
		return 0, 0, 0, unix.E2BIG
	}
	b, err := t.readBytes(ptr, int(size))
	if err != nil {
		return 0, 0, 0, err
	}
	for _, x := range b[openHowSize:] {
		if x != 0 {
			return 0, 0, 0, unix.E2BIG
		}
	}
	ne := binary.NativeEndian // the process's own layout
	return ne.Uint64(b[0:]), ne.Uint64(b[8:]), ne.Uint64(b[16:]), nil
}

// openSpec says where an open syscall has its arguments (-1: absent).
type openSpec struct{ dir, path, flags, mode, how int }

var openSpecs = map[string]openSpec{
	"open":    {dir: -1, path: 0, flags: 1, mode: 2, how: -1},
	"openat":  {dir: 0, path: 1, flags: 2, mode: 3, how: -1},
	"creat":   {dir: -1, path: 0, flags: -1, mode: 1, how: -1},
	"openat2": {dir: 0, path: 1, flags: -1, mode: -1, how: 2},
}

// openReq is one open, copied out of the process.
type openReq struct {
	lookup
	flags uint64
}

func (s openSpec) decode(t *target, a []uint64) (openReq, error) {
	var o openReq
	var resolve uint64
	switch {
	case s.flags >= 0:
		o.flags = uint64(uint32(a[s.flags]))
	case s.how < 0: // creat
		o.flags = unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC
	default:
		var err error
		if o.flags, _, resolve, err = t.openHow(a[s.how], a[s.how+1]); err != nil {
			return o, err
		}
	}
	l, _, err := decodeLookup(t, a, s.dir, s.path, -1, o.flags&unix.O_NOFOLLOW != 0)
	o.lookup, o.resolve = l, resolve
	if err == nil && o.path == "" {
		err = unix.ENOENT
	}
	return o, err
}

// openHandler answers an open. The path is copied once and resolved in the process's view;
// what it reaches decides:
//   - a file shown synthetic (/proc/cpuinfo, /proc/meminfo, ... as configured), opened for
//     reading: a sealed memfd with the content is put in the process's fd table (ADDFD);
//   - with HidePIDs, anything on /proc: refused when it is another process's (ENOENT) or the
//     policy grants no such access on /proc, otherwise opened by the supervisor on the
//     thread that holds the process's credentials and put in its fd table;
//   - anything else is not this feature's: NotMine, the kernel opens it under Landlock.
//
// NotMine is decided on a path the process can change before the kernel reads it again. That
// is safe: the process's Landlock rules grant nothing under /proc when HidePIDs is on
// (lifecycle carves it out), so a path swapped to a /proc file after the check is refused by
// the kernel; what is lost is a synthetic view (a CPU count is no security boundary).
func (v *procView) openHandler(name string, s openSpec) Handler {
	return func(c *Call) seccomp.ScmpNotifResp {
		if !v.c.HidePIDs && !v.maybeSynth(c, s) {
			return NotMine()
		}
		t, err := pinTarget(c.Listener, c.Req, false)
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		defer t.close()
		o, err := s.decode(t, c.Req.Data.Args)
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		newfd := -1
		_, err = v.inViewOf(c, t, o.lookup, func(r resolved) (uint64, error) {
			fd, err := v.openObject(t, o, r)
			newfd = fd
			return 0, err
		})
		var we *walkErr
		switch {
		case err != nil && errors.As(err, &we):
			return v.fail(c, name, we.err)
		case err != nil && isRefusal(err):
			return v.fail(c, name, err)
		case err != nil && v.c.HidePIDs && o.flags&unix.O_PATH != 0:
			return v.fail(c, name, err) // answered, never continued: see openHostObject
		case err != nil || newfd < 0:
			return NotMine()
		}
		defer unix.Close(newfd)
		return c.InjectFD(newfd, o.flags&unix.O_CLOEXEC != 0) // a failed injection fails the call
	}
}

// maybeSynth is the quick look that spares most opens the full resolution when only synthetic
// files are shown: the last component of the path the process named must be the name of one
// of them. It reads the path through /proc/TID/mem, opened before the notification is checked
// valid (so it is the caller's memory), and nothing else. A symlink of another name to a
// synthetic file then shows the real one: no security boundary depends on it (see above).
func (v *procView) maybeSynth(c *Call, s openSpec) bool {
	t := peekTarget(c.Listener, c.Req)
	defer t.close()
	path, err := t.readString(c.Req.Data.Args[s.path], pathMax)
	if err != nil {
		return true // let the full handling give the answer
	}
	path = strings.TrimRight(path, "/")
	return synthNames[path[strings.LastIndexByte(path, '/')+1:]]
}

func isRefusal(err error) bool {
	var r *refusal
	return errors.As(err, &r)
}

// openObject opens what r reached for the process, or returns -1 when it is not this
// feature's. It runs on the thread that has the process's view and credentials.
func (v *procView) openObject(t *target, o openReq, r resolved) (int, error) {
	if r.selfLink != "" { // /proc/self itself, not followed
		if o.flags&unix.O_PATH == 0 {
			return -1, &walkErr{unix.ELOOP}
		}
		return procOpen("self", unix.O_PATH|unix.O_NOFOLLOW)
	}
	if kind := v.synthKind(r.fd); kind != "" && kind != "cpudir" && o.flags&unix.O_ACCMODE == unix.O_RDONLY && o.flags&unix.O_PATH == 0 {
		return v.synthFD(kind)
	}
	if !v.c.HidePIDs {
		return -1, nil
	}
	if !isProcFS(r.fd) {
		return v.openHostObject(o, r)
	}
	if err := v.checkProcObject(r.fd); err != nil {
		return -1, err
	}
	_, rel, _ := v.procPid(r.fd)
	var st unix.Stat_t
	if err := unix.Fstat(r.fd, &st); err != nil {
		return -1, &walkErr{err}
	}
	if o.flags&unix.O_PATH != 0 {
		return pathDup(o, r.fd)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return -1, &walkErr{unix.ELOOP}
	}
	write := o.flags&unix.O_ACCMODE != unix.O_RDONLY || o.flags&unix.O_TRUNC != 0
	if !(&fsMeta{rules: v.c.ProcRules}).allowed("/proc/"+rel, write) {
		return -1, refuse(unix.EACCES, "/proc/"+rel, ruleFor(write))
	}
	flags := int(o.flags) &^ (unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_NOCTTY)
	fd, err := unix.Openat(hostProc, "thread-self/fd/"+strconv.Itoa(r.fd), flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &walkErr{err}
	}
	return fd, nil
}

// openHostObject opens on behalf, with HidePIDs, what the kernel would open the same way but
// could be raced into /proc: an O_PATH open (Landlock does not check those, so one swapped
// to a /proc path after the check would succeed), and a read of the root directory, which
// the process's rules no longer let it list (confine.HideProc). Anything else continues.
func (v *procView) openHostObject(o openReq, r resolved) (int, error) {
	if o.flags&unix.O_PATH != 0 {
		return pathDup(o, r.fd)
	}
	k, err := keyOf(r.fd)
	if err != nil || k != hostRootKey || o.flags&unix.O_ACCMODE != unix.O_RDONLY || o.flags&(unix.O_CREAT|unix.O_TRUNC) != 0 {
		return -1, nil
	}
	if !(&fsMeta{rules: v.c.ProcRules}).allowed("/", false) {
		return -1, refuse(unix.EACCES, "/", "fs_readable")
	}
	fd, err := unix.Openat(hostProc, "thread-self/fd/"+strconv.Itoa(r.fd), int(o.flags)&^unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &walkErr{err}
	}
	return fd, nil
}

// pathDup is the O_PATH open of what fd reached: a copy of it, after O_DIRECTORY's check.
func pathDup(o openReq, fd int) (int, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return -1, &walkErr{err}
	}
	if o.flags&unix.O_DIRECTORY != 0 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return -1, &walkErr{unix.ENOTDIR}
	}
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
}
