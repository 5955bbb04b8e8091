package notifsup

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
)

const sampleCpuinfo = "processor\t: 0\nmodel name\t: X\nsiblings\t: 2\ncore id\t\t: 0\ncpu cores\t: 2\napicid\t\t: 0\n\n" +
	"processor\t: 1\nmodel name\t: X\nsiblings\t: 2\ncore id\t\t: 1\ncpu cores\t: 2\napicid\t\t: 1\n\n"

func TestCpuinfoFor(t *testing.T) {
	for _, n := range []int{1, 3} {
		got := cpuinfoFor(sampleCpuinfo, n)
		if c := strings.Count(got, "processor\t: "); c != n {
			t.Errorf("n=%d: %d processors in %q", n, c, got)
		}
		if n == 3 && (!strings.Contains(got, "processor\t: 2\n") || !strings.Contains(got, "siblings\t: 3\n") || !strings.Contains(got, "apicid\t\t: 2\n")) {
			t.Errorf("n=3: processors not numbered 0..2 with 3 siblings: %q", got)
		}
		if !strings.Contains(got, "model name\t: X\n") {
			t.Errorf("the host's other fields are lost: %q", got)
		}
	}
}

func TestProcStatFor(t *testing.T) {
	host := "cpu  1 2 3\ncpu0 1 1 1\ncpu1 0 1 2\nintr 5\nctxt 6\n"
	if got, want := procStatFor(host, 1), "cpu  1 2 3\ncpu0 1 1 1\nintr 5\nctxt 6\n"; got != want {
		t.Errorf("n=1: %q, want %q", got, want)
	}
	if got, want := procStatFor(host, 3), "cpu  1 2 3\ncpu0 1 1 1\ncpu1 0 1 2\ncpu2 1 1 1\nintr 5\nctxt 6\n"; got != want {
		t.Errorf("n=3: %q, want %q", got, want)
	}
}

func TestMeminfoFor(t *testing.T) {
	host := "MemTotal:       16318132 kB\nMemFree:         1000000 kB\nMemAvailable:    9000000 kB\nBuffers:           12345 kB\nCached:          2547524 kB\nSReclaimable:     782552 kB\nShmem:             10304 kB\n"
	got := meminfoFor(host, 64<<20, 16<<20)
	// The host's page cache is not the sandbox's: free(1)'s buff/cache must not exceed the total.
	want := "MemTotal:          65536 kB\nMemFree:           49152 kB\nMemAvailable:      49152 kB\nBuffers:               0 kB\nCached:                0 kB\nSReclaimable:          0 kB\nShmem:             10304 kB\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := meminfoFor(host, 1<<20, 2<<20); !strings.Contains(got, "MemFree:               0 kB") {
		t.Errorf("usage above the limit must show 0 free: %q", got)
	}
}

func TestCPUList(t *testing.T) {
	if cpuList(1) != "0\n" || cpuList(4) != "0-3\n" {
		t.Errorf("cpuList(1) = %q, cpuList(4) = %q", cpuList(1), cpuList(4))
	}
}

// dirent64 builds one linux_dirent64 record.
func dirent64(name string) []byte {
	reclen := (19 + len(name) + 1 + 7) &^ 7
	b := make([]byte, reclen)
	binary.NativeEndian.PutUint16(b[16:], uint16(reclen))
	copy(b[19:], name)
	return b
}

func TestFilterPids(t *testing.T) {
	v := &procView{c: ProcViewConfig{InitPid: -1}, self: -1}
	var buf []byte
	for _, n := range []string{".", "1", "cpuinfo", "999999999", "self"} {
		buf = append(buf, dirent64(n)...)
	}
	out := v.filterPids(buf, 19)
	var names []string
	for len(out) > 0 {
		l := int(binary.NativeEndian.Uint16(out[16:]))
		name := out[19:l]
		names = append(names, strings.TrimRight(string(name), "\x00"))
		out = out[l:]
	}
	if got := strings.Join(names, " "); got != ". cpuinfo self" {
		t.Errorf("kept %q, want the non-pid entries only", got)
	}
}

func direntNames(b []byte) []string {
	var names []string
	for len(b) > 0 {
		l := int(binary.NativeEndian.Uint16(b[16:]))
		names = append(names, strings.TrimRight(string(b[19:l]), "\x00"))
		b = b[l:]
	}
	return names
}

func TestCPUDirents(t *testing.T) {
	h := hostCPUCount()
	var buf []byte
	var want []string
	for i := range h {
		buf = append(buf, dirent64("cpu"+strconv.Itoa(i))...)
	}
	buf = append(buf, dirent64("online")...)
	if got := direntNames(cpuDirents(buf, 19, 1, true)); strings.Join(got, " ") != "cpu0 online" {
		t.Errorf("n=1: %v", got)
	}
	for i := range h + 2 {
		want = append(want, "cpu"+strconv.Itoa(i))
	}
	want = append(want, "online")
	if got := direntNames(cpuDirents(buf, 19, h+2, true)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("n=%d: %v, want %v", h+2, got, want)
	}
}
