package notifsup

import (
	"encoding/binary"
	"runtime"
	"slices"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The metadata syscalls, by the x86_64 ABI. Each names its object (objArgs) and reads the
// rest of its arguments in prepare, before anything is resolved.

// Syscall numbers libseccomp 2.5 cannot name; the unified table is the same on every arch.
const (
	sysFchmodat2     = 452
	sysSetxattrat    = 463
	sysGetxattrat    = 464
	sysListxattrat   = 465
	sysRemovexattrat = 466
)

const (
	xattrNameMax = 255
	xattrSizeMax = 65536
)

func pathAt(dir, path, flags int) objArgs { return objArgs{dir: dir, path: path, fd: -1, flags: flags} }
func pathOnly(path int, nofollow bool) objArgs {
	return objArgs{dir: -1, path: path, fd: -1, flags: -1, nofollow: nofollow}
}
func fdOnly(fd int) objArgs { return objArgs{dir: -1, path: -1, fd: fd, flags: -1} }

var metaWriteOps = map[string]metaOp{
	"chmod":        {obj: pathOnly(0, false), prepare: chmodOp(1)},
	"fchmod":       {obj: fdOnly(0), prepare: chmodOp(1)},
	"fchmodat":     {obj: pathAt(0, 1, -1), prepare: chmodOp(2)},
	"fchmodat2":    {obj: pathAt(0, 1, 3), prepare: chmodOp(2)},
	"chown":        {obj: pathOnly(0, false), prepare: chownOp(1)},
	"lchown":       {obj: pathOnly(0, true), prepare: chownOp(1)},
	"fchown":       {obj: fdOnly(0), prepare: chownOp(1)},
	"fchownat":     {obj: pathAt(0, 1, 4), prepare: chownOp(2)},
	"utime":        {obj: pathOnly(0, false), prepare: utimesOp(1, readUtimbuf)},
	"utimes":       {obj: pathOnly(0, false), prepare: utimesOp(1, readTimevals)},
	"futimesat":    {obj: pathAt(0, 1, -1), prepare: utimesOp(2, readTimevals)},
	"utimensat":    {obj: objArgs{dir: 0, path: 1, fd: -1, flags: 3, nullPathIsFD: true}, prepare: utimesOp(2, readTimespecs)},
	"setxattr":     {obj: pathOnly(0, false), prepare: setxattrOp(1)},
	"lsetxattr":    {obj: pathOnly(0, true), prepare: setxattrOp(1)},
	"fsetxattr":    {obj: fdOnly(0), prepare: setxattrOp(1)},
	"removexattr":  {obj: pathOnly(0, false), prepare: removexattrOp(1)},
	"lremovexattr": {obj: pathOnly(0, true), prepare: removexattrOp(1)},
	"fremovexattr": {obj: fdOnly(0), prepare: removexattrOp(1)},
}

var metaReadOps = map[string]metaOp{
	"getxattr":   {obj: pathOnly(0, false), prepare: getxattrOp(1)},
	"lgetxattr":  {obj: pathOnly(0, true), prepare: getxattrOp(1)},
	"fgetxattr":  {obj: fdOnly(0), prepare: getxattrOp(1)},
	"listxattr":  {obj: pathOnly(0, false), prepare: listxattrOp(1)},
	"llistxattr": {obj: pathOnly(0, true), prepare: listxattrOp(1)},
	"flistxattr": {obj: fdOnly(0), prepare: listxattrOp(1)},
	"readlink":   {obj: pathOnly(0, true), prepare: readlinkOp(1), selfLink: answerLink(1)},
	"readlinkat": {obj: objArgs{dir: 0, path: 1, fd: -1, flags: -1, nofollow: true}, prepare: readlinkOp(2), selfLink: answerLink(2)},
	// Landlock has no hook on inotify marks: a watch reports the names created, opened and
	// removed in a directory the process may not read (an fs_denied one, a host directory
	// outside fs_readable). The watch is added on behalf, on the object resolved and checked
	// for reading, to the process's own inotify instance.
	"inotify_add_watch": {obj: objArgs{dir: -1, path: 1, fd: -1, flags: 2, nofollowBit: unix.IN_DONT_FOLLOW}, prepare: inotifyAddWatchOp},
}

// inotifyAddWatchOp adds the watch to the process's inotify fd (a[0]) on the resolved object,
// through its /proc/thread-self/fd link: inotify_add_watch has no dirfd, so the worker's
// working directory becomes the host's /proc (nothing after it is resolved relative to the
// working directory: inView sets it again for every call that needs it). IN_DONT_FOLLOW was
// applied by the resolution; here the magic link must be followed to reach the object.
func inotifyAddWatchOp(t *target, a []uint64) (action, error) {
	ino, err := t.fd(int(int32(a[0])))
	if err != nil {
		return nil, err
	}
	t.held = append(t.held, ino)
	mask := uint32(a[2]) &^ unix.IN_DONT_FOLLOW
	return func(fd int, _ bool) (uint64, error) {
		if err := unix.Fchdir(hostProc); err != nil {
			return 0, err
		}
		wd, err := unix.InotifyAddWatch(ino, "thread-self/fd/"+strconv.Itoa(fd), mask)
		return uint64(wd), err
	}, nil
}

// The ioctls that change an inode through any open file, a read-only one included, with no
// Landlock right to ask for: the inode flags (chattr: FS_IOC_SETFLAGS in both sizes,
// FS_IOC_FSSETXATTR), the inode generation (FS_IOC_SETVERSION in both sizes: chattr -v),
// fs-verity (which makes a file read-only for good) and an encryption policy on an empty
// directory (which then takes only files made with its key).
const (
	fsIocSetflags         = 0x40086602
	fsIoc32Setflags       = 0x40046602
	fsIocFssetxattr       = 0x401c5820
	fsIocSetversion       = 0x40087602
	fsIoc32Setversion     = 0x40047602
	ext4IocSetversion     = 0x40086604 // ext4's own number for the same
	ext4Ioc32Setversion   = 0x40046604
	fsIocEnableVerity     = 0x40806685
	fsIocSetEncryptPolicy = 0x800c6613
)

var ioctlOps = map[uint32]metaOp{
	fsIocSetflags:         {obj: fdOnly(0), prepare: ioctlOp(fsIocSetflags, 4)}, // the kernel reads an int
	fsIoc32Setflags:       {obj: fdOnly(0), prepare: ioctlOp(fsIoc32Setflags, 4)},
	fsIocFssetxattr:       {obj: fdOnly(0), prepare: ioctlOp(fsIocFssetxattr, 28)}, // struct fsxattr
	fsIocSetversion:       {obj: fdOnly(0), prepare: ioctlOp(fsIocSetversion, 4)},  // an int, whatever the name says
	fsIoc32Setversion:     {obj: fdOnly(0), prepare: ioctlOp(fsIoc32Setversion, 4)},
	ext4IocSetversion:     {obj: fdOnly(0), prepare: ioctlOp(ext4IocSetversion, 4)},
	ext4Ioc32Setversion:   {obj: fdOnly(0), prepare: ioctlOp(ext4Ioc32Setversion, 4)},
	fsIocEnableVerity:     {obj: fdOnly(0), prepare: enableVerityOp},
	fsIocSetEncryptPolicy: {obj: fdOnly(0), prepare: encryptPolicyOp},
}

func chmodOp(modeArg int) func(*target, []uint64) (action, error) {
	return func(_ *target, a []uint64) (action, error) {
		mode := uint32(a[modeArg])
		return func(fd int, fdBased bool) (uint64, error) {
			if fdBased {
				return 0, unix.Fchmod(fd, mode)
			}
			return 0, errnoErr(unix.Syscall6(sysFchmodat2, uintptr(fd), emptyPath(), uintptr(mode), unix.AT_EMPTY_PATH, 0, 0))
		}, nil
	}
}

func chownOp(uidArg int) func(*target, []uint64) (action, error) {
	return func(_ *target, a []uint64) (action, error) {
		uid, gid := int(int32(a[uidArg])), int(int32(a[uidArg+1]))
		return func(fd int, fdBased bool) (uint64, error) {
			if fdBased {
				return 0, unix.Fchown(fd, uid, gid)
			}
			return 0, unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH)
		}, nil
	}
}

