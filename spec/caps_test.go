package spec

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCapMask(t *testing.T) {
	tests := []struct {
		names   []string
		want    uint64
		wantErr []string // substrings of the error
	}{
		{names: nil, want: 0},
		{names: []string{"CAP_CHOWN"}, want: 1},
		{names: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"},
			want: 1<<unix.CAP_KILL | 1<<unix.CAP_NET_BIND_SERVICE | 1<<unix.CAP_AUDIT_WRITE},
		{names: []string{"CAP_KILL", "CAP_KILL"}, want: 1 << unix.CAP_KILL},
		{names: []string{"CAP_CHECKPOINT_RESTORE"}, want: 1 << 40},
		{names: []string{"CAP_KILL", "CAP_BOGUS", "cap_chown"}, wantErr: []string{`"CAP_BOGUS"`, `"cap_chown"`}},
	}
	for _, tt := range tests {
		got, err := CapMask(tt.names)
		if tt.wantErr != nil {
			if err == nil {
				t.Errorf("CapMask(%q) = %#x, nil; want an error", tt.names, got)
				continue
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CapMask(%q) error = %q; want it to contain %s", tt.names, err, w)
				}
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CapMask(%q) = %#x, %v; want %#x, nil", tt.names, got, err, tt.want)
		}
	}
}

func TestCapNames(t *testing.T) {
	names := CapNames()
	if got, want := len(names), unix.CAP_CHECKPOINT_RESTORE+1; got != want {
		t.Fatalf("len(CapNames()) = %d; want %d", got, want)
	}
	for i, name := range names {
		got, err := CapMask([]string{name})
		if want := uint64(1) << i; err != nil || got != want {
			t.Errorf("CapMask(%q) = %#x, %v; want %#x, nil", name, got, err, want)
		}
	}
	names[0] = "changed"
	if got, want := CapNames()[0], "CAP_CHOWN"; got != want {
		t.Errorf("CapNames()[0] after caller edit = %q; want %q (a copy)", got, want)
	}
}
