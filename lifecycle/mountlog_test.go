package lifecycle

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// An intent line stands for a mount only when a crash cut create short between the mount and
// its record: last in the log, whole, with another mount at its path than the one it saw.
func TestMountLogIntent(t *testing.T) {
	dir := filepath.Join(mountScratch(t), "d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	intent := mountIntent(fd, dir)
	if id, p, ok := parseIntent(intent); !ok || p != dir || id == 0 {
		t.Fatalf("mountIntent = %q: parsed %d %q %v; want a mount id and %s", intent, id, p, ok, dir)
	}
	check := func(name, log string, want ...string) {
		t.Helper()
		ml := mountLog{path: filepath.Join(t.TempDir(), "mounts")}
		if err := os.WriteFile(ml.path, []byte(log), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := ml.list(); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: list = %q, %v; want %q", name, got, err, want)
		}
	}
	check("mount never made", "/other\n"+intent+"\n", "/other")
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	check("mount made, then the crash", "/other\n"+intent+"\n", "/other", dir)
	check("mount made and recorded", intent+"\n"+dir+"\n", dir)
	check("torn intent", "/other\n"+intent, "/other")
	check("intent of a failed mount, then more", intent+"\n/other\n", "/other")
}

func TestMountLogRecordIntent(t *testing.T) {
	ml := mountLog{path: filepath.Join(t.TempDir(), "mounts")}
	if err := ml.record("?12 /a/rootfs/proc"); err != nil {
		t.Errorf("record of an intent: %v", err)
	}
	for _, bad := range []string{"?12 relative", "?x", "?12 /a\nb"} {
		if err := ml.record(bad); err == nil {
			t.Errorf("record(%q): no error", bad)
		}
	}
}
