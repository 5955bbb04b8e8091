package notifsup

import "testing"

func TestFSMetaAllowed(t *testing.T) {
	m := &fsMeta{rules: []FSRule{
		{Path: "/usr"},
		{Path: "/w", Write: true},
		{Path: "/d", ListOnly: true}, // what fs_denied leaves above a denied path
		{Path: "/d/sibling", Write: true},
	}}
	cases := []struct {
		path        string
		read, write bool
	}{
		{"/usr/bin/sh", true, false},
		{"/usr", true, false},
		{"/usrx", false, false}, // a prefix is not a parent
		{"/w/f", true, true},
		{"/w", true, true},
		{"/etc/passwd", false, false},
		{"/d", true, false},
		{"/d/secret", false, false},
		{"/d/sibling/f", true, true},
	}
	for _, c := range cases {
		if got := m.allowed(c.path, false); got != c.read {
			t.Errorf("read %s: %v, want %v", c.path, got, c.read)
		}
		if got := m.allowed(c.path, true); got != c.write {
			t.Errorf("write %s: %v, want %v", c.path, got, c.write)
		}
	}
}

func TestOwnProcSpellings(t *testing.T) {
	tg := &target{tid: 12, tgid: 10}
	for path, want := range map[string]int{
		"/proc/self/fd/3": 3, "/proc/thread-self/fd/4": 4, "/proc/10/fd/5": 5, "/proc/10/task/12/fd/6": 6,
	} {
		if n, ok := tg.ownFDRef(path); !ok || n != want {
			t.Errorf("ownFDRef(%q) = %d %v, want %d", path, n, ok, want)
		}
	}
	for _, path := range []string{"/proc/11/fd/3", "/proc/self/fd/03", "/proc/self/fd/3/x", "/proc/self/fd/", "/proc/self/cwd"} {
		if _, ok := tg.ownFDRef(path); ok {
			t.Errorf("ownFDRef(%q): taken for an fd of the process", path)
		}
	}
	for in, want := range map[string]string{
		"/proc/self/exe": "/proc/10/exe", "/proc/self": "/proc/10", "/proc/thread-self/comm": "/proc/10/task/12/comm",
		"/proc/selfish": "/proc/selfish", "/etc/x": "/etc/x", "self/exe": "self/exe",
	} {
		if got := tg.ownProcPath(in); got != want {
			t.Errorf("ownProcPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnescapeMountPath(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/plain`: "/plain", `/tab\011x`: "/tab\tx", `/end\04`: `/end\04`} {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", in, got, want)
		}
	}
}
