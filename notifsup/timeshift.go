package notifsup

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// ShiftedClocks are the clocks time_start shifts: the wall clocks (CLOCK_REALTIME, _COARSE,
// _ALARM, CLOCK_TAI). The monotonic clocks (MONOTONIC, _RAW, _COARSE, BOOTTIME) keep the
// host's values: they count from an unspecified point, so shifting them makes nothing more
// reproducible, and left alone no absolute timer on them needs translating. The filter sends
// clock_gettime and clock_nanosleep to the supervisor for these ids only (confine.WallClocks).
var ShiftedClocks = []int32{unix.CLOCK_REALTIME, unix.CLOCK_REALTIME_COARSE, unix.CLOCK_REALTIME_ALARM, unix.CLOCK_TAI}

// timeShift answers the wall-clock reads of the sandbox with the host's clock plus offset:
// time_start minus the host's time when the sandbox's program started (its first trapped
// call: the vDSO rewrite at its first arch_prctl), so its clock starts at time_start and
// advances at the host's speed.
type timeShift struct {
	start  time.Time
	once   sync.Once
	offset int64 // nanoseconds
	// written: the deadlines translated in the processes' own structs (unshiftInPlace).
	written writtenDeadlines
	// coarse is CLOCK_REALTIME_COARSE's own offset: that clock lags CLOCK_REALTIME by up to a
	// tick, and shifted by the same offset its first reads would come before time_start.
	coarse int64
	// sleepers counts the on-behalf sleeps (clockNanosleep): their checks share a budget.
	sleepers atomic.Int64
}

// TimeShift is time_start: the wall clocks the sandbox reads start at start. Every way a
// 64-bit program reads them is answered by the supervisor: clock_gettime on the wall clocks,
// gettimeofday and time as syscalls, and the same functions of the vDSO, which every exec's
// first arch_prctl rewrites into those syscalls (vdso_amd64.go). Absolute deadlines on the
// wall clocks are translated back (clock_nanosleep slept on behalf, timerfd_settime set on
// behalf, timer_settime and the CLOCK_REALTIME futex waits in place). adjtimex and
// clock_adjtime are refused in every sandbox already. The i386 forms are refused (EPERM;
// their time64 variants ENOSYS), and so is i386's set_thread_area: a 32-bit program, whose
// vDSO is not patched, cannot start.
func TimeShift(start time.Time) Feature {
	s := &timeShift{start: start}
	hs := map[string]Handler{
		"clock_gettime":   s.clockGettime,
		"gettimeofday":    s.gettimeofday,
		"time":            s.time,
		"clock_nanosleep": s.clockNanosleep,
		"timer_settime":   s.timerSettime,
		"timerfd_settime": pinned(true, s.timerfdSettime),
		"futex":           s.futex,
		"futex_waitv":     s.futexWaitv,
	}
	for name, h := range vdsoHandlers(s) {
		hs[name] = h
	}
	return Feature{Name: "time_start", Handlers: hs}
}

// off is the offset, fixed at the first call.
func (s *timeShift) off() int64 {
	s.once.Do(func() {
		var now, coarse unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_REALTIME_COARSE, &coarse)
		_ = unix.ClockGettime(unix.CLOCK_REALTIME, &now)
		s.offset = s.start.UnixNano() - now.Nano()
		s.coarse = s.start.UnixNano() - coarse.Nano()
	})
	return s.offset
}

// offFor is the offset of clock id: CLOCK_TAI keeps its distance to CLOCK_REALTIME (the
// leap seconds), CLOCK_REALTIME_COARSE has its own (see coarse).
func (s *timeShift) offFor(id int32) int64 {
	off := s.off()
	if id == unix.CLOCK_REALTIME_COARSE {
		return s.coarse
	}
	return off
}

func shiftedClock(arg uint64) (int32, bool) {
	id := int32(uint32(arg)) // the kernel reads a clockid_t, an int
	return id, slices.Contains(ShiftedClocks, id)
}

// now reads clock id and shifts it.
func (s *timeShift) now(id int32) (int64, error) {
	off := s.offFor(id) // first: fixed after the read, the first answer would be before start
	var ts unix.Timespec
	if err := unix.ClockGettime(id, &ts); err != nil {
		return 0, err
	}
	return ts.Nano() + off, nil
}

