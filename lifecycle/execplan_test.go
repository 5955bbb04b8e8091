package lifecycle

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
)

func TestWithinBounding(t *testing.T) {
	const kill, chown = 1 << unix.CAP_KILL, 1 << unix.CAP_CHOWN
	if err := withinBounding(confine.Caps{Bounding: kill, Effective: kill, Permitted: kill}, kill|chown); err != nil {
		t.Errorf("fewer capabilities than the bounding set: %v", err)
	}
	err := withinBounding(confine.Caps{Ambient: 1 << unix.CAP_SYS_ADMIN, Inheritable: 1 << unix.CAP_NET_ADMIN}, kill)
	if err == nil || !strings.Contains(err.Error(), "CAP_NET_ADMIN, CAP_SYS_ADMIN not in the container's bounding set") {
		t.Errorf("capabilities beyond the bounding set (ambient, inheritable): got %v", err)
	}
}

func TestMoreConfined(t *testing.T) {
	for _, c := range []struct {
		peer, own confinement
		refused   bool
	}{
		{confinement{0, false}, confinement{0, false}, false},
		{confinement{1, true}, confinement{1, true}, false},  // nested in docker: same as us
		{confinement{0, false}, confinement{2, true}, false}, // less confined than us
		{confinement{2, false}, confinement{0, false}, true}, // a container without no_new_privs
		{confinement{0, true}, confinement{0, false}, true},
		{confinement{3, true}, confinement{1, true}, true}, // the direct mode inside docker
	} {
		err := moreConfined(c.peer, c.own, "42")
		if (err != nil) != c.refused || (err != nil && !strings.Contains(err.Error(), "does not serve confined processes")) {
			t.Errorf("peer %+v, supervisor %+v: got %v, want refused=%v", c.peer, c.own, err, c.refused)
		}
	}
}

// readConfinement parses this process's own status (both lines exist since Linux 5.9).
func TestReadConfinement(t *testing.T) {
	c, err := readConfinement("self")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkConfinement("self"); err != nil {
		t.Errorf("a peer as confined as the supervisor (itself, %+v): %v", c, err)
	}
	if _, err := readConfinement("0"); err == nil {
		t.Errorf("a pid that does not exist: no error")
	}
}

func TestCommandWord(t *testing.T) {
	for args, want := range map[string]string{
		"supervise --state-dir /x":                  "supervise",
		"--log /l --log-format json supervise --a":  "supervise",
		"--debug supervise":                         "supervise",
		"--root /r exec ctr supervise":              "exec",
		"--log supervise exec ctr":                  "exec", // a log file named "supervise"
		"--root=/r --log-format=json supervise --x": "supervise",
		"": "",
	} {
		if got := commandWord(strings.Fields(args)); got != want {
			t.Errorf("commandWord(%q) = %q, want %q", args, got, want)
		}
	}
	if sup, err := isSupervisor(os.Getpid()); err != nil || !sup {
		t.Errorf("the supervisor itself: %v %v, want a supervisor", sup, err)
	}
	if sup, err := isSupervisor(1); err != nil || sup {
		t.Errorf("pid 1: %v %v, want no supervisor", sup, err)
	}
}
