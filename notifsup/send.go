package notifsup

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// The send syscalls that name a destination are performed on behalf of the process: the
// message (address, data, control data) is copied out of its memory once, the destination is
// decided on that copy (dest), and the supervisor sends the copy on the process's own socket
// (pidfd_getfd). sendmsg and sendmmsg are always performed so, even without an address: their
// msghdr lies in memory the process can change after a look, and the fd number can be made to
// name another socket before a CONTINUE. sendto without an address passes its (immutable)
// registers to the kernel unchanged: see sendtoHandler.

// Limits of the copies, the kernel's where it has one.
const (
	sendMax    = 4 << 20 // data copied per message: a stream socket sends less, a datagram is refused
	iovMax     = 1024    // UIO_MAXIOV
	controlMax = 64 << 10
	msghdrSize = 56 // struct msghdr, LP64
	mmsgSize   = 64 // struct mmsghdr
	scmRights  = 1  // SCM_RIGHTS
)

// message is one message copied out of the process.
type message struct {
	addr    []byte
	data    []byte
	control []byte // SCM_RIGHTS fds replaced by the supervisor's copies
	fds     []int  // those copies, closed after the send
	dest    *destination
	long    bool // more than sendMax bytes were asked: data holds the first sendMax
}

func (m *message) close() {
	for _, fd := range m.fds {
		unix.Close(fd)
	}
	if m.dest != nil {
		m.dest.close()
	}
}

// sendtoHandler: sendto(fd, buf, len, flags, addr, addrlen).
func (m *fsMeta) sendtoHandler(c *Call) seccomp.ScmpNotifResp {
	a := c.Req.Data.Args
	if a[4] == 0 {
		// NotMine is safe: the address is a register, NULL, so the kernel sends to the
		// socket's connected peer, which was decided on when it was connected (connect is
		// trapped wherever sendto is); swapping the fd number for another socket only picks
		// another connected peer. Nothing in the process's memory names a destination.
		return NotMine()
	}
	return m.sendCall(c, "sendto", 3, func(t *target) ([]*message, error) {
		msg := &message{}
		var err error
		if msg.addr, err = t.sockaddr(a[4], a[5]); err != nil {
			return nil, err
		}
		n := a[2]
		if n > sendMax {
			n, msg.long = sendMax, true
		}
		msg.data, err = t.readBytes(a[1], int(n))
		return []*message{msg}, err
	})
}

// sendmsgHandler: sendmsg(fd, msg, flags).
func (m *fsMeta) sendmsgHandler(c *Call) seccomp.ScmpNotifResp {
	a := c.Req.Data.Args
	return m.sendCall(c, "sendmsg", 2, func(t *target) ([]*message, error) {
		msg, err := t.message(a[1])
		if err != nil {
			return nil, err
		}
		return []*message{msg}, nil
	})
}

// sendmmsgHandler: sendmmsg(fd, msgvec, vlen, flags); msg_len of each message sent is written
// back.
func (m *fsMeta) sendmmsgHandler(c *Call) seccomp.ScmpNotifResp {
	a := c.Req.Data.Args
	return m.sendCall(c, "sendmmsg", 3, func(t *target) ([]*message, error) {
		n := uint32(a[2])
		if n > iovMax {
			n = iovMax
		}
		var msgs []*message
		total := 0
		for i := range uint64(n) {
			if total >= sendMax {
				break // the rest is for the process's next call (sendmmsg may send fewer)
			}
			msg, err := t.message(a[1] + i*mmsgSize)
			if err != nil && i > 0 {
				break // sent up to the bad one, as the kernel does
			}
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, msg)
			total += len(msg.data)
		}
		return msgs, nil
	})
}

func closeMessages(msgs []*message) {
	for _, m := range msgs {
		m.close()
	}
}

// message copies one struct msghdr at addr and what it points to.
func (t *target) message(addr uint64) (*message, error) {
	h, err := t.readBytes(addr, msghdrSize)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	msg := &message{}
	if msg.addr, err = t.sockaddr(le.Uint64(h[0:]), min(uint64(le.Uint32(h[8:])), sockaddrMax)); err != nil {
		return nil, err
	}
	if msg.data, msg.long, err = t.iovecs(le.Uint64(h[16:]), le.Uint64(h[24:])); err != nil {
		return nil, err
	}
	if cl := le.Uint64(h[40:]); cl > 0 {
		if cl > controlMax {
			return nil, unix.ENOBUFS
		}
		ctl, err := t.readBytes(le.Uint64(h[32:]), int(cl))
		if err != nil {
			return nil, err
		}
		if err := msg.takeRights(t, ctl); err != nil {
			msg.close()
			return nil, err
		}
	}
	return msg, nil
}