// clockGettime answers clock_gettime on a wall clock. Another clock (the filter sends none)
// continues: decided on a register, which the process cannot change after the fact.
func (s *timeShift) clockGettime(c *Call) seccomp.ScmpNotifResp {
	id, ok := shiftedClock(c.Req.Data.Args[0])
	if !ok {
		return NotMine()
	}
	ns, err := s.now(id)
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	return answerWrite(c, c.Req.Data.Args[1], timeBytes(ns, 1), 0)
}

// gettimeofday answers with the shifted time and the kernel's timezone.
func (s *timeShift) gettimeofday(c *Call) seccomp.ScmpNotifResp {
	tv, tz := c.Req.Data.Args[0], c.Req.Data.Args[1]
	ns, err := s.now(unix.CLOCK_REALTIME)
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	t := peekTarget(c.Listener, c.Req)
	t.writeMem = true
	defer t.close()
	if tv != 0 {
		if err := t.writeBytes(tv, timeBytes(ns, 1e3)); err != nil {
			return errnoResp(errnoOf(err))
		}
	}
	if tz != 0 {
		if err := t.writeBytes(tz, kernelTimezone()); err != nil {
			return errnoResp(errnoOf(err))
		}
	}
	if err := t.valid(); err != nil {
		return errnoResp(errnoOf(err))
	}
	return seccomp.ScmpNotifResp{}
}

// kernelTimezone is the kernel's struct timezone (what settimeofday set, usually zeros).
func kernelTimezone() []byte {
	var zone [2]int32
	_, _, _ = unix.RawSyscall(unix.SYS_GETTIMEOFDAY, 0, uintptr(unsafe.Pointer(&zone)), 0)
	b := binary.LittleEndian.AppendUint32(nil, uint32(zone[0]))
	return binary.LittleEndian.AppendUint32(b, uint32(zone[1]))
}

// time answers time(2): the shifted seconds, stored at tloc too when it is not NULL.
func (s *timeShift) time(c *Call) seccomp.ScmpNotifResp {
	ns, err := s.now(unix.CLOCK_REALTIME)
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	sec := floorDiv(ns, 1e9)
	if c.Req.Data.Args[0] == 0 {
		return seccomp.ScmpNotifResp{Val: uint64(sec)}
	}
	return answerWrite(c, c.Req.Data.Args[0], binary.LittleEndian.AppendUint64(nil, uint64(sec)), uint64(sec))
}

// clockNanosleep sleeps on behalf of the process until its absolute deadline on a wall clock,
// translated to the host's clock. The deadline is read once; the process keeps its own
// timespec unchanged (a loop that retries the same deadline after EINTR, or adds its period
// to it, stays right). The supervisor cannot change the call's arguments, so the sleep is its
// own: a goroutine that wakes at the deadline, or within sleepStep of the notification
// withdrawn (the process killed) or of a signal the thread catches (EINTR: the listener is
// WAIT_KILLABLE_RECV, so the kernel itself would only interrupt the call for a fatal one). A
// relative sleep, or one on another clock, never comes here (the filter's conditions).
func (s *timeShift) clockNanosleep(c *Call) seccomp.ScmpNotifResp {
	id, ok := shiftedClock(c.Req.Data.Args[0])
	if !ok || c.Req.Data.Args[1]&unix.TIMER_ABSTIME == 0 {
		return NotMine() // decided on registers
	}
	t := peekTarget(c.Listener, c.Req)
	b, err := t.readBytes(c.Req.Data.Args[2], 16)
	t.close()
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	sec, nsec := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return errnoResp(unix.EINVAL)
	}
	if id == unix.CLOCK_REALTIME_ALARM {
		// The kernel lets only CAP_WAKE_ALARM sleep on it: so does this. Slept as a plain
		// deadline (the supervisor does not wake the machine).
		if !hasCap(c, unix.CAP_WAKE_ALARM) {
			return errnoResp(unix.EPERM)
		}
		id = unix.CLOCK_REALTIME
	}
	deadline := s.toHost(nanos(sec, nsec)) // the host's clock
	listener, nid, tid := c.Listener, c.Req.ID, int(c.Req.Pid)
	c.Defer(func() seccomp.ScmpNotifResp {
		// Stop early: the notification withdrawn (the process killed), or a signal the
		// thread catches is waiting (EINTR, as the kernel's clock_nanosleep answers after a
		// handler, SA_RESTART or not: the process retries with its unchanged deadline).
		stop := func() (bool, unix.Errno) {
			if seccomp.NotifIDValid(seccomp.ScmpFd(listener), nid) != nil {
				return true, 0
			}
			if caughtSignalPending(tid) {
				return true, unix.EINTR
			}
			return false, 0
		}
		s.sleepers.Add(1)
		defer s.sleepers.Add(-1)
		return errnoResp(sleepUntil(id, deadline, stop, s.sleepers.Load))
	})
	return seccomp.ScmpNotifResp{}
}