// utimesOp: times are read in the spelling of the syscall and set with utimensat; a NULL
// pointer means "now", as for every spelling.
func utimesOp(timesArg int, read func(*target, uint64) ([]unix.Timespec, error)) func(*target, []uint64) (action, error) {
	return func(t *target, a []uint64) (action, error) {
		var ts []unix.Timespec
		if a[timesArg] != 0 {
			var err error
			if ts, err = read(t, a[timesArg]); err != nil {
				return nil, err
			}
		}
		return func(fd int, fdBased bool) (uint64, error) {
			var p uintptr
			if ts != nil {
				p = uintptr(unsafe.Pointer(&ts[0]))
			}
			if fdBased {
				err := errnoErr(unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, p, 0, 0, 0))
				runtime.KeepAlive(ts)
				return 0, err
			}
			err := errnoErr(unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), emptyPath(), p, unix.AT_EMPTY_PATH, 0, 0))
			runtime.KeepAlive(ts)
			return 0, err
		}, nil
	}
}

func readTimespecs(t *target, addr uint64) ([]unix.Timespec, error) {
	b, err := t.readBytes(addr, 32)
	if err != nil {
		return nil, err
	}
	return []unix.Timespec{
		{Sec: int64(le64(b[0:])), Nsec: int64(le64(b[8:]))},
		{Sec: int64(le64(b[16:])), Nsec: int64(le64(b[24:]))},
	}, nil
}

