package confine

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// ExecPacked replaces the process, so each case runs it in a re-executed test binary
// (TestHelperExecPacked) and looks at what the exec'd program printed.
const (
	execImageEnv   = "SANDLOCK_TEST_EXEC_IMAGE"     // base64 of the packed image
	execNoSetuid   = "SANDLOCK_TEST_EXEC_NO_SETUID" // helper drops CAP_SETUID first
	execErrPrefix  = "EXEC-ERROR "
	capNetBindServ = 10
)

// TestHelperExecPacked is the subprocess side: it ignores SIGHUP and blocks SIGUSR2 on its
// thread (ExecPacked must hand the program defaults), then runs ExecPacked.
func TestHelperExecPacked(t *testing.T) {
	enc := os.Getenv(execImageEnv)
	if enc == "" {
		t.Skip("subprocess helper")
	}
	buf, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s0 decode: %v\n", execErrPrefix, err)
		os.Exit(3)
	}
	runtime.LockOSThread()
	signal.Ignore(syscall.SIGHUP)
	var set unix.Sigset_t
	set.Val[0] = 1 << (uint(unix.SIGUSR2) - 1)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil); err != nil {
		fmt.Fprintf(os.Stderr, "%s0 sigmask: %v\n", execErrPrefix, err)
		os.Exit(3)
	}
	if os.Getenv(execNoSetuid) != "" {
		dropEffectiveCap(unix.CAP_SETUID)
	}
	err = ExecPacked(buf)
	var ee *ExecError
	errors.As(err, &ee)
	fmt.Fprintf(os.Stderr, "%s%d %s\n", execErrPrefix, int(ee.Errno), err)
	os.Exit(3)
}

// dropEffectiveCap removes c from the calling thread's effective and permitted sets.
func dropEffectiveCap(c int) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		panic(err)
	}
	data[c/32].Effective &^= 1 << (c % 32)
	data[c/32].Permitted &^= 1 << (c % 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		panic(err)
	}
}

// execResult is what the helper run produced: the program's stdout, or ExecPacked's error.
type execResult struct {
	stdout string
	errno  unix.Errno
	err    string // "" when the program ran
}

func runExecImage(t *testing.T, img ProcessImage, extraEnv ...string) execResult {
	t.Helper()
	execRequireRoot(t)
	buf, err := img.Pack()
	if err != nil {
		t.Fatalf("Pack: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperExecPacked$", "-test.count=1")
	cmd.Env = append(os.Environ(), execImageEnv+"="+base64.StdEncoding.EncodeToString(buf))
	cmd.Env = append(cmd.Env, extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	res := execResult{stdout: stdout.String()}
	if line, ok := strings.CutPrefix(strings.TrimSpace(stderr.String()), execErrPrefix); ok {
		num, msg, _ := strings.Cut(line, " ")
		n, _ := strconv.Atoi(num)
		res.errno, res.err = unix.Errno(n), msg
		return res
	}
	if runErr != nil {
		t.Fatalf("helper: %v\nstdout: %s\nstderr: %s", runErr, stdout.String(), stderr.String())
	}
	return res
}

func execRequireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testreq.Missing(t, "needs root")
	}
}

// ownCaps returns this process's capability sets, so root images can keep what they have.
func ownCaps(t *testing.T) Caps {
	t.Helper()
	st := procStatus(t, "/proc/self/status")
	get := func(k string) uint64 {
		v, err := strconv.ParseUint(st[k], 16, 64)
		if err != nil {
			t.Fatalf("%s %q: %v", k, st[k], err)
		}
		return v
	}
	return Caps{Bounding: get("CapBnd"), Effective: get("CapEff"), Inheritable: get("CapInh"),
		Permitted: get("CapPrm"), Ambient: get("CapAmb")}
}

func procStatus(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseStatus(string(b))
}

