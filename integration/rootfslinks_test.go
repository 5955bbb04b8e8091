package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRootfsSymlinksStayInside: a rootfs whose /proc, /sys, /dev, /etc/hostname, /etc/hosts,
// /etc/resolv.conf, the copy-on-write workdir's mount point and a bind mount's destination are
// absolute symlinks to a host directory (as a malicious image ships them). create and delete run
// as root: every mount, mask, read-only bind and file they make must land inside the rootfs
// (runc's rule: destinations resolve in the root), never on the host directory the links name.
func TestRootfsSymlinksStayInside(t *testing.T) {
	requireSetup(t)
	host := t.TempDir() // what the links point at: must stay empty and unmounted
	t.Cleanup(func() { checkNoMounts(t, host) })
	src := t.TempDir() // a bind mount's source
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("bound\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"proc", "sys", "dev", "data", "etc"} {
		if err := os.MkdirAll(filepath.Join(host, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := []string{"proc", "sys", "dev", "data", "etc/hostname", "etc/hosts", "etc/resolv.conf"}
	for _, l := range links {
		for _, rel := range []bool{false, true} {
			name := l
			if rel {
				name += " relative"
			}
			t.Run(name, func(t *testing.T) { rootfsLinkCase(t, host, src, l, rel) })
		}
	}
	checkNoMounts(t, host)
	_ = filepath.Walk(host, func(p string, fi os.FileInfo, err error) error {
		if err == nil && p != host && !(fi.IsDir() && strings.Count(strings.TrimPrefix(p, host), "/") == 1) {
			t.Errorf("create or delete made %s on the host (through a symlink in the rootfs)", p)
		}
		return nil
	})
}

// rootfsLinkCase replaces the rootfs's l by a symlink to host/l (absolute, or relative with
// enough ../ to climb out of the bundle), runs the container and deletes it: the host
// directory must get nothing, whether the run works or is refused.
func rootfsLinkCase(t *testing.T, host, src, l string, rel bool) {
	id := newID()
	mutate := func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", "ro"}})
		s.Hostname = "linked"
	}
	b := newBundleWith(t, mutate, "/bin/sh", "-c", "cat /data/f; echo ran")
	rootfs := filepath.Join(b, "rootfs")
	p := filepath.Join(rootfs, l)
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(host, l)
	if rel {
		target = strings.Repeat("../", 20) + strings.TrimPrefix(target, "/")
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	track(t, id)
	out, stderr, code := rt(t, "run", "--bundle", b, id)
	t.Logf("run: exit %d, stdout %q, stderr %s", code, out, stderr)
	rt(t, "delete", "--force", id)
	checkNoMounts(t, host)
	for _, d := range []string{"proc", "sys", "dev", "data", "etc"} {
		if ents, _ := os.ReadDir(filepath.Join(host, d)); len(ents) > 0 {
			t.Errorf("host %s/%s got %d entries", host, d, len(ents))
		}
	}
}