func readTimevals(t *target, addr uint64) ([]unix.Timespec, error) {
	b, err := t.readBytes(addr, 32)
	if err != nil {
		return nil, err
	}
	ts := make([]unix.Timespec, 2)
	for i := range ts {
		sec, usec := int64(le64(b[16*i:])), int64(le64(b[16*i+8:]))
		if usec < 0 || usec >= 1000000 {
			return nil, unix.EINVAL
		}
		ts[i] = unix.Timespec{Sec: sec, Nsec: usec * 1000}
	}
	return ts, nil
}

func readUtimbuf(t *target, addr uint64) ([]unix.Timespec, error) {
	b, err := t.readBytes(addr, 16)
	if err != nil {
		return nil, err
	}
	return []unix.Timespec{{Sec: int64(le64(b[0:]))}, {Sec: int64(le64(b[8:]))}}, nil
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// xattrArgs is the kernel's struct xattr_args (the *xattrat syscalls).
type xattrArgs struct {
	value uint64
	size  uint32
	flags uint32
}

func setxattrOp(nameArg int) func(*target, []uint64) (action, error) {
	return func(t *target, a []uint64) (action, error) {
		name, err := readXattrName(t, a[nameArg])
		if err != nil {
			return nil, err
		}
		size := int(a[nameArg+2])
		if size > xattrSizeMax {
			return nil, unix.E2BIG
		}
		value, err := t.readBytes(a[nameArg+1], size)
		if err != nil {
			return nil, err
		}
		flags := int(int32(a[nameArg+3]))
		return func(fd int, fdBased bool) (uint64, error) {
			if fdBased {
				return 0, unix.Fsetxattr(fd, name, value, flags)
			}
			args := xattrArgs{size: uint32(len(value)), flags: uint32(flags)}
			if len(value) > 0 {
				args.value = uint64(uintptr(unsafe.Pointer(&value[0])))
			}
			p, np := viaFD(fd), cstr(name)
			err := errnoErr(unix.Syscall6(sysSetxattrat, uintptr(hostProc), uintptr(unsafe.Pointer(p)), 0,
				uintptr(unsafe.Pointer(np)), uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args)))
			runtime.KeepAlive(value)
			return 0, err
		}, nil
	}
}