func parseStatus(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func wantRan(t *testing.T, r execResult) {
	t.Helper()
	if r.err != "" {
		t.Fatalf("ExecPacked failed: %s (errno %d)", r.err, int(r.errno))
	}
}

func wantFailed(t *testing.T, r execResult, errno unix.Errno, msg string) {
	t.Helper()
	if r.err != msg || r.errno != errno {
		t.Errorf("error = %q (%v), want %q (%v)", r.err, r.errno, msg, errno)
	}
	if r.stdout != "" {
		t.Errorf("program ran after a failed step: stdout %q", r.stdout)
	}
}

func rootImage(t *testing.T, path string, args ...string) ProcessImage {
	return ProcessImage{Path: path, Args: args, Umask: -1, Caps: ownCaps(t)}
}

func TestExecPackedEcho(t *testing.T) {
	img := rootImage(t, "/bin/echo", "echo", "hello", "  two  words ")
	r := runExecImage(t, img)
	wantRan(t, r)
	if want := "hello   two  words \n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
}

func TestExecPackedArgsEnvCwd(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img := rootImage(t, "/bin/sh", "sh", "-c", `printf '%s|%s|%s\n' "$FOO" "$(pwd)" "$*"`, "sh", "a b", "c")
	img.Env = []string{"FOO=bar baz", "PATH=/bin"}
	img.Cwd = dir
	r := runExecImage(t, img)
	wantRan(t, r)
	if want := "bar baz|" + dir + "|a b c\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
}

// TestExecPackedDropIDs checks ids, groups, capabilities and signal state as the kernel
// reports them to the exec'd program.
func TestExecPackedDropIDs(t *testing.T) {
	img := ProcessImage{Path: "/bin/cat", Args: []string{"cat", "/proc/self/status"}, Umask: -1,
		UID: 65534, GID: 65534, Groups: []uint32{1234, 5678}}
	r := runExecImage(t, img)
	wantRan(t, r)
	st := parseStatus(r.stdout)
	zero := "0000000000000000"
	want := map[string]string{
		"Uid": "65534\t65534\t65534\t65534", "Gid": "65534\t65534\t65534\t65534",
		"Groups": "1234 5678", "CapInh": zero, "CapPrm": zero, "CapEff": zero,
		"CapBnd": zero, "CapAmb": zero, "SigIgn": zero, "SigBlk": zero,
	}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("%s = %q, want %q", k, st[k], v)
		}
	}
}

func TestExecPackedID(t *testing.T) {
	img := ProcessImage{Path: "/bin/sh", Args: []string{"sh", "-c", "id -u; id -g; id -G"},
		Env: []string{"PATH=/usr/bin:/bin"}, Umask: -1, UID: 65534, GID: 65534, Groups: []uint32{1234, 5678}}
	r := runExecImage(t, img)
	wantRan(t, r)
	if want := "65534\n65534\n65534 1234 5678\n"; r.stdout != want {
		t.Errorf("id output = %q, want %q", r.stdout, want)
	}
}

func TestExecPackedRootNoCaps(t *testing.T) {
	img := ProcessImage{Path: "/bin/cat", Args: []string{"cat", "/proc/self/status"}, Umask: -1}
	r := runExecImage(t, img)
	wantRan(t, r)
	st := parseStatus(r.stdout)
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if want := "0000000000000000"; st[k] != want {
			t.Errorf("%s = %q, want %q", k, st[k], want)
		}
	}
	if want := "0\t0\t0\t0"; st["Uid"] != want {
		t.Errorf("Uid = %q, want %q", st["Uid"], want)
	}
}

func TestExecPackedAmbient(t *testing.T) {
	c := uint64(1) << capNetBindServ
	img := ProcessImage{Path: "/bin/cat", Args: []string{"cat", "/proc/self/status"}, Umask: -1,
		UID: 65534, GID: 65534, Caps: Caps{Bounding: c, Effective: c, Inheritable: c, Permitted: c, Ambient: c}}
	r := runExecImage(t, img)
	wantRan(t, r)
	st := parseStatus(r.stdout)
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if want := "0000000000000400"; st[k] != want {
			t.Errorf("%s = %q, want %q", k, st[k], want)
		}
	}
}

func TestExecPackedKeepCaps(t *testing.T) {
	own := ownCaps(t)
	img := ProcessImage{Path: "/bin/cat", Args: []string{"cat", "/proc/self/status"}, Umask: -1, KeepCaps: true}
	r := runExecImage(t, img)
	wantRan(t, r)
	st := parseStatus(r.stdout)
	want := fmt.Sprintf("%016x", own.Bounding)
	for _, k := range []string{"CapBnd", "CapEff", "CapPrm"} {
		if st[k] != want {
			t.Errorf("%s = %q, want %q (kept)", k, st[k], want)
		}
	}
}

