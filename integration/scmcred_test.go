package integration

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// scmCredNames are scmcred.c's attempts.
var scmCredNames = []string{"scm_implicit", "scm_claim_uid0", "scm_claim_gid0", "scm_claim_root", "scm_claim_own_works"}

// TestEscapeSCMCredentials: a datagram to a pathname socket is sent by the supervisor, on a
// worker holding the process's credentials, where sendmsg is trapped (net_allow_hosts; the
// host's root). The worker used to keep the supervisor's real and saved ids, which the kernel
// puts in SCM_CREDENTIALS and accepts in a claim: a uid-1000 process's datagrams reached a
// SO_PASSCRED receiver (journald, /dev/log) as uid 0, and it could claim uid 0 outright. The
// direct mode runs the command as the caller, whose ids the supervisor has: nothing to forge.
func TestEscapeSCMCredentials(t *testing.T) {
	bins := escapeBins(t)
	t.Run("image, net_allow_hosts", func(t *testing.T) {
		mutate := func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1000}
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations["io.sandlock.net_allow_hosts"] = `["127.0.0.1"]`
		}
		install := func(rootfs string) {
			if err := os.MkdirAll(filepath.Join(rootfs, "tmp"), 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
				t.Fatal(err)
			}
		}
		out := escapeRun(t, newID(), mutate, install, "/escape/scmcred", "/tmp")
		requireOK(t, escapeVerdicts(t, out, 1), scmCredNames...)
		if t.Failed() {
			t.Logf("escape program output:\n%s", out)
		}
	})
	t.Run("host mode", func(t *testing.T) {
		// uid 65534 must reach the program and the socket's directory: neither under the
		// test's 0700 temporary directories
		dir, err := os.MkdirTemp("", "scmcred-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o1777); err != nil {
			t.Fatal(err)
		}
		prog := filepath.Join(dir, "scmcred")
		if err := copyFile(filepath.Join(bins, "scmcred"), prog, 0o755); err != nil {
			t.Fatal(err)
		}
		mutate := func(s *specs.Spec) {
			s.Root = &specs.Root{Path: "/"}
			s.Mounts = nil
			s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
			s.Process.User = specs.User{UID: 65534, GID: 65534}
		}
		id := newID()
		b := newBundleWith(t, mutate, prog, dir)
		track(t, id)
		out, stderr, code := rt(t, "run", "--bundle", b, id)
		got := escapeVerdicts(t, out, 1)
		requireOK(t, got, scmCredNames...)
		if t.Failed() {
			t.Logf("run exit %d, %s\nescape program output:\n%s", code, stderr, out)
		}
	})
}