func removexattrOp(nameArg int) func(*target, []uint64) (action, error) {
	return func(t *target, a []uint64) (action, error) {
		name, err := readXattrName(t, a[nameArg])
		if err != nil {
			return nil, err
		}
		return func(fd int, fdBased bool) (uint64, error) {
			if fdBased {
				return 0, unix.Fremovexattr(fd, name)
			}
			p, np := viaFD(fd), cstr(name)
			return 0, errnoErr(unix.Syscall6(sysRemovexattrat, uintptr(hostProc), uintptr(unsafe.Pointer(p)), 0,
				uintptr(unsafe.Pointer(np)), 0, 0))
		}, nil
	}
}

func getxattrOp(nameArg int) func(*target, []uint64) (action, error) {
	return func(t *target, a []uint64) (action, error) {
		name, err := readXattrName(t, a[nameArg])
		if err != nil {
			return nil, err
		}
		buf, out := answerBuffer(a[nameArg+2]), a[nameArg+1]
		return func(fd int, fdBased bool) (uint64, error) {
			var n int
			if fdBased {
				n, err = unix.Fgetxattr(fd, name, buf)
			} else {
				args := xattrArgs{size: uint32(len(buf))}
				if len(buf) > 0 {
					args.value = uint64(uintptr(unsafe.Pointer(&buf[0])))
				}
				p, np := viaFD(fd), cstr(name)
				n, err = retErr(unix.Syscall6(sysGetxattrat, uintptr(hostProc), uintptr(unsafe.Pointer(p)), 0,
					uintptr(unsafe.Pointer(np)), uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args)))
				runtime.KeepAlive(buf)
			}
			return fillAnswer(t, out, buf, n, err)
		}, nil
	}
}

func listxattrOp(listArg int) func(*target, []uint64) (action, error) {
	return func(t *target, a []uint64) (action, error) {
		buf, out := answerBuffer(a[listArg+1]), a[listArg]
		return func(fd int, fdBased bool) (uint64, error) {
			var n int
			var err error
			if fdBased {
				n, err = unix.Flistxattr(fd, buf)
			} else {
				var bp uintptr
				if len(buf) > 0 {
					bp = uintptr(unsafe.Pointer(&buf[0]))
				}
				p := viaFD(fd)
				n, err = retErr(unix.Syscall6(sysListxattrat, uintptr(hostProc), uintptr(unsafe.Pointer(p)), 0, bp, uintptr(len(buf)), 0))
				runtime.KeepAlive(buf)
			}
			return fillAnswer(t, out, buf, n, err)
		}, nil
	}
}

func readlinkOp(bufArg int) func(*target, []uint64) (action, error) {
	return func(t *target, a []uint64) (action, error) {
		if int(int32(a[bufArg+1])) <= 0 {
			return nil, unix.EINVAL
		}
		buf, out := answerBuffer(a[bufArg+1]), a[bufArg]
		return func(fd int, _ bool) (uint64, error) {
			n, err := unix.Readlinkat(fd, "", buf)
			return fillAnswer(t, out, buf, n, err)
		}, nil
	}
}

func answerLink(bufArg int) func(*target, []uint64, string) (uint64, error) {
	return func(t *target, a []uint64, link string) (uint64, error) {
		if int(int32(a[bufArg+1])) <= 0 {
			return 0, unix.EINVAL
		}
		buf := answerBuffer(a[bufArg+1])
		n := copy(buf, link)
		return fillAnswer(t, a[bufArg], buf, n, nil)
	}
}

func ioctlOp(req uint32, size int) func(*target, []uint64) (action, error) {
	return func(t *target, a []uint64) (action, error) {
		arg, err := t.readBytes(a[2], size)
		if err != nil {
			return nil, err
		}
		return func(fd int, _ bool) (uint64, error) {
			return 0, errnoErr(unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(&arg[0]))))
		}, nil
	}
}

