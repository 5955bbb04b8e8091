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
// filled in by Serve; Error is a positive errno. A handler that has no business with this call
// (an open of a path its feature does not govern) returns NotMine(): the next feature trapping
// the same syscall is asked, and when none claims it the syscall continues (see answer).
// NotMine decided on the target's memory is a check-then-continue: the memory can change
// before the kernel reads it. A handler may return it only where losing that race breaks no
// security property (a synthetic /proc/cpuinfo not shown); where it would (a denied path
// reached), the handler performs the call on behalf instead.
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
		mayBlock: blocks,
	}
	return p.run()
}

// blocks: the call may wait on something outside the supervisor.
func blocks(req *seccomp.ScmpNotifReq) bool { return mayBlock[key{req.Data.Arch, req.Data.Syscall}] }

// mayBlock are the syscalls whose handling may wait on something outside the supervisor (a
// connect to a unix socket whose backlog is full): a follower takes over before they run. The
// sends are not among them: the worker sends with MSG_DONTWAIT, and what would block goes on
// a thread of its own (sendJob.run).
var mayBlock = map[key]bool{}

func init() {
	if nr, err := seccomp.GetSyscallFromName("connect"); err == nil {
		if native, err := seccomp.GetNativeArch(); err == nil {
			mayBlock[key{native, nr}] = true
		}
	}
}

// resolve maps each feature's handler names to syscall numbers: of the native arch, and of
// every compat arch a filter covers for the features that decode those ABIs too. A compat
// chain whose syscall another feature traps natively only (without decoding the compat
// forms) ends with a refusal: what every decoding feature leaves is refused, as it would be
// with none of them, never continued past the feature that could not decode it.
func resolve(features []Feature) (map[key]Handler, error) {
	chains := map[key][]Handler{}
	native, err := seccomp.GetNativeArch()
	if err != nil {
		return nil, fmt.Errorf("notifsup: native arch: %w", err)
	}
	nativeOnly := map[string]bool{}
	for _, f := range features {
		for name := range f.handlers() {
			nativeOnly[name] = nativeOnly[name] || !f.AllArches
		}
	}
	compat := map[key]string{} // the compat keys, by name
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
				k := key{reportedArch(a), nr}
				chains[k] = append(chains[k], h)
				if a != native {
					compat[k] = name
				}
			}
		}
	}
	table := map[key]Handler{}
	for k, hs := range chains {
		if name, ok := compat[k]; ok && nativeOnly[name] {
			hs = append(hs, refuseUndecoded)
		}
		table[k] = chain(hs)
	}
	return table, nil
}

// refuseUndecoded ends a compat chain (see resolve): EPERM, what a syscall without a handler
// gets.
func refuseUndecoded(*Call) seccomp.ScmpNotifResp { return errnoResp(unix.EPERM) }

// notMineFlag marks NotMine's response; it is never sent (answer turns it into a continue).
const notMineFlag = 1 << 31

// NotMine is the answer of a handler that has nothing to do with this call.
func NotMine() seccomp.ScmpNotifResp { return seccomp.ScmpNotifResp{Flags: notMineFlag} }

// IsNotMine reports whether resp is NotMine().
func IsNotMine(resp seccomp.ScmpNotifResp) bool { return resp.Flags&notMineFlag != 0 }

// chain asks the handlers of the features trapping one syscall in their declaration order;
// the first that claims the call answers it.
func chain(hs []Handler) Handler {
	if len(hs) == 1 {
		return hs[0]
	}
	return func(c *Call) seccomp.ScmpNotifResp {
		for _, h := range hs {
			if resp := h(c); !IsNotMine(resp) || c.deferred {
				return resp
			}
		}
		return NotMine()
	}
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
	if IsNotMine(resp) {
		// Continue is safe here: every feature that trapped this syscall has looked at the
		// call and declared it outside what it governs (each handler's comment says why its
		// "not mine" is final, e.g. it decided on a path it copied and resolved itself and
		// that the kernel will resolve again under Landlock). The kernel then runs the
		// syscall with all its own checks (Landlock, DAC, the rest of the filter), exactly as
		// if it had not been trapped: nothing the supervisor saw is trusted by the kernel.
		resp = seccomp.ScmpNotifResp{Flags: seccomp.NotifRespFlagContinue}
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
