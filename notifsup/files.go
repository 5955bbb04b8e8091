package notifsup

import (
	"strconv"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// HostsFile answers the process's opens of /etc/hosts for reading with content
// (net_allow_hosts' pinned names, where the process has the host's root and nothing can be
// mounted over the host's /etc/hosts). See Files.
func HostsFile(content string) Feature {
	return Files("etc-hosts", map[string]func() ([]byte, error){
		"/etc/hosts": func() ([]byte, error) { return []byte(content), nil },
	})
}

// Files answers the process's opens of the named paths for reading with a file holding what
// the path's function returns at that open: a sealed memfd, opened read-only and injected into
// the process (SECCOMP_IOCTL_NOTIF_ADDFD, answering the call at once).
//
// Only the exact spellings named are answered; every other open is NotMine. That is a
// check-then-continue on a path in the process's memory, allowed here because the files
// answered so are views (the pinned /etc/hosts, /proc/net/tcp with virtual ports), not a
// security boundary: the kernel still applies Landlock to whatever the continued open names.
func Files(name string, files map[string]func() ([]byte, error)) Feature {
	h := &fileViews{files: files}
	return Feature{Name: name, AllArches: true, Handlers: map[string]Handler{
		"open":    h.handler(0, 1, -1),
		"openat":  h.handler(1, 2, -1),
		"openat2": h.handler(1, -1, 2),
	}}
}

type fileViews struct {
	files map[string]func() ([]byte, error)
}

// handler: pathArg is the path's argument, flagsArg the flags' (or -1), howArg openat2's
// struct open_how (or -1). The arguments are registers of the same meaning on every ABI, and
// open_how has one layout everywhere.
func (h *fileViews) handler(pathArg, flagsArg, howArg int) Handler {
	return func(c *Call) seccomp.ScmpNotifResp {
		t := peekTarget(c.Listener, c.Req) // memory only: checked by ID_VALID at its open
		defer t.close()
		a := c.Req.Data.Args
		path, err := t.readString(a[pathArg], pathMax)
		content, ok := h.files[path]
		if err != nil || !ok {
			return NotMine()
		}
		var flags uint64
		if flagsArg >= 0 {
			flags = a[flagsArg]
		} else if flags, _, _, err = t.openHow(a[howArg], a[howArg+1]); err != nil {
			return NotMine() // the kernel gives its own answer to a bad open_how
		}
		if flags&(unix.O_ACCMODE|unix.O_CREAT|unix.O_TRUNC|unix.O_PATH|unix.O_DIRECTORY) != 0 {
			return NotMine() // not a plain read: the kernel decides on the host's file
		}
		b, err := content()
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		fd, err := memFile(b)
		if err != nil {
			return errnoResp(unix.ENOMEM)
		}
		defer unix.Close(fd)
		return c.InjectFD(fd, flags&unix.O_CLOEXEC != 0)
	}
}

// memFile is a new read-only open file on a sealed memfd holding b.
func memFile(b []byte) (int, error) {
	mfd, err := unix.MemfdCreate("sandlock", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, err
	}
	defer unix.Close(mfd)
	for len(b) > 0 {
		n, err := unix.Write(mfd, b)
		if err != nil {
			return -1, err
		}
		b = b[n:]
	}
	if _, err := unix.FcntlInt(uintptr(mfd), unix.F_ADD_SEALS,
		unix.F_SEAL_WRITE|unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		return -1, err
	}
	return unix.Openat(hostProc, "thread-self/fd/"+strconv.Itoa(mfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
}
