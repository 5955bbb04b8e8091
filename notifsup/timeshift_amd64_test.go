package notifsup

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

func TestTimeBytes(t *testing.T) {
	for _, c := range []struct {
		ns, unit, sec, frac int64
	}{
		{1_500_000_000, 1, 1, 500_000_000},
		{1_500_000_000, 1e3, 1, 500_000},
		{-1, 1, -1, 999_999_999}, // before 1970: seconds rounded down, fraction positive
		{-1_000_000_000, 1, -1, 0},
	} {
		b := timeBytes(c.ns, c.unit)
		sec, frac := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
		if sec != c.sec || frac != c.frac {
			t.Errorf("timeBytes(%d, %d): got %d.%d, want %d.%d", c.ns, c.unit, sec, frac, c.sec, c.frac)
		}
	}
	if ts := timespecOf(-1); ts.Sec != -1 || ts.Nsec != 999_999_999 {
		t.Errorf("timespecOf(-1): got %+v", ts)
	}
}

func TestSatAdd(t *testing.T) {
	if got := satAdd(1<<63-10, 100); got != 1<<63-1 {
		t.Errorf("got %d, want the maximum", got)
	}
	if got := satAdd(-1<<63+10, -100); got != -1<<63 {
		t.Errorf("got %d, want the minimum", got)
	}
	if got := satAdd(5, -7); got != -2 {
		t.Errorf("got %d, want -2", got)
	}
}

func TestParseTimerClock(t *testing.T) {
	const timers = "ID: 0\nsignal: 14/0000000000000000\nnotify: signal/pid.12\nClockID: 1\n" +
		"ID: 3\nsignal: 10/0000000000000000\nnotify: signal/pid.12\nClockID: 0\n"
	for _, c := range []struct {
		id   int
		want int32
		ok   bool
	}{{0, 1, true}, {3, 0, true}, {7, 0, false}} {
		got, ok := parseTimerClock(timers, c.id)
		if got != c.want || ok != c.ok {
			t.Errorf("timer %d: got %d, %v; want %d, %v", c.id, got, ok, c.want, c.ok)
		}
	}
}

func TestVDSOStub(t *testing.T) {
	// mov eax, 228; syscall; ret
	want := []byte{0xb8, 0xe4, 0, 0, 0, 0x0f, 0x05, 0xc3}
	if got := vdsoStub(228); string(got) != string(want) {
		t.Errorf("got % x, want % x", got, want)
	}
}

func TestHostVDSOLayout(t *testing.T) {
	l, err := hostVDSO()
	if err != nil {
		t.Skipf("no vDSO in this process: %v", err)
	}
	if len(l.offs) != len(vdsoFuncs) || l.size == 0 {
		t.Fatalf("got %+v", l)
	}
}

func TestFutexRealtimeDeadline(t *testing.T) {
	const private, clockRT = 0x80, 0x100
	for _, c := range []struct {
		op   uint32
		want bool
	}{
		{0, false},                                  // FUTEX_WAIT: relative
		{0 | clockRT | private, false},              // FUTEX_WAIT: relative even with the flag
		{futexWaitBitset | private, false},          // CLOCK_MONOTONIC
		{futexWaitBitset | clockRT | private, true}, // pthread_cond_timedwait
		{futexWaitRequeuePI | clockRT, true},
		{futexLockPI | private, true}, // always CLOCK_REALTIME
		{futexLockPI2 | private, false},
		{futexLockPI2 | clockRT, true},
		{1, false}, // FUTEX_WAKE
	} {
		if got := futexRealtimeDeadline(c.op); got != c.want {
			t.Errorf("op %#x: got %v, want %v", c.op, got, c.want)
		}
	}
}

func TestWrittenDeadlines(t *testing.T) {
	var w writtenDeadlines
	k := writtenKey{tid: 1, addr: 0x1000}
	if w.has(k, 5) {
		t.Fatal("empty: has a deadline")
	}
	w.put(k, 5)
	if !w.has(k, 5) || w.has(k, 6) || w.has(writtenKey{tid: 2, addr: 0x1000}, 5) {
		t.Error("has: wrong answer after put(tid 1, 0x1000, 5)")
	}
	for i := range writtenMax + 1 {
		w.put(writtenKey{tid: 3, addr: uint64(i)}, 1)
	}
	if len(w.m) > writtenMax {
		t.Errorf("%d entries kept, want at most %d", len(w.m), writtenMax)
	}
}

func TestCaughtPendingIn(t *testing.T) {
	const usr2 = "0000000000000800" // bit 11: SIGUSR2 (12)
	status := func(pnd, shd, blk, cgt string) string {
		return "Name:\tx\nSigQ:\t1/100\nSigPnd:\t" + pnd + "\nShdPnd:\t" + shd + "\nSigBlk:\t" + blk +
			"\nSigIgn:\t0000000000000000\nSigCgt:\t" + cgt + "\n"
	}
	const zero = "0000000000000000"
	for _, c := range []struct {
		name   string
		status string
		want   bool
	}{
		{"caught, pending for the thread", status(usr2, zero, zero, usr2), true},
		{"caught, pending for the process", status(zero, usr2, zero, usr2), true},
		{"blocked", status(usr2, zero, usr2, usr2), false},
		{"not caught (default action)", status(usr2, zero, zero, zero), false},
		{"nothing pending", status(zero, zero, zero, usr2), false},
	} {
		if got := caughtPendingIn(c.status); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// TestVDSOLine: only the kernel's own [vdso] line is taken for the vDSO; a file whose name
// ends in " [vdso]", or a shared mapping, never is.
func TestVDSOLine(t *testing.T) {
	for _, c := range []struct {
		line string
		ok   bool
	}{
		{"7ffd1b5f0000-7ffd1b5f2000 r-xp 00000000 00:00 0                          [vdso]", true},
		{"20000000-20002000 rw-s 00000000 00:2a 1234                       /tmp/x [vdso]", false},
		{"20000000-20002000 r-xp 00000000 00:2a 1234                       /tmp/[vdso]", false},
		{"20000000-20002000 rw-s 00000000 00:01 5                          /memfd:[vdso] (deleted)", false},
		{"20000000-20002000 r-xs 00000000 00:00 0                          [vdso]", false},
		{"7ffd1b5ee000-7ffd1b5f0000 r--p 00000000 00:00 0                          [vvar]", false},
	} {
		if _, ok := vdsoLine(c.line); ok != c.ok {
			t.Errorf("vdsoLine(%q) = %v, want %v", c.line, ok, c.ok)
		}
	}
}

// TestDeadlineNever: a deadline past year 2262 ({LONG_MAX, 0}: sleep for ever) stays "never"
// (the kernel's cap) instead of wrapping into the past; others shift by the offset.
func TestDeadlineNever(t *testing.T) {
	s := &timeShift{start: time.Unix(946684800, 0)}
	off := s.off()
	if got := s.toHost(nanos(math.MaxInt64, 0)); got != math.MaxInt64 {
		t.Errorf("toHost(nanos(LONG_MAX, 0)) = %d, want %d (never)", got, int64(math.MaxInt64))
	}
	if got := nanos(9_223_372_036, 999_999_999); got != math.MaxInt64 {
		t.Errorf("nanos at the cap = %d, want %d", got, int64(math.MaxInt64))
	}
	if got, want := s.toHost(nanos(1_000, 5)), 1_000_000_000_005-off; got != want {
		t.Errorf("toHost(1000 s + 5 ns) = %d, want %d", got, want)
	}
}
