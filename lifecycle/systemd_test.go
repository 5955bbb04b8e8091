package lifecycle

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	godbus "github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// The D-Bus side of the systemd driver, against a stand-in for systemd's manager object on a
// private dbus-daemon (this project's machines run no systemd): the unit, the properties and
// their D-Bus types as systemd's manager documents them, and the job results.

type unitProp struct {
	Name  string
	Value godbus.Variant
}

type fakeManager struct {
	conn   *godbus.Conn
	mu     sync.Mutex
	calls  []string
	props  map[string]godbus.Variant
	result string // the job result JobRemoved reports
	known  map[string]bool
}

func (m *fakeManager) job(unit string) godbus.ObjectPath {
	p := godbus.ObjectPath("/org/freedesktop/systemd1/job/" + strings.NewReplacer(".", "_", "-", "_").Replace(unit))
	m.mu.Lock()
	result := m.result
	m.mu.Unlock()
	go func() {
		_ = m.conn.Emit("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager.JobRemoved", uint32(1), p, unit, result)
	}()
	return p
}

func (m *fakeManager) setKnown(name string, known bool) (was bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	was = m.known[name]
	if known {
		m.known[name] = true
	} else {
		delete(m.known, name)
	}
	return was
}

func (m *fakeManager) record(call string, props []unitProp) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, call)
	for _, p := range props {
		m.props[p.Name] = p.Value
	}
}

func (m *fakeManager) StartTransientUnit(name, mode string, props []unitProp, aux []struct {
	Name  string
	Props []unitProp
}) (godbus.ObjectPath, *godbus.Error) {
	m.record("start "+name+" "+mode, props)
	m.setKnown(name, true)
	return m.job(name), nil
}

func (m *fakeManager) StopUnit(name, mode string) (godbus.ObjectPath, *godbus.Error) {
	m.record("stop "+name+" "+mode, nil)
	if !m.setKnown(name, false) {
		return "", godbus.NewError("org.freedesktop.systemd1.NoSuchUnit", []any{"Unit " + name + " not loaded."})
	}
	return m.job(name), nil
}

func (m *fakeManager) ResetFailedUnit(name string) *godbus.Error {
	m.record("reset-failed "+name, nil)
	return nil
}

func (m *fakeManager) SetUnitProperties(name string, runtime bool, props []unitProp) *godbus.Error {
	m.record("set "+name, props)
	return nil
}

// snapshot copies what the handlers recorded (each call of the test has had its reply).
func (m *fakeManager) snapshot() (map[string]godbus.Variant, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	props := map[string]godbus.Variant{}
	for k, v := range m.props {
		props[k] = v
	}
	return props, append([]string(nil), m.calls...)
}

// privateBus starts a dbus-daemon for the test and points the system bus address at it.
func privateBus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		testreq.Missing(t, "dbus-daemon not installed: the systemd driver's D-Bus test needs a bus")
	}
	sock := filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--print-address=1", "--address=unix:path="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon: %v", err)
	}
	addr = strings.TrimSpace(addr)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)
	return addr
}

func newFakeSystemd(t *testing.T) *fakeManager {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the bus's EXTERNAL authentication is set up for root here")
	}
	addr := privateBus(t)
	conn, err := godbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	m := &fakeManager{conn: conn, props: map[string]godbus.Variant{}, result: "done", known: map[string]bool{}}
	if err := conn.Export(m, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.RequestName("org.freedesktop.systemd1", godbus.NameFlagDoNotQueue); err != nil || r != godbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("request name: %v %v", r, err)
	}
	old := systemdBooted
	systemdBooted = func() bool { return true }
	t.Cleanup(func() { systemdBooted = old })
	return m
}

func TestSystemdScopeOverDBus(t *testing.T) {
	m := newFakeSystemd(t)
	sd, err := parseSystemdPath("kubepods-burstable-pod1.slice:cri-containerd:abc", "abc")
	if err != nil {
		t.Fatal(err)
	}
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: p(int64(64 << 20))},
		Pids:   &specs.LinuxPids{Limit: p(int64(20))},
		CPU:    &specs.LinuxCPU{Quota: p(int64(50000)), Period: p(uint64(100000))},
	}
	if err := sd.startScope(4242, r); err != nil {
		t.Fatalf("startScope: %v", err)
	}
	props, _ := m.snapshot()
	// systemd's manager API: the property names and their D-Bus signatures.
	want := map[string]string{"Slice": "s", "PIDs": "au", "Delegate": "b", "Description": "s",
		"DefaultDependencies": "b", "MemoryAccounting": "b", "CPUAccounting": "b", "TasksAccounting": "b",
		"IOAccounting": "b", "MemoryMax": "t", "CPUQuotaPerSecUSec": "t"}
	for name, sig := range want {
		v, ok := props[name]
		if !ok || v.Signature().String() != sig {
			t.Errorf("property %s: %v (signature %v), want signature %s", name, v, v.Signature(), sig)
		}
	}
	if _, ok := props["TasksMax"]; ok {
		t.Error("TasksMax sent at the scope's start (it waits for lateLimits)")
	}
	if got := props["Slice"].Value(); got != "kubepods-burstable-pod1.slice" {
		t.Errorf("Slice = %v", got)
	}
	if got, _ := props["PIDs"].Value().([]uint32); len(got) != 1 || got[0] != 4242 {
		t.Errorf("PIDs = %v, want [4242]", props["PIDs"].Value())
	}
	if err := sd.setUnitLimits(&specs.LinuxResources{Pids: r.Pids}); err != nil {
		t.Fatalf("setUnitLimits: %v", err)
	}
	props, _ = m.snapshot()
	if v := props["TasksMax"]; v.Signature().String() != "t" || v.Value() != uint64(20) {
		t.Errorf("TasksMax after setUnitLimits = %v", v)
	}
	if err := sd.stopScope(); err != nil {
		t.Fatalf("stopScope: %v", err)
	}
	if err := sd.stopScope(); err != nil {
		t.Errorf("stopScope of a unit systemd no longer knows: %v, want nil", err)
	}
	wantCalls := "reset-failed cri-containerd-abc.scope|start cri-containerd-abc.scope replace|set cri-containerd-abc.scope|stop cri-containerd-abc.scope replace|stop cri-containerd-abc.scope replace"
	_, calls := m.snapshot()
	if got := strings.Join(calls, "|"); got != wantCalls {
		t.Errorf("calls:\n%s\nwant:\n%s", got, wantCalls)
	}
	m.mu.Lock()
	m.result = "failed"
	m.mu.Unlock()
	if err := sd.startScope(4242, nil); err == nil || !strings.Contains(err.Error(), "failed") {
		t.Errorf("a failed start job: %v, want an error saying so", err)
	}
}