// iovecs gathers the data of n iovecs at addr, at most sendMax bytes (long: there was more).
func (t *target) iovecs(addr, n uint64) (data []byte, long bool, err error) {
	if n > iovMax {
		return nil, false, unix.EMSGSIZE
	}
	if n == 0 {
		return nil, false, nil
	}
	vs, err := t.readBytes(addr, int(n*16))
	if err != nil {
		return nil, false, err
	}
	for i := range n {
		base, l := binary.LittleEndian.Uint64(vs[i*16:]), binary.LittleEndian.Uint64(vs[i*16+8:])
		if l > uint64(sendMax-len(data)) {
			l, long = uint64(sendMax-len(data)), true
		}
		b, err := t.readBytes(base, int(l))
		if err != nil {
			return nil, false, err
		}
		data = append(data, b...)
	}
	return data, long, nil
}

// takeRights copies the control data, replacing the fd numbers of SCM_RIGHTS (the process's)
// with the supervisor's copies of those very files, and an SCM_CREDENTIALS pid that is the
// process's own with the supervisor's. Other control messages are kept as they are: the
// kernel checks them against the credentials of the sending thread, which are the process's.
func (msg *message) takeRights(t *target, ctl []byte) error {
	out := make([]byte, len(ctl))
	copy(out, ctl)
	for off := 0; off+16 <= len(out); {
		l := int(binary.LittleEndian.Uint64(out[off:]))
		if l < 16 || off+l > len(out) {
			return unix.EINVAL
		}
		level, typ := int32(binary.LittleEndian.Uint32(out[off+8:])), int32(binary.LittleEndian.Uint32(out[off+12:]))
		if level == unix.SOL_SOCKET && typ == unix.SCM_CREDENTIALS && l >= 16+12 &&
			int(binary.LittleEndian.Uint32(out[off+16:])) == t.tgid {
			// The kernel accepts the sender's own pid only, and the sender is the
			// supervisor: the process's claim to its own pid becomes the supervisor's, as its
			// implicit credentials do (the ids are checked against the process's, whose
			// credentials the sending thread holds).
			binary.LittleEndian.PutUint32(out[off+16:], uint32(os.Getpid()))
		}
		if level == unix.SOL_SOCKET && typ == scmRights {
			for p := off + 16; p+4 <= off+l; p += 4 {
				fd, err := t.fd(int(int32(binary.LittleEndian.Uint32(out[p:]))))
				if err != nil {
					return unix.EBADF
				}
				msg.fds = append(msg.fds, fd)
				binary.LittleEndian.PutUint32(out[p:], uint32(fd))
			}
		}
		off += (l + 7) &^ 7
	}
	msg.control = out
	return nil
}

// sendCall copies the messages (read), decides each destination and sends them on the
// process's socket, on the worker, in the process's view and with its credentials (a path is
// resolved as it would be; a unix peer sees its ids). A send that would block on a blocking
// socket continues on a thread of its own that takes the same view (Call.Defer), so a slow
// peer never holds a worker. flagsArg is the index of the flags argument.
func (m *fsMeta) sendCall(c *Call, name string, flagsArg int, read func(*target) ([]*message, error)) seccomp.ScmpNotifResp {
	t, err := pinTarget(c.Listener, c.Req, name == "sendmmsg")
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	a := c.Req.Data.Args
	s, err := t.sock(int(int32(a[0])))
	if err != nil {
		t.close()
		return errnoResp(errnoOf(err))
	}
	msgs, err := read(t)
	if err == nil && s.typ != unix.SOCK_STREAM && slices.ContainsFunc(msgs, func(m *message) bool { return m.long }) {
		closeMessages(msgs)
		err = unix.EMSGSIZE // a datagram is sent whole or not at all
	}
	if err != nil {
		s.close()
		t.close()
		return errnoResp(errnoOf(err))
	}
	j := &sendJob{m: m, c: c, t: t, s: s, msgs: msgs, flags: int(int32(a[flagsArg])), many: name == "sendmmsg",
		name: name, argv: a[1]}
	return j.run()
}

// sendJob is one send call being performed.
type sendJob struct {
	m     *fsMeta
	c     *Call
	t     *target
	s     *sock
	msgs  []*message
	flags int
	many  bool
	name  string
	argv  uint64 // sendmmsg's msgvec
	sent  int    // messages sent whole
	bytes int    // bytes of the current message sent
	first int    // bytes of the first message (sendto, sendmsg's answer)
}

func (j *sendJob) close() {
	closeMessages(j.msgs)
	j.s.close()
	j.t.close()
}