// hasCap reports whether the calling thread has capability cap in effect (in the supervisor's
// user namespace: see creds.capEff).
func hasCap(c *Call, cap uint) bool {
	t, err := pinTarget(c.Listener, c.Req, false)
	if err != nil {
		return false
	}
	defer t.close()
	return t.creds.capEff&(1<<cap) != 0
}

// sleepCheck bounds how long an on-behalf sleep goes on after its process is gone or a signal
// it catches arrived, while there are at most sleepBatch of them. More sleepers check less
// often (sleepStep): the checks of all of them (a /proc read each) stay at sleepBatch a
// sleepCheck, so that thousands of threads asleep cost the supervisor, which no CPU limit of
// the sandbox counts, no more than a few (before, 2,000 kept it a whole core busy).
const (
	sleepCheck = 100 * time.Millisecond
	sleepBatch = 32
)

// sleepStep is how long a sleeper waits between checks when n sleep on behalf.
func sleepStep(n int64) time.Duration {
	return sleepCheck * time.Duration(max(1, (n+sleepBatch-1)/sleepBatch))
}

// sleepUntil sleeps until clock id reads deadline (nanoseconds), re-reading the clock after
// each step so that a step of the host's clock is followed; stop, asked after each step,
// ends it early with its errno. sleepers says how many sleep on behalf (sleepStep).
func sleepUntil(id int32, deadline int64, stop func() (bool, unix.Errno), sleepers func() int64) unix.Errno {
	for {
		var now unix.Timespec
		if unix.ClockGettime(id, &now) != nil {
			return 0
		}
		left := time.Duration(deadline - now.Nano())
		if left <= 0 {
			return 0
		}
		time.Sleep(min(left, sleepStep(sleepers())))
		if done, e := stop(); done {
			return e
		}
	}
}

// caughtSignalPending: thread tid has a signal pending, for it or its process, that it does
// not block and has a handler for (/proc/TID/status). An ignored or default-action signal is
// left alone: a fatal one ends the call anyway (WAIT_KILLABLE_RECV), the others would not
// interrupt the kernel's sleep either (a stop is delayed to the deadline: the limit).
func caughtSignalPending(tid int) bool {
	b, err := procRead(strconv.Itoa(tid) + "/status")
	return err == nil && caughtPendingIn(string(b))
}

// caughtPendingIn reads caughtSignalPending's answer from a /proc/TID/status text.
func caughtPendingIn(status string) bool {
	var pnd, blk, cgt uint64
	for _, line := range strings.Split(status, "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			continue
		}
		switch k {
		case "SigPnd", "ShdPnd":
			pnd |= n
		case "SigBlk":
			blk = n
		case "SigCgt":
			cgt = n
		}
	}
	return pnd&^blk&cgt != 0
}

// timerSettime translates the absolute it_value of a POSIX timer on a wall clock into the
// host's clock, in the process's struct, and lets the kernel set the timer. A POSIX timer
// belongs to the process, so the supervisor cannot set it on its behalf; the struct is
// rewritten in place instead (unshiftInPlace: a struct passed again with the value written is
// not translated twice). Continue is safe: no property rests on what the kernel reads; a thread
// that rewrites the struct in between only sets its own timer to another time.
func (s *timeShift) timerSettime(c *Call) seccomp.ScmpNotifResp {
	if c.Req.Data.Args[1]&unix.TIMER_ABSTIME == 0 || c.Req.Data.Args[2] == 0 {
		return NotMine()
	}
	id, ok := timerClock(c.Req.Pid, int(int32(uint32(c.Req.Data.Args[0]))))
	if _, shifted := shiftedClock(uint64(uint32(id))); !ok || !shifted {
		return NotMine() // an unknown timer: the kernel answers EINVAL
	}
	return s.unshiftInPlace(c, c.Req.Data.Args[2]+16)
}

