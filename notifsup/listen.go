package notifsup

import (
	"encoding/binary"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// ListenBound is net_bind's listen(2) rule. Landlock's TCP bind rules check bind(2) only,
// while listen on a TCP socket that was never bound binds an ephemeral port itself and serves
// on it: a port no net_bind list can name, what "binding port 0 is refused" (docs/policy.md)
// promises never happens. The handler refuses listen on an IP stream socket whose local port
// is 0 (EACCES, audited) and performs the others on behalf of the process, on its very socket
// (pidfd_getfd), so that the socket decided on is the one that listens: a CONTINUE would let
// the kernel look the fd number up again after another thread put an unbound socket there. A
// socket once bound cannot become unbound, so the decision stays true.
func ListenBound() Feature {
	return Feature{Name: "net_bind-listen", Handlers: map[string]Handler{"listen": listenBound}}
}

func listenBound(c *Call) seccomp.ScmpNotifResp {
	t, err := pinTarget(c.Listener, c.Req, false)
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	defer t.close()
	a := c.Req.Data.Args
	s, err := t.sock(int(int32(a[0])))
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	defer s.close()
	if (s.domain == unix.AF_INET || s.domain == unix.AF_INET6) && s.typ == unix.SOCK_STREAM {
		local, err := rawName(s.fd, unix.SYS_GETSOCKNAME)
		if err != nil || len(local) < 4 || binary.BigEndian.Uint16(local[2:4]) == 0 {
			err := refuse(unix.EACCES, ":0 (listen without bind)", "net_bind")
			c.report("listen", err)
			return errnoResp(errnoOf(err))
		}
	}
	if err := unix.Listen(s.fd, int(int32(a[1]))); err != nil {
		return errnoResp(errnoOf(err))
	}
	return seccomp.ScmpNotifResp{}
}
