package spec

import (
	"strings"
	"testing"
)

func TestValidateID(t *testing.T) {
	tests := []struct {
		id      string
		wantErr bool
	}{
		{"", true},
		{"/", true},
		{"a/b", true},
		{".", true},
		{"..", true},
		{"a b", true},
		{"a\x00b", true},
		{"é", true},
		{strings.Repeat("a", 1025), true},
		{strings.Repeat("a", 1024), false},
		{"a", false},
		{"busybox-1", false},
		{"A.b_c+d-9", false},
		{"...", false},
		{"3f1c2a9b7d6e0b5d0c5b1c0b4d7e8e2b4c7a1f0e3d2c1b0a9f8e7d6c5b4a3f2e", false},
	}
	for _, tt := range tests {
		err := ValidateID(tt.id)
		if got := err != nil; got != tt.wantErr {
			t.Errorf("ValidateID(%.20q) error = %v; want error %v", tt.id, err, tt.wantErr)
		}
	}
}

func TestValidateIDMessage(t *testing.T) {
	got := ValidateID("x/y").Error()
	want := `invalid container id "x/y": only [A-Za-z0-9_.+-] allowed, 1-1024 characters`
	if got != want {
		t.Errorf("ValidateID(\"x/y\") = %q; want %q", got, want)
	}
}
