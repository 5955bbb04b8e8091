package notifsup

import (
	"errors"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Uname returns a handler that answers uname(2) with the host's utsname, except that the
// nodename is hostname (truncated to the kernel's 64 bytes). It is how a container gets its
// own hostname without a UTS namespace.
//
// The struct is written straight into the caller's buffer: nothing is read from the target,
// so there is no check-then-use race. The target's memory is opened (/proc/PID/mem) *before*
// the notification ID is checked: once the ID is known valid, the open file is the blocked
// caller's, and it stays bound to that process's memory even if the pid were reused later, so
// the write can never land in another process. The ID is checked again before answering.
func Uname(hostname string) Handler {
	return func(c *Call) seccomp.ScmpNotifResp {
		if err := uname(c.Listener, c.Req, hostname); err != nil {
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
	t := peekTarget(listener, req)
	t.writeMem = true
	defer t.close()
	if err := t.writeBytes(req.Data.Args[0], buf); err != nil {
		return err // EFAULT for a bad or short buffer, as the real uname reports it
	}
	return t.valid()
}

// errnoOf returns the errno carried by err, or EPERM when it carries none.
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EPERM
}
