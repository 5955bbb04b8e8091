package integration

// The i386 entry point (int 0x80 from 64-bit code) is not on every x86_64 host: a kernel
// without IA32 emulation, or booted with ia32_emulation=0, kills the caller with SIGSEGV even
// with no confinement at all. The tests that probe the seccomp filter through it ask the host
// first, with the same instruction in an unconfined child, and report those probes as not
// applicable there (t.Log, never a skip: every x86_64 assertion still runs).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// envNoI386 makes the helper answer "absent" on a host that has the entry point, so that the
// not-applicable path can be shown where int 0x80 works. Only this test helper reads it.
const envNoI386 = "SANDLOCK_TEST_NO_I386"

const i386ProbeSource = `#include <unistd.h>
int main(void) {
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
	return ret == (long)getpid() ? 0 : 1; /* 20: i386 getpid */
}
`

var (
	i386Once sync.Once
	i386Gone string // why the i386 entry point is not applicable here; "" when it works
	i386Err  error  // the probe could not be built or judged
)

// hostI386 returns "" when int 0x80 works on this host, else the reason it is not applicable.
// It runs a static program that calls getpid through int 0x80, unconfined, in a child.
func hostI386(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil && runtime.GOARCH == "amd64" && os.Getenv(envNoI386) != "1" {
		testreq.Missing(t, "the i386 probe needs gcc and a static libc (Debian: apt-get install gcc libc6-dev; hack/install-deps.sh)")
	}
	i386Once.Do(func() { i386Gone, i386Err = probeI386() })
	if i386Err != nil {
		t.Fatal(i386Err)
	}
	return i386Gone
}

func probeI386() (string, error) {
	if runtime.GOARCH != "amd64" {
		return "not an x86_64 host", nil
	}
	if os.Getenv(envNoI386) == "1" {
		return "simulated by " + envNoI386 + "=1 (the host has it)", nil
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", fmt.Errorf("the i386 probe needs gcc and a static libc (hack/install-deps.sh): %v", err)
	}
	dir, err := os.MkdirTemp(workDir, "i386probe")
	if err != nil {
		return "", err
	}
	src, bin := filepath.Join(dir, "probe.c"), filepath.Join(dir, "probe")
	if err := os.WriteFile(src, []byte(i386ProbeSource), 0o644); err != nil {
		return "", err
	}
	if out, err := exec.Command(gcc, "-static", "-o", bin, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("gcc -static i386 probe (static libc missing? hack/install-deps.sh): %v: %s", err, out)
	}
	return judgeI386(exec.Command(bin).Run())
}

// judgeI386 reads the unconfined probe's end: exit 0 is a working entry point, death by a
// signal an absent one, anything else a broken probe.
func judgeI386(err error) (string, error) {
	if err == nil {
		return "", nil
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() {
			return fmt.Sprintf("int 0x80 from a 64-bit static program dies by %v with no confinement "+
				"(kernel without IA32 emulation, or ia32_emulation=0)", ws.Signal()), nil
		}
	}
	return "", fmt.Errorf("i386 probe: int 0x80 getpid ran but did not return our pid: %v", err)
}

// isI386Check says whether an attempt or check name goes through the i386 entry point.
func isI386Check(name string) bool { return strings.HasPrefix(name, "i386") }

// withoutI386 drops the i386 checks when the host has no i386 entry point, and logs them.
func withoutI386(t *testing.T, checks []string) []string {
	t.Helper()
	why := hostI386(t)
	if why == "" {
		return checks
	}
	var kept, na []string
	for _, c := range checks {
		if isI386Check(c) {
			na = append(na, c)
		} else {
			kept = append(kept, c)
		}
	}
	if len(na) > 0 {
		t.Logf("not applicable on this host (%s): %s", why, strings.Join(na, " "))
	}
	return kept
}

// TestEscapeVerdictsI386 pins what the escape tests accept: n/a only for attempts through the
// i386 entry point, and only where the host has none.
func TestEscapeVerdictsI386(t *testing.T) {
	out := "x64:mount ok EPERM\ni386:mount n/a no i386 entry point on this host\n" +
		"i386_getpid_live n/a no i386 entry point on this host\nEND bad=0\n"
	if v := judgeEscape(out, false); len(v.problems) != 2 || len(v.na) != 0 || v.got["x64:mount"] == "" {
		t.Errorf("host with i386: want the two n/a lines as problems, got %+v", v)
	}
	if v := judgeEscape(out, true); len(v.problems) != 0 || len(v.na) != 2 || len(v.got) != 3 || v.ends != 1 {
		t.Errorf("host without i386: want two n/a lines accepted, got %+v", v)
	}
	if v := judgeEscape("x64:mount n/a x\nEND bad=0\n", true); len(v.problems) != 1 {
		t.Errorf("an x86_64 attempt may never be n/a, got %+v", v)
	}
}

// TestI386ProbeJudgement: a probe killed by a signal means no i386 entry point; one that exits
// nonzero is a broken probe, not an absent entry point.
func TestI386ProbeJudgement(t *testing.T) {
	segv := exec.Command("/bin/sh", "-c", "kill -SEGV $$")
	if why, err := judgeI386(segv.Run()); err != nil || !strings.Contains(why, "segmentation fault") {
		t.Errorf("SIGSEGV: got %q, %v; want absent", why, err)
	}
	if why, err := judgeI386(exec.Command("/bin/sh", "-c", "exit 1").Run()); err == nil || why != "" {
		t.Errorf("exit 1: got %q, %v; want an error", why, err)
	}
	if why, err := judgeI386(nil); err != nil || why != "" {
		t.Errorf("exit 0: got %q, %v; want present", why, err)
	}
}

// TestCheckI386: `sandlock-runtime check` reports the i386 entry point as the unconfined probe
// finds it (with the simulation on, the host still has it).
func TestCheckI386(t *testing.T) {
	requireSetup(t)
	out, stderr, code := rt(t, "check")
	if code != 0 {
		t.Fatalf("check: exit %d: %s", code, stderr)
	}
	want := "i386 entry (int 0x80): yes"
	if why := hostI386(t); why != "" && os.Getenv(envNoI386) != "1" {
		want = "i386 entry (int 0x80): no: "
	}
	if !strings.Contains(out, want) {
		t.Errorf("check: want a line starting %q, got:\n%s", want, out)
	}
}
