package sandbox

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMetadataOutsideWritable: through the Go API as through the CLI, chmod, chown, utimes
// and xattr writes reach only what fs_writable grants (docs/security.md, "Metadata").
func TestMetadataOutsideWritable(t *testing.T) {
	requireKernel(t)
	p, dir := hostPolicy(t)
	other := t.TempDir()
	outside, inside := filepath.Join(other, "f"), filepath.Join(dir, "f")
	for _, f := range []string{outside, inside} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.FSReadable = append(p.FSReadable, other) // readable, not writable
	script := `for f in "$@"; do
  chmod 4777 "$f" && echo "chmod $f"; touch -d 2001-01-01 "$f" && echo "touch $f"; chown 0:0 "$f" && echo "chown $f"
done 2>/dev/null; true`
	sb := newSandbox(t, p)
	res, err := sb.Run(ctxFor(t, 30*time.Second), []string{"sh", "-c", script, "sh", outside, inside})
	if err != nil {
		t.Fatal(err)
	}
	want := "chmod " + inside + "\ntouch " + inside + "\nchown " + inside + "\n"
	if string(res.Stdout) != want {
		t.Errorf("got %q, want only the inside file changed: %q", res.Stdout, want)
	}
	var chmods int
	for _, d := range sb.Denials() {
		if d.Syscall == "fchmodat" || d.Syscall == "chmod" {
			chmods++
			if d.Object != outside || d.Rule != "fs_writable" || d.Errno != "EACCES" {
				t.Errorf("denial %+v", d)
			}
		}
	}
	if chmods != 1 {
		t.Errorf("%d chmod denials, want 1: %+v", chmods, sb.Denials())
	}
	st, err := os.Stat(outside)
	if err != nil || st.Mode().Perm() != 0o644 || st.Mode()&os.ModeSetuid != 0 || st.ModTime().Year() == 2001 {
		t.Errorf("the file outside fs_writable changed: %v %v", st.Mode(), err)
	}
}

// TestMetadataByFDInWorkdir: with a copy-on-write workdir the process's root is a detached
// copy of the mount tree (it was a mount namespace of its own); a metadata change through its own fd (/proc/self/fd/N, which the supervisor
// performs on that fd) of a host file it may only read is refused there too. It changed the
// host file before (the view's mounts were unknown to the supervisor and taken for a
// memfd's).
func TestMetadataByFDInWorkdir(t *testing.T) {
	requireKernel(t)
	requireRoot(t)
	outside := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := cowPolicy(t, cowWorkdir(t), "ABORT")
	script := `exec 3<"$1"; chmod 4777 /proc/self/fd/3 && echo chmod; touch -d 2001-01-01 /proc/self/fd/3 && echo touch; true`
	res, err := newSandbox(t, p).Run(ctxFor(t, 30*time.Second), []string{"sh", "-c", script, "sh", outside})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) != 0 {
		t.Errorf("got %q, want every change refused", res.Stdout)
	}
	st, err := os.Stat(outside)
	if err != nil || st.Mode().Perm() != 0o644 || st.Mode()&os.ModeSetuid != 0 || st.ModTime().Year() == 2001 {
		t.Errorf("ESCAPED: the host file changed: %v %v", st.Mode(), err)
	}
}