// run decides every message (up to the first refusal), sends what it can without blocking,
// and hands the rest to a thread of its own when the socket blocks.
func (j *sendJob) run() seccomp.ScmpNotifResp {
	var refused error
	decideAndSend := func() (uint64, error) {
		for i, msg := range j.msgs {
			d, err := j.m.dest(j.c.w, j.t, j.s, msg.addr, false, j.flags)
			if err != nil {
				refused = err
				closeMessages(j.msgs[i:])
				j.msgs = j.msgs[:i]
				break
			}
			msg.dest = d
		}
		return 0, j.sendSome(unix.MSG_DONTWAIT)
	}
	var err error
	if j.needsView() {
		_, err = j.c.w.inView(j.t, -1, decideAndSend)
	} else {
		_, err = decideAndSend()
	}
	if refused != nil {
		j.c.report(j.name, refused)
	}
	if errors.Is(err, unix.EAGAIN) && j.s.blocking(j.flags) {
		held := j.unsent()
		if !waitingSends.take(held) {
			switch {
			case j.s.typ == unix.SOCK_STREAM && (j.sent > 0 || j.bytes > 0):
				return j.answer(nil, refused) // a short send, as a signal would end it
			case j.s.typ == unix.SOCK_STREAM:
				j.trim(overBudgetChunk) // a short send when it is through
				held = 0
			default:
				if err := waitingSends.await(held, j.t); err != nil {
					return j.answer(err, refused)
				}
			}
		}
		tc := j.t.creds.threadCreds()
		j.c.Defer(func() seccomp.ScmpNotifResp {
			defer waitingSends.give(held)
			runtime.LockOSThread() // never unlocked: the thread ends with this goroutine, its view with it
			if err := j.t.enterView(tc); err != nil {
				return j.answer(err, refused)
			}
			return j.answer(j.sendWaiting(), refused)
		})
		return seccomp.ScmpNotifResp{}
	}
	return j.answer(err, refused)
}

// unsent is the bytes of copied data the job still holds to send.
func (j *sendJob) unsent() int {
	n := -j.bytes
	for _, msg := range j.msgs[j.sent:] {
		n += len(msg.data)
	}
	return n
}

// trim keeps the first unsent message only, and at most n bytes of it.
func (j *sendJob) trim(n int) {
	closeMessages(j.msgs[j.sent+1:])
	j.msgs = j.msgs[:j.sent+1]
	if msg := j.msgs[j.sent]; len(msg.data) > n {
		msg.data = slices.Clone(msg.data[:n])
	}
}

// overBudgetChunk is what a stream send past the budget keeps to send (then returns that
// count): about what the sandbox pays, in its own cgroup, for the thread blocked in it.
const overBudgetChunk = 16 << 10

// sendBudget bounds the copied data held by sends that wait for room on a blocking socket.
// Each holds up to sendMax bytes in the supervisor, outside the container's memory cgroup,
// for as long as the peer does not read: found by the fourth escape pass, a sandbox limited
// to 64 MiB (max_memory) had its supervisor hold 1.5 GiB with 300 threads each blocked in a
// 4 MiB sendmsg on a socketpair it never read. Past the budget a stream send that sent part of
// its data returns that count (a blocking stream send interrupted by a signal does too), one
// that sent nothing keeps overBudgetChunk bytes to send, and a datagram (sent whole or not at
// all; the socket's send buffer bounds it) waits on its worker for room in the budget.
type sendBudget struct {
	mu   sync.Mutex
	left int
}

// waitingSends is the supervisor's budget: 8 messages of the largest size.
var waitingSends = &sendBudget{left: 8 * sendMax}

func (b *sendBudget) take(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.left {
		return false
	}
	b.left -= n
	return true
}

func (b *sendBudget) give(n int) {
	b.mu.Lock()
	b.left += n
	b.mu.Unlock()
}

// await takes n once the budget has room, polling; EINTR once the caller is gone.
func (b *sendBudget) await(n int, t *target) error {
	for !b.take(n) {
		if t.valid() != nil {
			return unix.EINTR
		}
		time.Sleep(sendWaitPoll / 10)
	}
	return nil
}

// sendWaitPoll is how long a blocked send waits for room before it asks again whether its
// caller is still there.
const sendWaitPoll = 100 * time.Millisecond