// unshiftInPlace subtracts the offset from the timespec at addr (an absolute deadline, 0 =
// disarm left alone) and continues the call (see timerSettime for why that is safe). A struct
// that holds the very deadline this thread had written into it last (a wait retried with the
// same struct after a spurious wake-up, EINTR or a timeout loop) is passed on as it is:
// translated once, never twice.
func (s *timeShift) unshiftInPlace(c *Call, addr uint64) seccomp.ScmpNotifResp {
	t := peekTarget(c.Listener, c.Req)
	t.writeMem = true
	defer t.close()
	b, err := t.readBytes(addr, 16)
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	sec, nsec := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
	if (sec == 0 && nsec == 0) || nsec < 0 || nsec >= 1e9 {
		return NotMine() // disarm, or EINVAL from the kernel
	}
	k := writtenKey{tid: c.Req.Pid, addr: addr}
	if s.written.has(k, nanos(sec, nsec)) {
		return NotMine() // already the host's deadline
	}
	ns := s.toHost(nanos(sec, nsec))
	if err := t.writeBytes(addr, timeBytes(ns, 1)); err != nil {
		return errnoResp(errnoOf(err))
	}
	if err := t.valid(); err != nil {
		return errnoResp(errnoOf(err))
	}
	ts := timespecOf(ns)
	s.written.put(k, ts.Nano())
	// Continue: safe, see timerSettime (only when the process's own timer fires is at stake).
	return seccomp.ScmpNotifResp{Flags: seccomp.NotifRespFlagContinue}
}

// writtenKey is a deadline struct of a thread.
type writtenKey struct {
	tid  uint32
	addr uint64
}

// writtenDeadlines remembers the last deadline written into each struct (see unshiftInPlace).
// It is forgotten whole when it grows past writtenMax (threads come and go).
type writtenDeadlines struct {
	mu sync.Mutex
	m  map[writtenKey]int64
}

const writtenMax = 4096

func (w *writtenDeadlines) has(k writtenKey, ns int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.m[k]
	return ok && v == ns
}

func (w *writtenDeadlines) put(k writtenKey, ns int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil || len(w.m) >= writtenMax {
		w.m = map[writtenKey]int64{}
	}
	w.m[k] = ns
}

// futex: the absolute timeouts on CLOCK_REALTIME (FUTEX_WAIT_BITSET and FUTEX_WAIT_REQUEUE_PI
// with FUTEX_CLOCK_REALTIME: pthread_cond_timedwait on its default clock, sem_timedwait;
// FUTEX_LOCK_PI always; FUTEX_LOCK_PI2 with the flag), the only futex calls the filter sends
// (confine's conditions). A futex is the process's memory: no one else can wait on it, so the
// timeout is translated in place (unshiftInPlace). Anything else continues: decided on
// registers.
func (s *timeShift) futex(c *Call) seccomp.ScmpNotifResp {
	if !futexRealtimeDeadline(uint32(c.Req.Data.Args[1])) || c.Req.Data.Args[3] == 0 {
		return NotMine()
	}
	return s.unshiftInPlace(c, c.Req.Data.Args[3])
}

// futexRealtimeDeadline: futex op takes an absolute timeout on CLOCK_REALTIME.
func futexRealtimeDeadline(op uint32) bool {
	const clockRT, cmdMask = 0x100, 0x7f
	cmd := op & cmdMask
	return cmd == futexLockPI || (op&clockRT != 0 && (cmd == futexWaitBitset || cmd == futexWaitRequeuePI || cmd == futexLockPI2))
}

// The futex commands with an absolute timeout (linux/futex.h; x/sys/unix defines none).
const (
	futexLockPI        = 6
	futexWaitBitset    = 9
	futexWaitRequeuePI = 11
	futexLockPI2       = 13
)

// futexWaitv: futex_waitv's timeout is absolute, on the clock its last argument names; on
// CLOCK_REALTIME it is translated in place like futex's.
func (s *timeShift) futexWaitv(c *Call) seccomp.ScmpNotifResp {
	if int32(uint32(c.Req.Data.Args[4])) != unix.CLOCK_REALTIME || c.Req.Data.Args[3] == 0 {
		return NotMine()
	}
	return s.unshiftInPlace(c, c.Req.Data.Args[3])
}

// timerClock reads the clock of POSIX timer id from /proc/TID/timers.
func timerClock(tid uint32, id int) (int32, bool) {
	b, err := readAllAt(hostProc, strconv.Itoa(int(tid))+"/timers") // one record per line: not one read
	if err != nil {
		return 0, false
	}
	return parseTimerClock(string(b), id)
}

