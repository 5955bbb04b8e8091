package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSupervisorIdleAfterInitExit: once init has exited and a background process keeps the
// container populated, the supervisor waits for the cgroup to empty. It used to re-read
// cgroup.events through another fd than the one it polled, so after the first change event
// poll returned at once forever: a supervisor spinning a whole core for the rest of the
// container's life. Its CPU time over two seconds must be that of a waiting process.
func TestSupervisorIdleAfterInitExit(t *testing.T) {
	requireSetup(t)
	b := newBundleWith(t, withoutNamespace(specs.PIDNamespace), "sh", "-c", "sleep 30 & exit 0")
	id := newID()
	create(t, id, b)
	start(t, id)
	waitStatus(t, id, "stopped") // init is gone; sleep keeps the cgroup populated
	sup := supervisorPid(t, id)
	before := cpuTicks(t, sup)
	time.Sleep(2 * time.Second)
	after := cpuTicks(t, sup)
	// 100 ticks a second is a busy core; a waiting supervisor uses none.
	if used := after - before; used > 40 {
		t.Errorf("the supervisor used %d clock ticks of CPU in 2 s while waiting: it is spinning", used)
	}
}

// cpuTicks is a process's user + system time in clock ticks (/proc/PID/stat fields 14, 15).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatalf("supervisor %d: %v", pid, err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

// TestSupervisorLoad: 100,000 trapped calls from 32 threads at once (uname answered by the
// supervisor, one in eight also a chmod performed on behalf), every answer checked: no reply
// lost (the run would hang), none wrong or duplicated.
func TestSupervisorLoad(t *testing.T) {
	bins := escapeBins(t)
	w := t.TempDir()
	f := filepath.Join(w, "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	flags := []string{"-r", "/usr", "-r", "/lib", "-r", "/lib64", "-r", "/bin", "-r", bins, "-w", w, "--hostname", "loaded"}
	r := rtWith(t, nil, sandboxArgs(flags, filepath.Join(bins, "notifload"), "loaded", f, "32", "3125")...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "calls=100000 bad=0" {
		t.Errorf("exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
}

// TestAuditLog: a refusal the supervisor makes for the policy is one JSON object in the
// container's audit log (state dir), naming the process, syscall, object and rule.
func TestAuditLog(t *testing.T) {
	requireSetup(t)
	mutate := func(s *specs.Spec) {
		s.Annotations = map[string]string{
			"io.sandlock.fs_readable": `["/bin", "/etc", "/lib", "/usr"]`,
			"io.sandlock.fs_writable": `["/tmp"]`,
		}
	}
	id, _, _ := running(t, mutate, "sh", "-c", "chmod 777 /etc/passwd; touch /tmp/ok; sleep 30")
	path := filepath.Join(envFor(t).root, id, "audit.jsonl")
	var rec struct {
		Container, Syscall, Object, Rule, Errno string
		Pid                                     int
	}
	deadline := time.Now().Add(10 * time.Second)
	for rec.Syscall != "chmod" {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if strings.Contains(l, `"syscall":"chmod"`) {
				if err := json.Unmarshal([]byte(l), &rec); err != nil {
					t.Fatalf("audit line %q: %v", l, err)
				}
			}
		}
		if rec.Syscall == "" && time.Now().After(deadline) {
			t.Fatalf("no chmod record in %s: %s", path, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rec.Container != id || rec.Syscall != "chmod" || rec.Object != "/etc/passwd" || rec.Rule != "fs_writable" ||
		rec.Errno != "EACCES" || rec.Pid <= 0 {
		t.Errorf("audit record %+v", rec)
	}
	// The same records through the CLI, as runc-style events.
	out, stderr, code := rt(t, "events", "--denied", id)
	if code != 0 || !strings.Contains(out, `{"type":"denied","id":"`+id+`","data":{"container":"`+id+`"`) ||
		!strings.Contains(out, `"syscall":"chmod","object":"/etc/passwd","rule":"fs_writable","errno":"EACCES"`) {
		t.Errorf("events --denied: exit %d, %q %s", code, out, stderr)
	}
}

// TestMaskedPathsSpareHostDevNull: maskedPaths hide a file behind a bind of the host's
// /dev/null; the container's root owns that inode, so a writable bind let it chmod or touch the
// host's /dev/null (found while reviewing the metadata mediation: the path lies under the
// rootfs rule). The bind is read-only now: the masked file still reads empty, takes writes, and
// refuses metadata changes.
func TestMaskedPathsSpareHostDevNull(t *testing.T) {
	requireSetup(t)
	before := devNull(t)
	script := `for f in /proc/keys /proc/timer_list; do
  [ -e $f ] || continue
  touch -d "2001-02-03 04:05:06" $f 2>/dev/null && echo "touched $f"
  chmod 0600 $f 2>/dev/null && echo "chmodded $f"
  echo x > $f && echo "wrote $f"
done; true`
	b := newBundleWith(t, func(s *specs.Spec) {
		if s.Linux == nil || !slices.Contains(s.Linux.MaskedPaths, "/proc/keys") {
			t.Fatalf("the template config no longer masks /proc/keys: %+v", s.Linux)
		}
	}, "sh", "-c", script)
	id := newID()
	track(t, id)
	out, stderr, code := rt(t, "run", "--bundle", b, id)
	devNullUnchanged(t, before)
	if code != 0 || strings.Contains(out, "touched") || strings.Contains(out, "chmodded") || !strings.Contains(out, "wrote /proc/keys") {
		t.Errorf("exit %d, stdout %q (want only writes), stderr %s", code, out, stderr)
	}
}
