package spec

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountFlags(t *testing.T) {
	tests := []struct {
		name      string
		options   []string
		wantFlags uintptr
		wantProp  uintptr
		wantData  string
		wantErr   bool
	}{
		{name: "none"},
		{name: "runc /dev", options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			wantFlags: unix.MS_NOSUID | unix.MS_STRICTATIME, wantData: "mode=755,size=65536k"},
		{name: "sysfs ro", options: []string{"nosuid", "noexec", "nodev", "ro"},
			wantFlags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RDONLY},
		{name: "bind rprivate", options: []string{"bind", "rprivate"},
			wantFlags: unix.MS_BIND, wantProp: unix.MS_PRIVATE | unix.MS_REC},
		{name: "rbind", options: []string{"rbind"}, wantFlags: unix.MS_BIND | unix.MS_REC},
		{name: "later clears earlier", options: []string{"ro", "noexec", "rw", "exec"}},
		{name: "later sets again", options: []string{"rw", "ro"}, wantFlags: unix.MS_RDONLY},
		{name: "last propagation wins", options: []string{"shared", "rslave"},
			wantProp: unix.MS_SLAVE | unix.MS_REC},
		{name: "defaults is no flag", options: []string{"defaults"}},
		{name: "atime family", options: []string{"noatime", "nodiratime", "relatime", "norelatime"},
			wantFlags: unix.MS_NOATIME | unix.MS_NODIRATIME},
		{name: "sync dirsync mand", options: []string{"sync", "dirsync", "mand", "nosymfollow"},
			wantFlags: unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC | unix.MS_MANDLOCK | unix.MS_NOSYMFOLLOW},
		{name: "devpts data", options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
			wantFlags: unix.MS_NOSUID | unix.MS_NOEXEC, wantData: "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{name: "tmpcopyup refused", options: []string{"tmpcopyup"}, wantErr: true},
		{name: "idmap refused", options: []string{"bind", "idmap"}, wantErr: true},
		{name: "recursive ro refused", options: []string{"rbind", "rro"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags, prop, data, err := MountFlags(tt.options)
			if (err != nil) != tt.wantErr {
				t.Fatalf("MountFlags(%q) error = %v; want error %v", tt.options, err, tt.wantErr)
			}
			if flags != tt.wantFlags || prop != tt.wantProp || data != tt.wantData {
				t.Errorf("MountFlags(%q) = %#x, %#x, %q; want %#x, %#x, %q",
					tt.options, flags, prop, data, tt.wantFlags, tt.wantProp, tt.wantData)
			}
		})
	}
}

func TestFeaturesJSON(t *testing.T) {
	out, err := json.Marshal(Features())
	if err != nil {
		t.Fatal(err)
	}
	doc := string(out)
	for _, want := range []string{
		`"ociVersionMin":"1.0.0"`,
		`"namespaces":["pid","network","ipc","uts","mount","cgroup"]`,
		`"v2":true`, `"v1":true`, `"systemd":true`, `"systemdUser":false`,
		`"io.sandlock.runtime.landlock":"true"`,
		`"CAP_CHECKPOINT_RESTORE"`,
		`"idmap":{"enabled":false}`,
		`"apparmor":{"enabled":false}`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("features JSON lacks %s:\n%s", want, doc)
		}
	}
	for _, bad := range []string{`"user"`, `"time"`, "SCMP_ACT_NOTIFY", `"tmpcopyup"`, `"idmap"]`} {
		if strings.Contains(doc, bad) {
			t.Errorf("features JSON advertises %s, which is not supported:\n%s", bad, doc)
		}
	}
}

// Every mount option Features advertises must be one MountFlags parses as a flag, not data.
func TestFeaturesMountOptionsParse(t *testing.T) {
	for _, o := range Features().MountOptions {
		_, _, data, err := MountFlags([]string{o})
		if err != nil || data != "" {
			t.Errorf("MountFlags(%q) = data %q, %v; want a flag", o, data, err)
		}
	}
	for _, want := range []string{"ro", "rw", "bind", "rbind", "rprivate", "nomand", "runbindable"} {
		if !slices.Contains(Features().MountOptions, want) {
			t.Errorf("features mountOptions lacks %q", want)
		}
	}
}

// The features document must not share slices with the validator's tables.
func TestFeaturesIsACopy(t *testing.T) {
	Features().Linux.Seccomp.Actions[0] = "changed"
	if got, want := Features().Linux.Seccomp.Actions[0], "SCMP_ACT_KILL"; got != want {
		t.Errorf("Actions[0] after caller edit = %q; want %q", got, want)
	}
}
