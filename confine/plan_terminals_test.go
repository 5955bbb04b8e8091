package confine

import (
	"os"
	"strings"
	"testing"

	"github.com/sandlock/sandlock-runtime/spec"
)

// TestFSReadableRoot: "/" names the root itself (it used to be trimmed to "" and skipped).
func TestFSReadableRoot(t *testing.T) {
	root := t.TempDir()
	rules, _, err := fsPlan(spec.Policy{FSReadable: []string{"/"}}, nil, root)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rules {
		found = found || (r.Path == root && !r.Write)
	}
	if !found {
		t.Errorf("fs_readable [\"/\"] under %s: rules %+v, want a read rule on the root", root, rules)
	}
}

// TestHideHostTerminals: no rule reaches /dev/pts or a terminal device; / and /dev stay
// listable; the harmless devices keep their rules.
func TestHideHostTerminals(t *testing.T) {
	if _, err := os.Stat("/dev/pts"); err != nil {
		t.Skipf("no /dev/pts (devpts not mounted): %v", err)
	}
	rules, err := HideHostTerminals([]PathRule{{Path: "/", Write: true, Exec: true}, {Path: "/dev/pts", Write: true}, {Path: "/dev/null", Write: true}})
	if err != nil {
		t.Fatal(err)
	}
	list := map[string]bool{}
	null := false
	for _, r := range rules {
		if r.Path == "/dev/pts" || strings.HasPrefix(r.Path, "/dev/pts/") || r.Path == "/dev/tty" || r.Path == "/dev/console" {
			t.Errorf("a rule reaches a terminal: %+v", r)
		}
		if r.ListOnly {
			list[r.Path] = true
		}
		null = null || (r.Path == "/dev/null" && r.Write)
	}
	if !list["/"] || !list["/dev"] {
		t.Errorf("/ and /dev should stay listable: list-only rules %v", list)
	}
	if !null {
		t.Errorf("/dev/null lost its rule")
	}
}

// TestHideHostDevices: the host's devices but the harmless ones leave the rules, and /dev/shm
// becomes list-only; a rule on a device itself stays; a list-only rule is never carved into
// read rules (fs_denied's, carved again by the direct mode).
func TestHideHostDevices(t *testing.T) {
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip("no /dev/null")
	}
	rules, err := HideHostDevices([]PathRule{{Path: "/", Exec: true}, {Path: "/dev/kmsg"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]PathRule{}
	for _, r := range rules {
		got[r.Path] = r
	}
	if _, ok := got["/dev/null"]; !ok {
		t.Errorf("/dev/null lost its rule")
	}
	if r, ok := got["/dev/shm"]; ok && !r.ListOnly {
		t.Errorf("/dev/shm is readable: %+v", r)
	}
	if _, ok := got["/dev/kmsg"]; !ok && fileExists("/dev/kmsg") {
		t.Errorf("the explicit rule on /dev/kmsg was dropped")
	}
	for _, dev := range []string{"/dev/loop0", "/dev/vda", "/dev/sda", "/dev/mem"} {
		if _, ok := got[dev]; ok {
			t.Errorf("%s kept a rule", dev)
		}
	}
	carved, err := carveRule(PathRule{Path: "/", ListOnly: true}, []deniedPath{{path: "/dev/loop0"}})
	if err != nil || len(carved) != 1 || !carved[0].ListOnly {
		t.Errorf("a list-only rule was carved into %+v (%v)", carved, err)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
