package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandlock/sandlock-runtime/internal/children"
	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// TestSandboxRuntimeDirsHidden: a sandbox whose writable rules reach the runtime's own
// directories must not write them. The default root holds the compiled seccomp programs every
// later create of the same user loads (a sandbox with -w /run replaced one with a program that
// allows everything, and the next sandbox ran without sandlock's filter); the state root holds
// the sandbox's own state (config.json, whose poststop hooks delete runs, the mount log, the
// audit log), as are the sandboxes' default state root when this one keeps its state elsewhere.
// The probes only create empty files of their own; before the fix they were created (and are
// removed here).
func TestSandboxRuntimeDirsHidden(t *testing.T) {
	requireSetup(t)
	t.Run("root, -w /run", func(t *testing.T) {
		// The test's runtime keeps this sandbox's state under its own --root: the cache and
		// the sandboxes' default root (/run/sandlock-sandbox) are someone else's.
		name := "escape-probe-" + strconv.Itoa(os.Getpid())
		cache := filepath.Join("/run/sandlock-runtime", "#seccomp-cache", name+".json")
		states := filepath.Join("/run/sandlock-sandbox", name)
		if err := os.MkdirAll("/run/sandlock-sandbox", 0o700); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(cache); os.Remove(states) })
		script := `echo '["BgAAAAAA/38="]' > "$1" && echo WROTE; ls /run/sandlock-runtime >/dev/null 2>&1 && echo LISTED
true > "$2" && echo STATE; true`
		out, _, code := rt(t, sandboxArgs([]string{"-r", "/", "-w", "/run"}, "sh", "-c", script, "sh", cache, states)...)
		if code != 0 || out != "" {
			t.Errorf("the runtime's directories from a sandbox with -w /run: exit %d, %q; want nothing written or listed", code, out)
		}
		for _, p := range []string{cache, states} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s was created from the sandbox", p)
			}
		}
	})
	t.Run("uid 65534, -w HOME (XDG_RUNTIME_DIR under it)", func(t *testing.T) {
		home := nobodyHome(t)
		xdg := filepath.Join(home, "xdg")
		if err := os.MkdirAll(xdg, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(xdg, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		script := `ls "$1/sandlock-runtime" "$1/sandlock-sandbox" >/dev/null 2>&1 && echo LISTED
true > "$1/sandlock-runtime/probe" && echo CACHE
for d in "$1"/sandlock-sandbox/*/; do true > "$d/escape-probe" 2>/dev/null && echo STATE; done
echo ok > "$HOME/beside" && cat "$HOME/beside"`
		r := asNobodyWithEnv(t, home, []string{"XDG_RUNTIME_DIR=" + xdg},
			sandboxArgs([]string{"-r", "/", "-w", home}, "sh", "-c", script, "sh", xdg))
		if r.code != 0 || strings.TrimSpace(r.stdout) != "ok" {
			t.Errorf("the runtime's directories under XDG_RUNTIME_DIR from the sandbox: exit %d, %q, stderr %q; want only ok", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("uid 65534, -w TMPDIR: not carved, unix sockets bind", func(t *testing.T) {
		home := nobodyHome(t)
		script := `python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1]); print("bound")' "$HOME/s.sock"`
		r := asNobodyWithEnv(t, home, nil, sandboxArgs([]string{"-r", "/", "-w", home}, "sh", "-c", script))
		if r.code != 0 || strings.TrimSpace(r.stdout) != "bound" {
			t.Errorf("bind in the writable TMPDIR: exit %d, %q, stderr %q; want bound", r.code, r.stdout, r.stderr)
		}
	})
}

// TestEscapeRuntimeDirsInBind: a container whose writable bind mount holds the runtime's state
// root (`-v /run:/run`) must not write its own state dir (config.json, whose poststop hooks
// `delete` runs as root, the mount log it unmounts) through it; the rest of the bind stays
// writable.
func TestEscapeRuntimeDirsInBind(t *testing.T) {
	requireSetup(t)
	id := newID()
	root := envFor(t).root
	host := filepath.Dir(root)
	probe := filepath.Join(root, id, "escape-probe")
	beside := filepath.Join(host, "beside-"+id)
	t.Cleanup(func() { os.Remove(probe); os.Remove(beside) })
	in := "/hostdir/" + filepath.Base(root)
	script := `true > "$1/$2/escape-probe" && echo STATE; ls "$1" >/dev/null 2>&1 && echo LISTED
true > "/hostdir/beside-$2" && echo beside`
	b := newBundleWith(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/hostdir", Type: "bind", Source: host, Options: []string{"rbind", "rw"}})
	}, "sh", "-c", script, "sh", in, id)
	track(t, id)
	out, stderr, code := rt(t, "run", "--bundle", b, id)
	if code != 0 || out != "beside\n" {
		t.Errorf("the state root through a writable bind: exit %d, %q, %s; want only beside", code, out, stderr)
	}
	if _, err := os.Stat(probe); err == nil {
		t.Errorf("%s was created from the container", probe)
	}
}

// asNobodyWithEnv runs the runtime copied into home (nobodyHome) as uid 65534, with HOME and
// TMPDIR home, no XDG_RUNTIME_DIR unless env sets one, and env.
func asNobodyWithEnv(t *testing.T, home string, env []string, args []string) result {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		testreq.Missing(t, "setpriv not installed (util-linux): cannot run as an unprivileged user")
	}
	full := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups",
		"env", "-u", "XDG_RUNTIME_DIR", "TMPDIR=" + home, "HOME=" + home}, env...)
	cmd := exec.Command(setpriv, append(append(full, filepath.Join(home, "sandlock-runtime")), args...)...)
	cmd.Dir = home
	files := [2]*os.File{}
	for i := range files {
		if files[i], err = os.CreateTemp(home, "stdio-*"); err != nil {
			t.Fatal(err)
		}
	}
	cmd.Stdout, cmd.Stderr = files[0], files[1]
	r := finish(t, cmd, files, children.Start(cmd), cmdTimeout)
	t.Logf("$ (uid 65534) %s sandlock-runtime %s -> %d; stderr: %s", strings.Join(env, " "), strings.Join(args, " "), r.code, strings.TrimSpace(r.stderr))
	return r
}
