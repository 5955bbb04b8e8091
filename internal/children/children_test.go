package children

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestReapSparesOwned: Reap takes a zombie os/exec does not own and leaves an owned one to
// os/exec's Wait, which still gets its exit status.
func TestReapSparesOwned(t *testing.T) {
	own := exec.Command("sh", "-c", "exit 3")
	if err := Start(own); err != nil {
		t.Fatal(err)
	}
	other := exec.Command("true")
	if err := other.Start(); err != nil { // not through Start: Reap's to take
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, _ := ReadStat(own.Process.Pid)
		b, _ := ReadStat(other.Process.Pid)
		if a.State == 'Z' && b.State == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("children not exited: %c %c", a.State, b.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, ok := ReadStat(other.Process.Pid); !ok || st.PPid != os.Getpid() {
		t.Fatalf("ReadStat of our child: %+v %v", st, ok)
	}
	Reap()
	if _, ok := ReadStat(other.Process.Pid); ok {
		t.Errorf("Reap left the unowned zombie %d", other.Process.Pid)
	}
	for _, p := range Orphans() {
		if p == other.Process.Pid || p == own.Process.Pid {
			t.Errorf("Orphans lists %d", p)
		}
	}
	err := Wait(own)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("Wait of the owned child: %v, want exit status 3", err)
	}
}
