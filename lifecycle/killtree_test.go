package lifecycle

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestChildPidfdChecksParent: a pid listed in a children file is signalled only while it is
// still that parent's child, through a pidfd taken before the check; a pid reused since by a
// process elsewhere (here: pid 1, and our own child asked as init's) is never signalled.
func TestChildPidfdChecksParent(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	fd, ok := childPidfd(os.Getpid(), cmd.Process.Pid)
	if !ok {
		t.Fatalf("our child %d not taken for ours", cmd.Process.Pid)
	}
	unix.Close(fd)
	if fd, ok := childPidfd(1, cmd.Process.Pid); ok {
		unix.Close(fd)
		t.Errorf("our child %d taken for pid 1's", cmd.Process.Pid)
	}
	if fd, ok := childPidfd(os.Getpid(), 1); ok {
		unix.Close(fd)
		t.Error("pid 1 taken for our child")
	}
}

// TestSignalDescendantsSkipsZygote: the walk reaches a grandchild through a process given as
// the zygote without signalling that process.
func TestSignalDescendantsSkipsZygote(t *testing.T) {
	// sh (init) -> sh (the "zygote") -> sleep
	cmd := exec.Command("sh", "-c", "sh -c 'sleep 30; sleep 31' & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var zygote, leaf int
	for range 2000 {
		if kids := procChildren(cmd.Process.Pid); len(kids) == 1 {
			if gk := procChildren(kids[0]); len(gk) == 1 {
				zygote, leaf = kids[0], gk[0]
				break
			}
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 1e6}, nil)
	}
	if leaf == 0 {
		t.Fatal("tree not started")
	}
	defer unix.Kill(zygote, unix.SIGKILL)
	below := signalDescendants(cmd.Process.Pid, zygote, unix.SIGKILL)
	defer below.close()
	if len(below) != 1 {
		t.Fatalf("signalled %d processes, want the sleep alone", len(below))
	}
	_, alive := procStartTime(zygote)
	if _, ppid, _ := procParent(zygote); !alive || ppid != cmd.Process.Pid {
		t.Error("the zygote was signalled")
	}
}

// TestKillZygoteChecksStart: delete of a stopped container without a cgroup (init gone) kills
// the recorded zygote only if it is still the process create saw: a pid taken by another
// process since (here a sleep of ours, with another start time) survives.
func TestKillZygoteChecksStart(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	start, _ := procStartTime(cmd.Process.Pid)
	c := &Container{State: &State{Pid: 0, ZygotePid: cmd.Process.Pid, ZygoteStart: start + 1}}
	if err := c.signalTracked(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for range 100 { // a SIGKILL lands once the sleep is scheduled
		if _, alive := procStartTime(cmd.Process.Pid); !alive {
			t.Fatal("a process that took the zygote's pid was killed")
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 1e6}, nil)
	}
	c.State.ZygoteStart = start
	if err := c.signalTracked(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Error("the zygote create recorded lived on")
	}
}
