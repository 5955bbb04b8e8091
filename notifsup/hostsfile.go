package notifsup

import (
	"encoding/binary"
	"strconv"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// HostsFile answers the process's opens of /etc/hosts for reading with a file holding
// content (net_allow_hosts' pinned names, where the process has the host's root and nothing
// can be mounted over the host's /etc/hosts). The file is a sealed memfd, opened read-only and
// injected into the process (SECCOMP_IOCTL_NOTIF_ADDFD, answering the call at once).
//
// Only the spelling "/etc/hosts" is answered; every other open is NotMine. That is a
// check-then-continue on a path in the process's memory, and allowed here because showing or
// not showing the synthetic file is not a security boundary: the pinned set is enforced at
// connect and send, and the kernel still applies Landlock to whatever the continued open names.
func HostsFile(content string) Feature {
	h := &hostsFile{content: content}
	return Feature{Name: "etc-hosts", AllArches: true, Handlers: map[string]Handler{
		"open":    h.handler(0, 1, -1),
		"openat":  h.handler(1, 2, -1),
		"openat2": h.handler(1, -1, 2),
	}}
}

type hostsFile struct{ content string }

// handler: pathArg is the path's argument, flagsArg the flags' (or -1), howArg openat2's
// struct open_how (or -1). The arguments are registers of the same meaning on every ABI, and
// open_how has one layout everywhere.
func (h *hostsFile) handler(pathArg, flagsArg, howArg int) Handler {
	return func(c *Call) seccomp.ScmpNotifResp {
		t, err := pinTarget(c.Listener, c.Req, false)
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		defer t.close()
		a := c.Req.Data.Args
		path, err := t.readString(a[pathArg], pathMax)
		if err != nil || path != "/etc/hosts" {
			return NotMine()
		}
		var flags uint64
		if flagsArg >= 0 {
			flags = a[flagsArg]
		} else {
			how, err := t.readBytes(a[howArg], 8)
			if err != nil {
				return NotMine()
			}
			flags = binary.LittleEndian.Uint64(how)
		}
		if flags&(unix.O_ACCMODE|unix.O_CREAT|unix.O_TRUNC|unix.O_PATH|unix.O_DIRECTORY) != 0 {
			return NotMine() // not a plain read: the kernel decides on the host's file
		}
		fd, err := h.file()
		if err != nil {
			return errnoResp(unix.ENOMEM)
		}
		defer unix.Close(fd)
		if err := addFDAndAnswer(c, fd, uint32(flags&unix.O_CLOEXEC)); err != nil {
			return errnoResp(errnoOf(err))
		}
		return seccomp.ScmpNotifResp{}
	}
}

// file is a new read-only open file on a sealed memfd holding the content.
func (h *hostsFile) file() (int, error) {
	mfd, err := unix.MemfdCreate("hosts", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, err
	}
	defer unix.Close(mfd)
	if _, err := unix.Write(mfd, []byte(h.content)); err != nil {
		return -1, err
	}
	if _, err := unix.FcntlInt(uintptr(mfd), unix.F_ADD_SEALS,
		unix.F_SEAL_WRITE|unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		return -1, err
	}
	return unix.Openat(hostProc, "self/fd/"+strconv.Itoa(mfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

// seccompNotifAddfd is struct seccomp_notif_addfd; seccompIoctlNotifAddfd and
// seccompAddfdFlagSend (Linux 5.14) are not in x/sys.
type seccompNotifAddfd struct {
	id         uint64
	flags      uint32
	srcfd      uint32
	newfd      uint32
	newfdFlags uint32
}

const (
	seccompIoctlNotifAddfd = 0x40182103
	seccompAddfdFlagSend   = 1 << 1
)

// addFDAndAnswer installs fd in the process and answers its call with the new fd number, in
// one step: the call is answered (Serve sends nothing more). A failure leaves the call to the
// handler's error answer: nothing was installed.
func addFDAndAnswer(c *Call, fd int, newfdFlags uint32) error {
	a := seccompNotifAddfd{id: c.Req.ID, flags: seccompAddfdFlagSend, srcfd: uint32(fd), newfdFlags: newfdFlags}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(c.Listener), seccompIoctlNotifAddfd, uintptr(unsafe.Pointer(&a)))
	if e != 0 {
		return e
	}
	c.deferred = true // answered
	return nil
}
