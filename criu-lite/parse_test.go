package criulite

import (
	"math"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Pure logic: no root needed.

func TestParseMapsLine(t *testing.T) {
	m, err := parseMapsLine("7f49c23c4000-7f49c23c6000 r-xp 00001000 fe:00 325835                     /usr/lib/a b.so")
	if err != nil {
		t.Fatal(err)
	}
	if m.start != 0x7f49c23c4000 || m.end != 0x7f49c23c6000 || m.offset != 0x1000 || m.inode != 325835 || m.path != "/usr/lib/a b.so" {
		t.Fatalf("%+v", m)
	}
	if m.prot() != unix.PROT_READ|unix.PROT_EXEC || m.shared() || m.anon() {
		t.Fatalf("prot %d shared %v anon %v", m.prot(), m.shared(), m.anon())
	}
	a, err := parseMapsLine("55dde53c4000-55dde53e5000 rw-p 00000000 00:00 0                          [heap]")
	if err != nil || !a.anon() || a.special() {
		t.Fatalf("heap: %+v %v", a, err)
	}
	v, _ := parseMapsLine("7f49c23c4000-7f49c23c6000 r-xp 00000000 00:00 0                          [vdso]")
	if !v.special() {
		t.Fatal("vdso is special")
	}
	for _, bad := range []string{"", "x-y r-xp 0 0 0", "1000-2000 rw 0 00:00 0"} {
		if _, err := parseMapsLine(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestFixRestart(t *testing.T) {
	for _, c := range []struct {
		name             string
		rax, orig, rip   uint64
		wantRax, wantRip uint64
	}{
		{"ERESTARTSYS redoes the syscall", negErrno(512), 202, 1000, 202, 998},
		{"ERESTARTNOINTR", negErrno(513), 7, 1000, 7, 998},
		{"ERESTART_RESTARTBLOCK returns EINTR", negErrno(516), 35, 1000, negErrno(unix.EINTR), 1000},
		{"a finished syscall keeps its result", 5, 0, 1000, 5, 1000},
		{"user mode", 42, ^uint64(0), 1000, 42, 1000},
	} {
		r := unix.PtraceRegs{Rax: c.rax, Orig_rax: c.orig, Rip: c.rip}
		fixRestart(&r)
		if r.Rax != c.wantRax || r.Rip != c.wantRip || r.Orig_rax != ^uint64(0) {
			t.Errorf("%s: rax %d rip %d orig %d", c.name, int64(r.Rax), r.Rip, int64(r.Orig_rax))
		}
	}
}

func TestInRoot(t *testing.T) {
	for _, c := range []struct {
		root, p, want string
		ok            bool
	}{
		{"/", "/usr/bin/x", "/usr/bin/x", true},
		{"/b/rootfs", "/b/rootfs/bin/sh", "/bin/sh", true},
		{"/b/rootfs", "/b/rootfs", "/", true},
		{"/b/rootfs", "/b/rootfs2/x", "", false},
		{"/b/rootfs", "/etc/passwd", "", false},
	} {
		got, ok := inRoot(c.root, c.p)
		if got != c.want || ok != c.ok {
			t.Errorf("inRoot(%q, %q) = %q %v", c.root, c.p, got, ok)
		}
	}
}

func TestTimerfdInfo(t *testing.T) {
	tm, err := timerfdInfo(map[string]string{"clockid": "1", "ticks": "0", "it_value": "(0, 49999000)", "it_interval": "(1, 5)"})
	if err != nil || tm.Clock != 1 || tm.Value != [2]int64{0, 49999000} || tm.Interval != [2]int64{1, 5} || tm.Pending {
		t.Fatalf("%+v %v", tm, err)
	}
	if _, err := timerfdInfo(map[string]string{"clockid": "1", "ticks": "3", "it_value": "(0, 0)", "it_interval": "(0, 0)"}); err == nil {
		t.Fatal("three unread expirations were accepted")
	}
}

func TestImageCheck(t *testing.T) {
	img := &Image{Processes: []Process{{Pid: 1, Threads: []Thread{{Tid: 1}}, FDs: []FD{{Fd: 0, Object: 9}}}}}
	if err := img.check(); err == nil {
		t.Fatal("an fd naming no object was accepted")
	}
	img = &Image{Processes: []Process{{Pid: 1, Threads: []Thread{{Tid: 1}}, VMAs: []VMA{{Start: 0x1000, End: 0x2000, Pages: []Blob{{Addr: 0x1000, Off: 0, Len: 4096}}}}}}}
	if err := img.check(); err == nil {
		t.Fatal("pages outside the pages file were accepted")
	}
	img.pages = make([]byte, 4096)
	img.Processes[0].VMAs[0].Pages[0].Addr = 0x1800
	if err := img.check(); err == nil {
		t.Fatal("pages outside their mapping were accepted")
	}
	// Lengths whose sum with the address or offset wraps around: refused, not a panic.
	img.Processes[0].VMAs[0].Pages[0] = Blob{Addr: math.MaxUint64 - 0xf, Off: 0, Len: 4096}
	if err := img.check(); err == nil {
		t.Fatal("pages whose end wraps around past their mapping were accepted")
	}
	if _, err := img.blob(Blob{Off: math.MaxInt64 - 10, Len: 20}); err == nil {
		t.Fatal("a blob whose end wraps around past the pages file was accepted")
	}
}

func TestVerifyMappedFile(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "mapped")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("contents"); err != nil {
		t.Fatal(err)
	}
	r := &restorer{hashes: fileHashes{}}
	fd := int(f.Fd())
	if err := r.verify(os.Getpid(), fd, VMA{Path: "/lib/x"}); err == nil {
		t.Fatal("a file mapping with no saved checksum was accepted")
	}
	if err := r.verify(os.Getpid(), fd, VMA{Path: "/lib/x", SHA256: "00"}); err == nil {
		t.Fatal("a file whose contents differ was accepted")
	}
	sum := "d1b2a59fbea7e20077af9f91b27e95e865061b270be03ff539ab3b73587882e8" // sha256("contents")
	if err := r.verify(os.Getpid(), fd, VMA{Path: "/lib/x", SHA256: sum}); err != nil {
		t.Fatal(err)
	}
	if err := r.verify(os.Getpid(), fd, VMA{Path: "/lib/x"}); err == nil {
		t.Fatal("a second mapping of a verified path with no saved checksum was accepted")
	}
	pr, pw, err := os.Pipe() // a pipe with a writer: hashing it would never end
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if err := r.verify(os.Getpid(), int(pr.Fd()), VMA{Path: "/lib/x", SHA256: sum}); err == nil {
		t.Fatal("a pipe in place of a verified mapped file was accepted")
	}
}

func TestFillPipeRefusesOtherFiles(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "notapipe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &restorer{img: &Image{pages: []byte("saved")}}
	if err := r.fillPipe(os.Getpid(), int(f.Fd()), Blob{Len: 5}); err == nil {
		t.Fatal("a regular file was written as a pipe's contents")
	}
	if b, _ := os.ReadFile(f.Name()); len(b) != 0 {
		t.Fatalf("the file was written: %q", b)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if err := r.fillPipe(os.Getpid(), int(pw.Fd()), Blob{Len: 5}); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	if n, _ := pr.Read(b); string(b[:n]) != "saved" {
		t.Fatalf("the pipe holds %q", b[:n])
	}
}
