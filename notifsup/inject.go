package notifsup

import (
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// seccompNotifAddfd is the kernel's struct seccomp_notif_addfd.
type seccompNotifAddfd struct {
	id         uint64
	flags      uint32
	srcfd      uint32
	newfd      uint32
	newfdFlags uint32
}

// InjectFD answers the call with a copy of fd installed in the target, the new fd number being
// the syscall's return value (an open performed on behalf). It uses SECCOMP_ADDFD_FLAG_SEND, so
// installing the fd and answering are one atomic step: the target either gets the fd and the
// number together, or nothing. When the injection fails (the target's fd table is full, the
// target died, RLIMIT_NOFILE) the call fails with that errno: it never continues, so a failed
// injection can never let the kernel run the syscall the supervisor meant to perform itself
// (the reference system's #80). cloexec is the O_CLOEXEC the target asked for.
func (c *Call) InjectFD(fd int, cloexec bool) seccomp.ScmpNotifResp {
	a := seccompNotifAddfd{id: c.Req.ID, flags: unix.SECCOMP_ADDFD_FLAG_SEND, srcfd: uint32(fd)}
	if cloexec {
		a.newfdFlags = unix.O_CLOEXEC
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(c.Listener), unix.SECCOMP_IOCTL_NOTIF_ADDFD, uintptr(unsafe.Pointer(&a)))
	if errno != 0 {
		return errnoResp(errno)
	}
	c.answered = true
	return seccomp.ScmpNotifResp{}
}
