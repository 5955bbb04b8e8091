package notifsup

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Uname returns a handler that answers uname(2) with the host's utsname, except that the
// nodename is hostname (truncated to the kernel's 64 bytes). It is how a container gets its
// own hostname without a UTS namespace.
//
// The struct is written straight into the caller's buffer: nothing is read from the target,
// so there is no check-then-use race. The notification ID is checked before the write (the
// pid could otherwise have been reused by another process) and again before answering.
func Uname(hostname string) Handler {
	return func(listener int, req *seccomp.ScmpNotifReq) seccomp.ScmpNotifResp {
		if err := uname(listener, req, hostname); err != nil {
			return seccomp.ScmpNotifResp{Error: int32(errnoOf(err))}
		}
		return seccomp.ScmpNotifResp{}
	}
}

func uname(listener int, req *seccomp.ScmpNotifReq, hostname string) error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return err
	}
	clear(u.Nodename[:])
	copy(u.Nodename[:len(u.Nodename)-1], hostname)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&u)), unsafe.Sizeof(u))

	fd := seccomp.ScmpFd(listener)
	if err := seccomp.NotifIDValid(fd, req.ID); err != nil {
		return err
	}
	if err := writeTarget(int(req.Pid), uintptr(req.Data.Args[0]), buf); err != nil {
		return err
	}
	return seccomp.NotifIDValid(fd, req.ID)
}

// writeTarget writes buf at addr in process pid, with process_vm_writev or, where that is
// unavailable, /proc/PID/mem. A bad address comes back as EFAULT, as from the real uname.
func writeTarget(pid int, addr uintptr, buf []byte) error {
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: addr, Len: len(buf)}}
	n, err := unix.ProcessVMWritev(pid, local, remote, 0)
	if err == nil && n == len(buf) {
		return nil
	}
	if err == nil {
		return unix.EFAULT // short write: the buffer ends in an unmapped page
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
		return err
	}
	return writeProcMem(pid, addr, buf)
}

func writeProcMem(pid int, addr uintptr, buf []byte) error {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", pid), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(buf, int64(addr)); err != nil {
		return unix.EFAULT
	}
	return nil
}

// errnoOf returns the errno carried by err, or EPERM when it carries none.
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EPERM
}
