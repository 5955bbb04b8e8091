package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFSDeniedInWritable: through the Go API, with fs_writable [W] and fs_denied [W/secret],
// files beside the secret can be created and used afterwards (the supervisor grants what the
// carved Landlock rules cannot), and every spelling of the secret is refused, a hard link made
// before the sandbox started included.
func TestFSDeniedInWritable(t *testing.T) {
	requireKernel(t)
	p, w := hostPolicy(t)
	secret := filepath.Join(w, "secret")
	if err := os.WriteFile(secret, []byte("TOPSECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(secret, filepath.Join(w, "prelink")); err != nil {
		t.Fatal(err)
	}
	p.FSDenied = []string{secret}
	allowed := `cd ` + w + ` && echo new > new && cat new && mv new new2 && cat new2 && mkdir d && touch d/f && ` +
		`ln -s new2 sl && cat sl && ln new2 hard && cat hard && rm hard sl d/f && rmdir d && ls && ` +
		`mkfifo p && { cat p > fifo.out & echo via-fifo > p; wait; } && cat fifo.out && rm p && ` +
		`echo c > /proc/self/cwd/viacwd && cat viacwd && echo DONE`
	res, err := newSandbox(t, p).Run(ctxFor(t, 60*time.Second), []string{"sh", "-c", allowed})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.ExitCode != 0 || !strings.Contains(string(res.Stdout), "via-fifo\nc\nDONE") {
		t.Fatalf("siblings of the denied file: got code %d stdout %q stderr %q, want them created and used",
			res.ExitCode, res.Stdout, res.Stderr)
	}
	for _, attempt := range []string{
		"cat " + secret,
		"echo x > " + secret,
		"cat " + w + "/prelink",
		"ln " + secret + " " + w + "/l && cat " + w + "/l",
		"ln -s " + secret + " " + w + "/s && cat " + w + "/s",
		"mv " + secret + " " + w + "/moved && cat " + w + "/moved",
		"echo y > " + w + "/y && mv " + w + "/y " + secret,
		"cd " + w + " && cat ../" + filepath.Base(w) + "/secret",
		"cd " + w + " && cat /proc/self/cwd/secret",
		"rm " + secret,
	} {
		res, err := newSandbox(t, p).Run(ctxFor(t, 60*time.Second), []string{"sh", "-c", attempt})
		if err != nil {
			t.Fatalf("Run %q: %v", attempt, err)
		}
		if res.ExitCode == 0 || strings.Contains(string(res.Stdout), "TOPSECRET") {
			t.Errorf("%q: got code %d stdout %q, want it refused", attempt, res.ExitCode, res.Stdout)
		}
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "TOPSECRET\n" {
		t.Errorf("the secret after the attempts: %q, %v; want it untouched", b, err)
	}
}
