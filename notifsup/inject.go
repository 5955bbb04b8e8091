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

// InjectFD installs a copy of fd in the target (SECCOMP_IOCTL_NOTIF_ADDFD) and answers the
// call with its number: an open performed on behalf. cloexec is the O_CLOEXEC the target asked
// for. When the installation fails (the target's fd table is full, it died) the call fails
// with that errno: it is never continued, so a failed injection can never let the kernel run
// the syscall the supervisor meant to perform itself (the reference system's #80).
//
// SECCOMP_ADDFD_FLAG_SEND (install and answer in one step) is not used. When the ioctl is
// interrupted by a signal (the Go runtime's preemption signal reaches every thread), the
// kernel has already marked the notification answered and woken the target, then takes the
// pending fd back off the list: the target returns 0 without an fd. Seen on 6.18 under load,
// about once in 10,000 opens, the process then writing to its stdin. Without SEND an
// interrupted ioctl is simply restarted, and the answer follows the installation; the two
// steps cost only a leaked fd when the target is killed between them.
func (c *Call) InjectFD(fd int, cloexec bool) seccomp.ScmpNotifResp {
	a := seccompNotifAddfd{id: c.Req.ID, srcfd: uint32(fd)}
	if cloexec {
		a.newfdFlags = unix.O_CLOEXEC
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(c.Listener), unix.SECCOMP_IOCTL_NOTIF_ADDFD, uintptr(unsafe.Pointer(&a)))
	if errno != 0 {
		return errnoResp(errno)
	}
	return seccomp.ScmpNotifResp{Val: uint64(r)}
}
