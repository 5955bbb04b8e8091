package notifsup

import (
	"context"
	"errors"
	"fmt"
	"sync"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Handler answers one notification (c.Req, from the listener c.Listener). The response's ID is
// filled in by Serve; Error is a positive errno.
//
// A handler must never answer with seccomp.NotifRespFlagContinue unless a comment next to it
// says why letting the kernel run the syscall with the target's (mutable) memory is safe.
type Handler func(c *Call) seccomp.ScmpNotifResp

// Call is one notification being handled, on one of the supervisor's worker threads.
type Call struct {
	Listener int
	Req      *seccomp.ScmpNotifReq
	w        *worker
	deferred bool
	audit    func(Denial)
}

// Defer answers the call from fn, run on a goroutine of its own, instead of from the
// handler's return: for calls that may block (a TCP connect) and must not hold a worker. fn
// must not use the worker's view.
func (c *Call) Defer(fn func() seccomp.ScmpNotifResp) {
	c.deferred = true
	go func() {
		resp := fn()
		resp.ID = c.Req.ID
		_ = seccomp.NotifRespond(seccomp.ScmpFd(c.Listener), &resp) // ENOENT: the target died
	}()
}

// key identifies a syscall as notifications report it. x32 syscalls arrive with the x86_64
// audit arch and the x32 bit in the number, so their entries are filed under x86_64.
type key struct {
	arch seccomp.ScmpArch
	nr   seccomp.ScmpSyscall
}

// Serve answers the notifications arriving on listener until every process using the filter
// is gone (the listener hangs up) or the listener fd is closed (it returns nil), ctx is done
// (it returns context.Cause(ctx)), or a response cannot be sent. Syscalls without a handler
// are refused with EPERM. Serve waits for its handlers before it returns; the caller still
// owns and closes listener.
//
// The notifications are taken by worker threads, leader and followers (workers.go): the
// leader receives one and handles it itself, from start to end, on the same thread, so a call
// costs no hand-off; it first promotes a follower when more notifications are waiting or the
// call may block, so a slow call never keeps the others waiting.
//
// A notification withdrawn between poll and receive (its process was killed) leaves receive
// blocked until the next one arrives; ctx is noticed only then.
func Serve(ctx context.Context, listener int, features []Feature, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	table, err := resolve(features)
	if err != nil {
		return err
	}
	for _, f := range features {
		if f.Start != nil {
			f.Start()
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wake, err := wakeOnDone(ctx)
	if err != nil {
		return err
	}
	defer wake.close()
	syncWakeUp(listener)
	p := &workers{
		listener: listener,
		next:     func() (*seccomp.ScmpNotifReq, error) { return next(ctx, listener, wake.fd) },
		serve: func(req *seccomp.ScmpNotifReq, w *worker) {
			if err := answer(&Call{Listener: listener, Req: req, w: w, audit: o.audit}, table); err != nil {
				cancel(err)
			}
		},
		mayBlock: func(req *seccomp.ScmpNotifReq) bool { return mayBlock[key{req.Data.Arch, req.Data.Syscall}] },
	}
	return p.run()
}

// mayBlock are the syscalls whose handling may wait on something outside the supervisor (a
// connect to a unix socket whose backlog is full): a follower takes over before they run.
var mayBlock = map[key]bool{}

func init() {
	if nr, err := seccomp.GetSyscallFromName("connect"); err == nil {
		if native, err := seccomp.GetNativeArch(); err == nil {
			mayBlock[key{native, nr}] = true
		}
	}
}

// resolve maps each feature's handler names to syscall numbers: of the native arch, and of
// every compat arch a filter covers for the features that decode those ABIs too.
func resolve(features []Feature) (map[key]Handler, error) {
	native, err := seccomp.GetNativeArch()
	if err != nil {
		return nil, fmt.Errorf("notifsup: native arch: %w", err)
	}
	table := map[key]Handler{}
	for _, f := range features {
		arches := []seccomp.ScmpArch{native}
		if f.AllArches {
			arches = append(arches, compatArches[native]...)
		}
		for name, h := range f.handlers() {
			for _, a := range arches {
				nr, err := seccomp.GetSyscallFromNameByArch(name, a)
				if err != nil || nr < 0 {
					continue // not a syscall on this arch
				}
				if _, dup := table[key{reportedArch(a), nr}]; dup {
					return nil, fmt.Errorf("notifsup: %s: syscall %s is already handled by another feature", f.Name, name)
				}
				table[key{reportedArch(a), nr}] = h
			}
		}
	}
	return table, nil
}

var compatArches = map[seccomp.ScmpArch][]seccomp.ScmpArch{
	seccomp.ArchAMD64: {seccomp.ArchX86, seccomp.ArchX32},
	seccomp.ArchARM64: {seccomp.ArchARM},
	seccomp.ArchS390X: {seccomp.ArchS390},
}

func reportedArch(a seccomp.ScmpArch) seccomp.ScmpArch {
	if a == seccomp.ArchX32 {
		return seccomp.ArchAMD64
	}
	return a
}

// waker is an eventfd that becomes readable when a context is done, so that poll can wait on
// the listener and on the context at once.
type waker struct {
	mu   sync.Mutex
	fd   int
	stop func() bool
}

func wakeOnDone(ctx context.Context) (*waker, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("notifsup: eventfd: %w", err)
	}
	w := &waker{fd: efd}
	w.stop = context.AfterFunc(ctx, w.wake)
	return w, nil
}

func (w *waker) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd >= 0 {
		unix.Write(w.fd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}
}

// close closes the eventfd under the lock, so that a wake-up racing with it can never write
// to a reused fd number.
func (w *waker) close() {
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	unix.Close(w.fd)
	w.fd = -1
}

// next waits for and receives one notification. It returns (nil, nil) when the listener hung
// up or was closed, and the context's cause when ctx is done.
func next(ctx context.Context, listener, wake int) (*seccomp.ScmpNotifReq, error) {
	for {
		fds := []unix.PollFd{{Fd: int32(listener), Events: unix.POLLIN}, {Fd: int32(wake), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, fmt.Errorf("notifsup: poll: %w", err)
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		ev := fds[0].Revents
		if ev&unix.POLLIN == 0 && ev&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			return nil, nil
		}
		if ev&unix.POLLIN == 0 {
			continue
		}
		req, err := seccomp.NotifReceive(seccomp.ScmpFd(listener))
		if errors.Is(err, unix.ENOENT) {
			continue // the target died before we received it
		}
		if err != nil {
			return nil, fmt.Errorf("notifsup: receive: %w", err)
		}
		return req, nil
	}
}

// answer runs the handler for the call (EPERM when there is none) and sends its response.
func answer(c *Call, table map[key]Handler) error {
	req := c.Req
	resp := seccomp.ScmpNotifResp{Error: int32(unix.EPERM)}
	if h, ok := table[key{req.Data.Arch, req.Data.Syscall}]; ok {
		resp = h(c)
	}
	if c.deferred {
		return nil
	}
	resp.ID = req.ID
	err := seccomp.NotifRespond(seccomp.ScmpFd(c.Listener), &resp)
	if err != nil && !errors.Is(err, unix.ENOENT) { // ENOENT: the target died meanwhile
		return fmt.Errorf("notifsup: respond to syscall %d: %w", req.Data.Syscall, err)
	}
	return nil
}

// seccompIoctlNotifSetFlags and seccompUserNotifFdSyncWakeUp are SECCOMP_IOCTL_NOTIF_SET_FLAGS
// and SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6), which x/sys does not define.
const (
	seccompIoctlNotifSetFlags    = 0x40082104
	seccompUserNotifFdSyncWakeUp = 1
)

// syncWakeUp asks the kernel to wake the supervisor's receiving thread synchronously, on the
// CPU of the process that trapped (the two take turns: one waits while the other runs). Kept
// because it helps here: uname round trips of 17.9-18.9 us with it against 19-64 us without, in
// alternating runs on this 2-core machine under load. Older kernels refuse the flag, which
// changes nothing else.
func syncWakeUp(listener int) {
	_, _, _ = unix.Syscall(unix.SYS_IOCTL, uintptr(listener), seccompIoctlNotifSetFlags, seccompUserNotifFdSyncWakeUp)
}
