package integration

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Accepted means applied: each runc flag either works, is refused, or has no meaning here and
// is accepted because callers pass it (docs/design.md "runc flags").

// --no-pivot, --no-new-keyring, run --no-subreaper and the global --criu have no meaning here
// and must be accepted: containerd and podman pass some of them.
func TestFlagsWithoutMeaning(t *testing.T) {
	b := newBundle(t, "sh", "-c", "exit 3")
	id := newID()
	track(t, id)
	if _, stderr, code := rt(t, "--criu", "/usr/sbin/criu", "run", "--no-pivot", "--no-new-keyring", "--no-subreaper", "--bundle", b, id); code != 3 {
		t.Errorf("run with --criu --no-pivot --no-new-keyring --no-subreaper: exit %d, want the container's 3: %s%s", code, stderr, lastLogMsg(t))
	}
	id2 := newID()
	pid := create(t, id2, b, "--no-pivot", "--no-new-keyring")
	if pid <= 0 {
		t.Errorf("create --no-pivot --no-new-keyring: no pid")
	}
}

// run --keep leaves the stopped container for delete.
func TestRunKeep(t *testing.T) {
	b := newBundle(t, "sh", "-c", "exit 4")
	id := newID()
	track(t, id)
	if _, stderr, code := rt(t, "run", "--keep", "--bundle", b, id); code != 4 {
		t.Fatalf("run --keep: exit %d, want 4: %s%s", code, stderr, lastLogMsg(t))
	}
	if st := mustState(t, id); st["status"] != "stopped" {
		t.Errorf("after run --keep: status %v, want stopped", st["status"])
	}
	if _, stderr, code := rt(t, "delete", id); code != 0 {
		t.Errorf("delete after run --keep: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
		t.Errorf("delete left the state dir")
	}
	// without --keep the container is gone when run returns
	id2 := newID()
	track(t, id2)
	rt(t, "run", "--bundle", b, id2)
	if _, err := os.Stat(filepath.Join(envFor(t).root, id2)); err == nil {
		t.Errorf("run without --keep left the state dir")
	}
}

// io.sandlock.chroot on a container: applied when it is the root, refused otherwise.
func TestChrootAnnotation(t *testing.T) {
	chroot := func(dir string) func(*specs.Spec) {
		return func(s *specs.Spec) {
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations["io.sandlock.chroot"] = dir
		}
	}
	b := newBundleWith(t, chroot("/srv"), "true")
	id := newID()
	track(t, id)
	mustFail(t, "create with io.sandlock.chroot /srv", []string{"create", "--bundle", b, id}, "chroot /srv: a container's root is root.path")
	if _, err := os.Stat(filepath.Join(envFor(t).root, id)); err == nil {
		t.Errorf("the refused create left its state dir")
	}
	b2 := newBundle(t, "true") // the rootfs path is known only now: annotate it afterwards
	s, err := loadSpec(filepath.Join(b2, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	chroot(filepath.Join(b2, "rootfs"))(s)
	writeSpec(t, b2, s)
	id2 := newID()
	track(t, id2)
	if _, stderr, code := rt(t, "run", "--bundle", b2, id2); code != 0 {
		t.Errorf("io.sandlock.chroot equal to the rootfs: exit %d: %s%s", code, stderr, lastLogMsg(t))
	}
}