// sendWaiting sends the rest as a blocking send would (until the socket's SO_SNDTIMEO, if it
// has one), but waits for room with poll and gives up once the call is gone: a blocking send
// made on the supervisor's thread waited for ever when its caller was killed and the peer never
// read (the supervisor is outside the container's cgroup: a thread held past max_processes for
// each such caller).
func (j *sendJob) sendWaiting() error {
	var deadline time.Time
	if tv, err := unix.GetsockoptTimeval(j.s.fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO); err == nil && (tv.Sec != 0 || tv.Usec != 0) {
		deadline = time.Now().Add(time.Duration(tv.Sec)*time.Second + time.Duration(tv.Usec)*time.Microsecond)
	}
	ready := false
	for {
		err := j.sendSome(unix.MSG_DONTWAIT)
		if !errors.Is(err, unix.EAGAIN) {
			return err
		}
		if j.t.valid() != nil {
			return unix.EINTR // nobody is waiting for the answer any more
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return err // the socket's send timeout, as the kernel answers it
		}
		if ready {
			// poll found room, the send none: a datagram's peer is full, which poll on an
			// unconnected socket does not tell.
			time.Sleep(sendWaitPoll / 10)
		}
		fds := []unix.PollFd{{Fd: int32(j.s.fd), Events: unix.POLLOUT}}
		n, _ := unix.Poll(fds, int(sendWaitPoll/time.Millisecond))
		ready = n > 0
	}
}

// needsView: the send must be made in the process's view and with its credentials. A unix
// socket's path is resolved in its view and its peer sees its ids; control data may ask what
// only some credentials may (SO_MARK, SCM_CREDENTIALS). Plain IP data carries nothing of the
// sender: it is sent from the worker as it is, which saves taking the view on every send.
func (j *sendJob) needsView() bool {
	if j.s.domain == unix.AF_UNIX {
		return true
	}
	for _, msg := range j.msgs {
		if len(msg.control) > 0 {
			return true
		}
	}
	return false
}

// sendSome sends the remaining messages with extra flags; it stops at the first error (EAGAIN
// under MSG_DONTWAIT: the rest is sent blocking) and writes sendmmsg's msg_len fields.
func (j *sendJob) sendSome(extra int) error {
	for j.sent < len(j.msgs) {
		msg := j.msgs[j.sent]
		n, err := msg.send(j.s.fd, msg.data[j.bytes:], j.flags|extra)
		j.bytes += n
		if errors.Is(err, unix.EPIPE) && j.flags&unix.MSG_NOSIGNAL == 0 {
			j.t.sigpipe()
		}
		if err != nil {
			return err
		}
		if j.bytes < len(msg.data) && j.s.typ == unix.SOCK_STREAM && extra != 0 {
			return unix.EAGAIN // a short send on a stream: the rest, blocking
		}
		if j.many {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], uint32(j.bytes))
			if err := j.t.writeBytes(j.argv+uint64(j.sent)*mmsgSize+msghdrSize, b[:]); err != nil {
				return err
			}
		}
		if j.sent == 0 {
			j.first = j.bytes
		}
		j.sent++
		j.bytes = 0
	}
	return nil
}

// answer is the call's result: sendmmsg's count of messages sent, sendto/sendmsg's bytes (a
// part of a stream message counts); an error only when nothing was sent.
func (j *sendJob) answer(err, refused error) seccomp.ScmpNotifResp {
	defer j.close()
	switch {
	case j.many && j.sent > 0:
		return seccomp.ScmpNotifResp{Val: uint64(j.sent)}
	case !j.many && j.sent > 0:
		return seccomp.ScmpNotifResp{Val: uint64(j.first)}
	case !j.many && j.bytes > 0:
		return seccomp.ScmpNotifResp{Val: uint64(j.bytes)}
	}
	if err == nil {
		err = refused
	}
	if err == nil {
		return seccomp.ScmpNotifResp{} // sendmmsg of no message
	}
	return errnoResp(errnoOf(err))
}

// send is one sendmsg(2) of the message on sock: data, control data and the decided address.
// MSG_NOSIGNAL: a broken pipe signals the process (sigpipe), not the supervisor.
func (msg *message) send(sock int, data []byte, flags int) (int, error) {
	var h unix.Msghdr
	var iov unix.Iovec
	if len(data) > 0 {
		iov.Base = &data[0]
		iov.SetLen(len(data))
		h.Iov = &iov
		h.SetIovlen(1)
	}
	if name := msg.dest.name; len(name) > 0 {
		h.Name = &name[0]
		h.Namelen = uint32(len(name))
	}
	if len(msg.control) > 0 {
		h.Control = &msg.control[0]
		h.SetControllen(len(msg.control))
	}
	n, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(sock), uintptr(unsafe.Pointer(&h)), uintptr(flags|unix.MSG_NOSIGNAL))
	runtime.KeepAlive(data)
	runtime.KeepAlive(msg)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