func TestExecPackedLimitsUmaskSession(t *testing.T) {
	img := rootImage(t, "/bin/sh", "sh", "-c",
		`umask; ulimit -n; ulimit -H -n; set -- $(cat /proc/$$/stat); echo "$1 $6"`)
	img.Env = []string{"PATH=/bin"}
	img.Umask = 0o027
	img.Setsid = true
	img.Rlimits = []Rlimit{{Type: unix.RLIMIT_NOFILE, Soft: 100, Hard: 200}}
	r := runExecImage(t, img)
	wantRan(t, r)
	lines := strings.Split(r.stdout, "\n")
	if len(lines) != 5 {
		t.Fatalf("output %q: want 4 lines", r.stdout)
	}
	if got, want := lines[:3], []string{"0027", "100", "200"}; !reflect.DeepEqual(got, want) {
		t.Errorf("umask, soft, hard = %q, want %q", got, want)
	}
	if pid, sid, _ := strings.Cut(lines[3], " "); pid != sid {
		t.Errorf("pid %s session %s: want a session of its own", pid, sid)
	}
}

func TestExecPackedRlimitError(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		t.Fatal(err)
	}
	nrOpen, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	img := rootImage(t, "/bin/echo", "echo", "SHOULD-NOT-RUN")
	img.Rlimits = []Rlimit{{Type: unix.RLIMIT_NOFILE, Soft: 100, Hard: nrOpen + 1}}
	wantFailed(t, runExecImage(t, img), unix.EPERM, "setrlimit RLIMIT_NOFILE: operation not permitted")
}

func TestExecPackedSetresuidError(t *testing.T) {
	img := rootImage(t, "/bin/echo", "echo", "SHOULD-NOT-RUN")
	img.KeepCaps = true
	img.UID = 1000
	r := runExecImage(t, img, execNoSetuid+"=1")
	wantFailed(t, r, unix.EPERM, "setresuid 1000: operation not permitted")
}

func TestExecPackedPathLookup(t *testing.T) {
	img := rootImage(t, "echo", "echo", "found")
	img.Env = []string{"PATH=/nonexistent-sl:/bin"}
	r := runExecImage(t, img)
	wantRan(t, r)
	if r.stdout != "found\n" {
		t.Errorf("stdout = %q, want %q", r.stdout, "found\n")
	}
	img.Env = nil // DefaultPath
	if r := runExecImage(t, img); r.err != "" || r.stdout != "found\n" {
		t.Errorf("default PATH: stdout %q err %q, want %q", r.stdout, r.err, "found\n")
	}
}

func TestExecPackedNotFound(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, env string
		errno     unix.Errno
		msg       string
	}{
		{"sl-no-such-program", "PATH=/bin", unix.ENOENT, `exec "sl-no-such-program": executable file not found in $PATH`},
		{"notexec", "PATH=/nonexistent-sl:" + dir, unix.EACCES, `exec "notexec": permission denied`},
		{"/nonexistent-sl/prog", "PATH=/bin", unix.ENOENT, `exec "/nonexistent-sl/prog": no such file or directory`},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			img := rootImage(t, c.path, "x", "SHOULD-NOT-RUN")
			img.Env = []string{c.env}
			wantFailed(t, runExecImage(t, img), c.errno, c.msg)
		})
	}
}

func TestExecPackedBadCwd(t *testing.T) {
	img := rootImage(t, "/bin/echo", "echo", "SHOULD-NOT-RUN")
	img.Cwd = "/nonexistent-sl-dir"
	wantFailed(t, runExecImage(t, img), unix.ENOENT, `chdir "/nonexistent-sl-dir": no such file or directory`)
}

func TestExecPackedBadImage(t *testing.T) {
	err := ExecPacked([]byte("not an image"))
	if !errors.Is(err, unix.EINVAL) || err.Error() != "process image: bad magic or short header: invalid argument" {
		t.Errorf("ExecPacked(garbage) = %v, want EINVAL bad magic", err)
	}
}