// parseTimerClock finds timer id's "ClockID:" in /proc/PID/timers.
func parseTimerClock(timers string, id int) (int32, bool) {
	cur := -1
	for _, line := range strings.Split(timers, "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil:
		case k == "ID":
			cur = n
		case k == "ClockID" && cur == id:
			return int32(n), true
		}
	}
	return 0, false
}

// timerfdSettime sets the timer on behalf of the process, on its own open timerfd
// (pidfd_getfd): an absolute deadline on a wall clock is translated to the host's clock, the
// process's struct is read once and left unchanged, and the old value (relative, as the
// kernel gives it) is written back.
func (s *timeShift) timerfdSettime(c *Call, t *target) seccomp.ScmpNotifResp {
	a := c.Req.Data.Args
	fd, err := t.fd(int(int32(uint32(a[0]))))
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	defer unix.Close(fd)
	ts, err := readTimespecs(t, a[2]) // struct itimerspec: it_interval, it_value
	if err != nil {
		return errnoResp(errnoOf(err))
	}
	nv, old := unix.ItimerSpec{Interval: ts[0], Value: ts[1]}, unix.ItimerSpec{}
	vs, vn := nv.Value.Sec, nv.Value.Nsec
	if id, ok := fdClock(fd); ok && slices.Contains(ShiftedClocks, id) && (vs != 0 || vn != 0) && vn >= 0 && vn < 1e9 {
		ns := s.toHost(nanos(vs, vn))
		nv.Value = timespecOf(ns)
	}
	if err := unix.TimerfdSettime(fd, int(int32(uint32(a[1]))), &nv, &old); err != nil {
		return errnoResp(errnoOf(err))
	}
	if a[3] != 0 {
		out := append(timeBytes(old.Interval.Nano(), 1), timeBytes(old.Value.Nano(), 1)...)
		if err := t.writeBytes(a[3], out); err != nil {
			return errnoResp(errnoOf(err))
		}
	}
	return seccomp.ScmpNotifResp{}
}

// fdClock reads a timerfd's clock from the supervisor's own fdinfo of its copy of the fd (the
// very open file the call acts on).
func fdClock(fd int) (int32, bool) {
	b, err := procRead("self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "clockid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return int32(n), err == nil
		}
	}
	return 0, false
}

// answerWrite writes b into the process's buffer at addr and answers val. Nothing is read from
// the process: the memory is opened before the ID is checked (see Uname).
func answerWrite(c *Call, addr uint64, b []byte, val uint64) seccomp.ScmpNotifResp {
	t := peekTarget(c.Listener, c.Req)
	t.writeMem = true
	defer t.close()
	if err := t.writeBytes(addr, b); err != nil {
		return errnoResp(errnoOf(err))
	}
	if err := t.valid(); err != nil {
		return errnoResp(errnoOf(err))
	}
	return seccomp.ScmpNotifResp{Val: val}
}

// timeBytes is a struct timespec (unit 1) or timeval (unit 1000) for ns nanoseconds since the
// epoch: two little-endian 64-bit fields, whole seconds rounded down and a non-negative
// fraction (a time before 1970 too).
func timeBytes(ns, unit int64) []byte {
	sec := floorDiv(ns, 1e9)
	b := binary.LittleEndian.AppendUint64(nil, uint64(sec))
	return binary.LittleEndian.AppendUint64(b, uint64((ns-sec*1e9)/unit))
}

// timespecOf is ns as a unix.Timespec (fraction non-negative).
func timespecOf(ns int64) unix.Timespec {
	sec := floorDiv(ns, 1e9)
	return unix.Timespec{Sec: sec, Nsec: ns - sec*1e9}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// nanos is sec, nsec in nanoseconds, capped as the kernel caps a deadline past year 2262
// (timespec64_to_ktime: KTIME_MAX, "never"): {LONG_MAX, 0}, a sleep for ever, wrapped to a
// time long past and returned at once.
func nanos(sec, nsec int64) int64 {
	if sec >= math.MaxInt64/1_000_000_000 {
		return math.MaxInt64
	}
	return sec*1e9 + nsec
}

// toHost is a deadline on the sandbox's wall clock as the host's; "never" stays never.
func (s *timeShift) toHost(ns int64) int64 {
	if ns == math.MaxInt64 {
		return ns
	}
	return satAdd(ns, -s.off())
}

// satAdd adds without wrapping around.
func satAdd(a, b int64) int64 {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		if b > 0 {
			return 1<<63 - 1
		}
		return -1 << 63
	}
	return s
}
