package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/spec"
)

// imageFor turns an OCI process into what the C drop-and-exec step applies. The same function
// serves init and exec, so both get exactly the same treatment of users, capabilities and
// rlimits.
//
// Every process gets its own session (as runc does): otherwise it shares the caller's and can
// open the caller's controlling terminal through /dev/tty, make itself the foreground group
// and read what the operator types (docs/security.md). With process.terminal the new session
// then takes the container's own pty as its controlling terminal. The direct mode opts out
// (initConfig.KeepSession).
func imageFor(p *specs.Process) (*confine.ProcessImage, error) {
	if p == nil || len(p.Args) == 0 {
		return nil, fmt.Errorf("process.args must not be empty")
	}
	img := &confine.ProcessImage{
		Path:    p.Args[0],
		Args:    p.Args,
		Env:     p.Env,
		Cwd:     p.Cwd,
		UID:     p.User.UID,
		GID:     p.User.GID,
		Groups:  p.User.AdditionalGids,
		Umask:   -1,
		Setsid:  true,
		SetCtty: p.Terminal,
		// false is honoured only where the runtime holds CAP_SYS_ADMIN (init sets
		// no_new_privs before Landlock otherwise, and every process inherits it)
		NoNewPrivs: p.NoNewPrivileges,
	}
	if img.Cwd == "" {
		img.Cwd = "/"
	}
	if p.User.Umask != nil {
		img.Umask = int(*p.User.Umask)
	}
	caps, err := capsFor(p.Capabilities)
	if err != nil {
		return nil, err
	}
	img.Caps = caps
	if !p.NoNewPrivileges {
		// a setuid or file-capability binary would raise the permitted set up to the bounding
		// set; under no_new_privs nothing can, and the bounding set is left as asked (a user
		// running the direct mode cannot drop from it)
		img.Caps.Bounding &^= neverGranted
	}
	for _, r := range p.Rlimits {
		t, err := spec.RlimitType(r.Type)
		if err != nil {
			return nil, err
		}
		img.Rlimits = append(img.Rlimits, confine.Rlimit{Type: t, Soft: r.Soft, Hard: r.Hard})
	}
	return img, nil
}

// neverGranted are capabilities no process of a container gets, whatever config.json asks
// (capsFor takes them out of every set but the bounding set, imageFor out of that).
// CAP_SYS_PTRACE: ptrace, process_vm_* and pidfd_getfd are denied by seccomp anyway, so all it
// would still grant is ptrace-mode access through /proc (mem, environ, fd) past the checks that
// keep the zygote out. The zygote is in the container's Landlock domain (which therefore lets
// such access through), holds the capabilities the runtime started with and none of the
// exec-time seccomp programs; only its not being dumpable guards its /proc/PID/mem, and
// CAP_SYS_PTRACE overrides that: a container given it (podman --cap-add SYS_PTRACE) opened the
// zygote's memory for writing (docs/security.md, escape.c proc_mem_zygote).
const neverGranted = uint64(1) << unix.CAP_SYS_PTRACE

func capsFor(c *specs.LinuxCapabilities) (confine.Caps, error) {
	var caps confine.Caps
	if c == nil {
		return caps, nil
	}
	sets := []struct {
		names []string
		dst   *uint64
	}{
		{c.Bounding, &caps.Bounding}, {c.Effective, &caps.Effective},
		{c.Inheritable, &caps.Inheritable}, {c.Permitted, &caps.Permitted},
		{c.Ambient, &caps.Ambient},
	}
	for _, s := range sets {
		m, err := spec.CapMask(s.names)
		if err != nil {
			return caps, fmt.Errorf("process.capabilities: %w", err)
		}
		*s.dst = m
		if s.dst != &caps.Bounding {
			*s.dst &^= neverGranted
		}
	}
	return caps, nil
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath resolves name in the PATH of env, relative to the current root. init calls it
// after chroot, so a missing program fails create with runc's message instead of start.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if err := isExecutable(name); err != nil {
			var me *modeError
			if errors.As(err, &me) {
				return "", &StepError{Step: StepExec, Errno: unix.EACCES, NotExecutable: true,
					Msg: fmt.Sprintf("exec: %q: permission denied (%s)", name, me.why)}
			}
			return "", fmt.Errorf("exec: %q: %w", name, err)
		}
		return name, nil
	}
	path := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if isExecutable(p) == nil {
			return p, nil
		}
	}
	return "", &StepError{Step: StepExec, Errno: unix.ENOENT, Msg: fmt.Sprintf("exec: %q: executable file not found in $PATH", name)}
}

// isExecutable is nil for a file execve may run; a directory or a file without an execute bit
// is a *modeError: the program's own fault, whatever the policy (the policy's refusal comes
// later, from execve under Landlock).
func isExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		return &modeError{"is a directory"}
	case fi.Mode()&0o111 == 0:
		return &modeError{fmt.Sprintf("not executable: mode %04o", fi.Mode().Perm())}
	}
	return nil
}

// modeError is a program that cannot be executed because of its type or mode (EACCES, as
// execve would say).
type modeError struct{ why string }

func (e *modeError) Error() string { return "permission denied (" + e.why + ")" }
func (e *modeError) Unwrap() error { return unix.EACCES }