func TestPackRoundTrip(t *testing.T) {
	imgs := []ProcessImage{
		{Path: "/bin/true", Umask: -1},
		{Path: "sh", Args: []string{"sh", "-c", "", "ünïcode"}, Env: []string{"A=1", "PATH=/x"},
			Cwd: "/tmp", UID: 1000, GID: 1001, Groups: []uint32{1, 0xfffffffe}, Umask: 0o022,
			Caps:     Caps{Bounding: 1, Effective: 2, Inheritable: 3, Permitted: 1 << 40, Ambient: 1 << 63},
			KeepCaps: true, Setsid: true, SetCtty: true, NoNewPrivs: true,
			Rlimits: []Rlimit{{Type: 7, Soft: 1, Hard: ^uint64(0)}, {Type: 0, Soft: 5, Hard: 5}},
			Filters: []Filter{{Insns: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Log: true},
				{Insns: []byte{8, 7, 6, 5, 4, 3, 2, 1}, SpecAllow: true}}},
		{Args: []string{"prog"}, Umask: 0},
	}
	for i, img := range imgs {
		buf, err := img.Pack()
		if err != nil {
			t.Fatalf("%d: Pack: %v", i, err)
		}
		got, err := parsePacked(buf)
		if err != nil {
			t.Fatalf("%d: parse: %v", i, err)
		}
		want := img
		if want.Path == "" {
			want.Path = want.Args[0]
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("%d: round trip\n got %+v\nwant %+v", i, *got, want)
		}
		checkCorrupt(t, i, buf)
	}
}

// checkCorrupt feeds the parser every truncation and a few bad variants of buf.
func checkCorrupt(t *testing.T, i int, buf []byte) {
	t.Helper()
	for n := 0; n < len(buf); n++ {
		if _, err := parsePacked(buf[:n]); !errors.Is(err, unix.EINVAL) {
			t.Fatalf("%d: truncated to %d: err %v, want EINVAL", i, n, err)
		}
	}
	bad := map[string][]byte{
		"trailing": append(append([]byte{}, buf...), 0),
		"magic":    append([]byte{'X'}, buf[1:]...),
		"flags":    patch(buf, 4, 0x80),
		"umask":    patch(buf, 16, 0o1000),
		"nfilter":  patch(buf, 36, imgMaxFilters*(imgMaxFilter+1)+1),
		"groups":   patch(buf, 20, imgMaxGroups+1),
	}
	for name, b := range bad {
		if _, err := parsePacked(b); !errors.Is(err, unix.EINVAL) {
			t.Errorf("%d: %s: err %v, want EINVAL", i, name, err)
		}
	}
}

// patch returns a copy of b with the u32 at offset at set to v.
func patch(b []byte, at int, v uint32) []byte {
	c := append([]byte{}, b...)
	binary.LittleEndian.PutUint32(c[at:], v)
	return c
}

func TestPackRejects(t *testing.T) {
	cases := map[string]ProcessImage{
		"no path":   {Umask: -1},
		"nul arg":   {Path: "/bin/x", Args: []string{"a\x00b"}, Umask: -1},
		"nul env":   {Path: "/bin/x", Env: []string{"A=\x00"}, Umask: -1},
		"umask":     {Path: "/bin/x", Umask: 0o1000},
		"soft>hard": {Path: "/bin/x", Umask: -1, Rlimits: []Rlimit{{Type: 7, Soft: 2, Hard: 1}}},
		"rl type":   {Path: "/bin/x", Umask: -1, Rlimits: []Rlimit{{Type: -1}}},
	}
	for name, img := range cases {
		if _, err := img.Pack(); err == nil {
			t.Errorf("%s: Pack succeeded, want an error", name)
		}
	}
}

// TestStrerrorTable keeps the C errno texts identical to Go's.
func TestStrerrorTable(t *testing.T) {
	n := 0
	for e := unix.Errno(1); e < 256; e++ {
		if s, ok := cStrerror(e); ok {
			n++
			if s != e.Error() {
				t.Errorf("errno %d: C %q, Go %q", int(e), s, e.Error())
			}
		}
	}
	if n < 40 {
		t.Errorf("C table has %d entries, want at least 40", n)
	}
}