// fs-verity's struct fsverity_enable_arg: 128 bytes holding two pointers into the caller's
// memory (the salt, at most 32 bytes, and a signature, at most 16128), which the supervisor
// copies and points at its own copies: the kernel reads them from the caller of the ioctl.
const (
	verityArgSize = 128
	veritySaltMax = 32
	veritySigMax  = 16128
)

func enableVerityOp(t *target, a []uint64) (action, error) {
	arg, err := t.readBytes(a[2], verityArgSize)
	if err != nil {
		return nil, err
	}
	saltSize, sigSize := le32(arg[12:]), le32(arg[24:])
	if saltSize > veritySaltMax || sigSize > veritySigMax {
		return nil, unix.EMSGSIZE // the kernel's answer, before it reads either
	}
	salt, err := t.readBytes(le64(arg[16:]), int(saltSize))
	if err != nil {
		return nil, err
	}
	sig, err := t.readBytes(le64(arg[32:]), int(sigSize))
	if err != nil {
		return nil, err
	}
	return func(fd int, _ bool) (uint64, error) {
		mine := slices.Clone(arg)
		binary.LittleEndian.PutUint64(mine[16:], uint64(addrOf(salt)))
		binary.LittleEndian.PutUint64(mine[32:], uint64(addrOf(sig)))
		err := errnoErr(unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsIocEnableVerity, uintptr(unsafe.Pointer(&mine[0]))))
		runtime.KeepAlive(salt)
		runtime.KeepAlive(sig)
		return 0, err
	}, nil
}

// addrOf is the address of b's first byte, 0 for an empty slice (the kernel reads nothing).
func addrOf(b []byte) uintptr {
	if len(b) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&b[0]))
}

// encryptPolicyOp: the kernel reads the policy's version byte, then the policy of that
// version (v1: 12 bytes, v2: 24); other versions it refuses (EINVAL) before anything else.
func encryptPolicyOp(t *target, a []uint64) (action, error) {
	v, err := t.readBytes(a[2], 1)
	if err != nil {
		return nil, err
	}
	size := map[byte]int{0: 12, 2: 24}[v[0]]
	if size == 0 {
		return nil, unix.EINVAL
	}
	arg, err := t.readBytes(a[2], size)
	if err != nil {
		return nil, err
	}
	return func(fd int, _ bool) (uint64, error) {
		return 0, errnoErr(unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsIocSetEncryptPolicy, uintptr(unsafe.Pointer(&arg[0]))))
	}, nil
}

// answerBuffer is the supervisor's buffer for a syscall that fills the caller's buffer of
// size n (0: the caller asks for the size it needs).
func answerBuffer(n uint64) []byte {
	return make([]byte, min(n, xattrSizeMax))
}

// fillAnswer copies the result into the process's buffer and returns the syscall's value.
func fillAnswer(t *target, out uint64, buf []byte, n int, err error) (uint64, error) {
	if err != nil {
		return 0, err
	}
	if len(buf) > 0 {
		if err := t.writeBytes(out, buf[:n]); err != nil {
			return 0, err
		}
	}
	return uint64(n), nil
}

func readXattrName(t *target, addr uint64) (string, error) {
	name, err := t.readString(addr, xattrNameMax+1)
	if err == unix.ENAMETOOLONG || (err == nil && len(name) > xattrNameMax) {
		return "", unix.ERANGE
	}
	if err == nil && name == "" {
		return "", unix.ERANGE
	}
	return name, err
}

// viaFD names fd by the path thread-self/fd/N under the supervisor's /proc (hostProc): the
// xattr syscalls take no O_PATH fd, but follow this link to the very object fd holds.
func viaFD(fd int) *byte {
	p, _ := unix.BytePtrFromString("thread-self/fd/" + strconv.Itoa(fd))
	return p
}

func cstr(s string) *byte {
	p, _ := unix.BytePtrFromString(s)
	return p
}

var empty = [1]byte{}

func emptyPath() uintptr { return uintptr(unsafe.Pointer(&empty[0])) }

func errnoErr(_, _ uintptr, e unix.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

func retErr(r, _ uintptr, e unix.Errno) (int, error) {
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
