package spec

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in      string
		want    unix.Signal
		wantErr bool
	}{
		{in: "9", want: unix.SIGKILL},
		{in: "15", want: unix.SIGTERM},
		{in: "64", want: 64},
		{in: "KILL", want: unix.SIGKILL},
		{in: "SIGKILL", want: unix.SIGKILL},
		{in: "sigkill", want: unix.SIGKILL},
		{in: "term", want: unix.SIGTERM},
		{in: "SIGHUP", want: unix.SIGHUP},
		{in: "WINCH", want: unix.SIGWINCH},
		{in: "SIGIOT", want: unix.SIGABRT},
		{in: "CLD", want: unix.SIGCHLD},
		{in: "SIGRTMIN", want: 34},
		{in: "SIGRTMIN+3", want: 37},
		{in: "rtmin+30", want: 64},
		{in: "SIGRTMAX", want: 64},
		{in: "SIGRTMAX-1", want: 63},
		{in: "0", wantErr: true},
		{in: "-9", wantErr: true},
		{in: "65", wantErr: true},
		{in: "", wantErr: true},
		{in: "SIG", wantErr: true},
		{in: "BOGUS", wantErr: true},
		{in: "SIGRTMIN+31", wantErr: true},
		{in: "SIGRTMAX-31", wantErr: true},
		{in: "SIGRTMIN-1", wantErr: true},
		{in: "SIGRTMIN+x", wantErr: true},
		{in: "SIGRTMINFOO", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseSignal(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
