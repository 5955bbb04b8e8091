package lifecycle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestHostnameFileInStateDir: the file bound over /proc/sys/kernel/hostname lies in the
// container's state dir, so delete takes it away with the dir. Nothing is left in the user's
// runtime dir per hostname: containerd and docker give each container its id as hostname, and
// a shared cache of such files grew by one for every container run until the next reboot.
func TestHostnameFileInStateDir(t *testing.T) {
	runtimeDir := t.TempDir() // DefaultRoot's parent when not run as root
	t.Setenv("XDG_RUNTIME_DIR", runtimeDir)
	for _, name := range []string{"c1a2b3", "d4e5f6"} {
		dir := t.TempDir()
		cr := &creation{
			cont: &Container{dir: dir, State: &State{ID: name, Hostname: name, Rootfs: "/rootfs"}},
			spec: &specs.Spec{Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}}},
		}
		if err := cr.hostnameFile(); err != nil {
			t.Fatal(err)
		}
		m := cr.spec.Mounts[len(cr.spec.Mounts)-1]
		if m.Destination != "/proc/sys/kernel/hostname" {
			t.Fatalf("no hostname bind: %+v", cr.spec.Mounts)
		}
		if !strings.HasPrefix(m.Source, dir+string(filepath.Separator)) {
			t.Errorf("hostname file %s lies outside the state dir %s", m.Source, dir)
		}
		if b, err := os.ReadFile(m.Source); err != nil || string(b) != name+"\n" {
			t.Errorf("hostname file holds %q, %v", b, err)
		}
	}
	if left, _ := os.ReadDir(runtimeDir); len(left) > 0 {
		t.Errorf("files kept in the user's runtime dir: %v", left)
	}
}
