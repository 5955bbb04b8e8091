package mountinfo

import (
	"slices"
	"strings"
	"testing"
)

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:          `/plain`,
		`/a\040b`:         `/a b`,
		`/t\011n\012`:     "/t\tn\n",
		`/back\134slash`:  `/back\slash`,
		`/end\04`:         `/end\04`, // too short to be an escape
		`/not\9999-octal`: `/not\9999-octal`,
		`/two\040\040sp`:  `/two  sp`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnderRoot(t *testing.T) {
	m, err := Under("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m, "/proc") {
		t.Errorf("Under(/proc) = %v, want /proc itself listed", m)
	}
	for _, p := range m {
		if p != "/proc" && !strings.HasPrefix(p, "/proc/") {
			t.Errorf("Under(/proc) lists %q", p)
		}
	}
	if m, _ := Under("/proc/nonexistent-sandlock"); len(m) != 0 {
		t.Errorf("Under of a path nothing is mounted at: %v", m)
	}
}
