package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestProfileCommand(t *testing.T) {
	const dir = "../../spec/testdata/profiles"
	tests := []struct {
		name    string
		args    []string
		want    []string // substrings of the output
		wantErr string   // substring of the error; "" = none
	}{
		{"list", []string{"profile", "--dir", dir, "list"}, []string{"build\nminimal\nweb-scraper\n"}, ""},
		{"show merges with the defaults", []string{"profile", "--dir", dir, "show", "minimal"},
			[]string{"max_processes = 16\n", "no_raw_sockets = true\n", "close_fds = true\n", `on_error = "ABORT"`, "[env]\n"}, ""},
		{"show keeps gpu_devices = []", []string{"profile", "--dir", dir, "show", "build"}, []string{"gpu_devices = []\n"}, ""},
		{"list --dir after the subcommand", []string{"profile", "list", "--dir", dir}, []string{"build\nminimal\nweb-scraper\n"}, ""},
		{"show --dir after the subcommand", []string{"profile", "show", "--dir", dir, "minimal"}, []string{"max_processes = 16\n"}, ""},
		{"show a missing profile", []string{"profile", "--dir", dir, "show", "nope"}, nil, "available: build, minimal, web-scraper"},
		{"show refuses a path", []string{"profile", "--dir", dir, "show", "../x"}, nil, "'/'"},
		{"show needs a name", []string{"profile", "show"}, nil, "exactly one profile NAME"},
		{"list takes no arguments", []string{"profile", "list", "x"}, nil, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			app := newApp()
			app.Writer = &out
			err := app.Run(append([]string{"sandlock-runtime", "--root", t.TempDir()}, tt.args...))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output %q; want it to contain %q", out.String(), w)
				}
			}
		})
	}
}

// TestProfileListEmptySaysWhere: an empty list is not silent: stderr names the directories
// and where make install puts the shipped profiles.
func TestProfileListEmptySaysWhere(t *testing.T) {
	var out, errb strings.Builder
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errb
	dir := t.TempDir()
	if err := app.Run([]string{"sandlock-runtime", "profile", "--dir", dir, "list"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "" || !strings.Contains(errb.String(), dir) || !strings.Contains(errb.String(), "make install") {
		t.Errorf("stdout %q, stderr %q; want nothing on stdout and where to look on stderr", out.String(), errb.String())
	}
}
