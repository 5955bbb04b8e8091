package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandlock/sandlock-runtime/internal/openat2"
	"github.com/sandlock/sandlock-runtime/spec"
)

// hostSpec is the in-memory OCI config of the direct mode: the host's own root ("/", writable,
// no mounts, no namespaces), the command with the caller's environment, directory, uid and gid,
// and no capabilities unless the policy asks for privileged. The policy, passed beside it, says
// what to confine. A chroot in the policy becomes root.path: the runtime chroots into it.
func hostSpec(p spec.Policy, proc *specs.Process) (*specs.Spec, error) {
	root := "/"
	if c := p.ChrootPath(); c != "" {
		if os.Geteuid() != 0 {
			return nil, needsRoot("chroot", "chroot(2) needs CAP_SYS_CHROOT")
		}
		root, proc.Cwd = c, "/"
		if wd := p.WorkdirPath(); wd != "" {
			proc.Cwd = wd // a path in the chroot, where the command starts as without one
		}
	}
	if p.IsPrivileged() {
		privileged(proc)
	}
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: root},
		Process: proc,
		Linux:   &specs.Linux{},
	}, nil
}

// directPolicy is the policy a direct-mode command runs under, with its paths as users write
// them: relative paths are resolved against the command's working directory (its / under a
// chroot), and "/" is the root itself.
//
// A container's default is its whole root, which is the image's; here the root is the host's,
// so with neither fs_readable nor fs_writable the default is the whole root read-only (as
// bwrap --ro-bind / /), plus the harmless devices (/dev/null, ...) the allowlist always keeps
// writable. Writing anywhere needs an fs_writable rule.
func directPolicy(p spec.Policy, cwd string) spec.Policy {
	p = p.Clone()
	if p.ChrootPath() != "" {
		cwd = "/"
	}
	p.FSReadable = absPaths(p.FSReadable, cwd)
	p.FSWritable = absPaths(p.FSWritable, cwd)
	p.FSDenied = absPaths(p.FSDenied, cwd)
	if len(p.FSReadable)+len(p.FSWritable) == 0 {
		p.FSReadable = []string{"/"}
	}
	if wd := p.WorkdirPath(); wd != "" && !filepath.IsAbs(wd) {
		wd = filepath.Join(cwd, wd)
		p.Workdir = &wd
	}
	return p
}

func absPaths(paths []string, cwd string) []string {
	out := slices.Clone(paths)
	for i, path := range out {
		if path != "" && !filepath.IsAbs(path) {
			out[i] = filepath.Join(cwd, path)
		}
	}
	return out
}

// checkPathsExist refuses an fs_readable or fs_writable path that does not exist under root.
// An image may lack a path a shared policy lists, so containers skip it; here the paths are
// the user's own, and a typo skipped in silence would surface later as a bare EACCES.
func checkPathsExist(p spec.Policy, root string) error {
	if c := p.ChrootPath(); c != "" {
		// The root itself first: every path below would fail with its error, each blamed on
		// its own key (fs_readable's default "/" included) instead of chroot.
		fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &spec.PolicyError{Key: "chroot", Value: c, Reason: err.Error()}
		}
		unix.Close(fd)
	}
	var errs []error
	for _, l := range []struct {
		key   string
		paths []string
	}{{"fs_readable", p.FSReadable}, {"fs_writable", p.FSWritable}} {
		for _, path := range l.paths {
			if err := existsIn(root, path); err != nil {
				errs = append(errs, &spec.PolicyError{Key: l.key, Value: path, Reason: err.Error()})
			}
		}
	}
	return errors.Join(errs...)
}

// existsIn resolves path inside root as the command will see it (under a chroot, symlinks
// stay inside it).
func existsIn(root, path string) error {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rfd)
	rel := strings.TrimPrefix(path, "/")
	if rel == "" {
		rel = "."
	}
	fd, err := openat2.Open(rfd, rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// privileged runs the command as uid 0 with every capability, inside the user namespace the
// runtime makes for the policy field privileged: root there, nobody on the host.
func privileged(proc *specs.Process) {
	all := spec.CapNames()
	proc.User = specs.User{}
	proc.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
}

func hostProcess(o *options, args []string, workdir string) (*specs.Process, error) {
	caps, err := hostCaps()
	if err != nil {
		return nil, err
	}
	cwd := o.dir
	if cwd == "" && workdir != "" {
		cwd = workdir // the seed's workdir is the command's working directory too
	}
	if cwd == "" {
		if cwd, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	env := o.env
	if env == nil {
		env = os.Environ()
	}
	return &specs.Process{
		Args: args, Env: env, Cwd: cwd, Capabilities: caps,
		User:            specs.User{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), AdditionalGids: callerGroups()},
		NoNewPrivileges: true,
	}, nil
}

// callerGroups are the caller's supplementary groups, which the command keeps: an ordinary
// login user has some, and cannot drop them without CAP_SETGID. Root's are kept too, as any
// host command started by root would. Sorted, as the kernel lists them.
func callerGroups() []uint32 {
	gs, _ := os.Getgroups()
	out := make([]uint32, 0, len(gs))
	for _, g := range gs {
		out = append(out, uint32(g))
	}
	slices.Sort(out)
	return out
}

// hostCaps gives the command no capability at all (privileged is handled apart). The bounding set is left alone for a
// caller that cannot change it (dropping needs CAP_SETPCAP), which is harmless: with
// no_new_privs nothing can raise a capability.
func hostCaps() (*specs.LinuxCapabilities, error) {
	if os.Geteuid() == 0 {
		return &specs.LinuxCapabilities{}, nil
	}
	bnd, err := ownCaps("CapBnd")
	return &specs.LinuxCapabilities{Bounding: bnd}, err
}

// ownCaps reads one capability set of this process from /proc/self/status, as names.
func ownCaps(field string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return nil, err
			}
			return capNames(mask), nil
		}
	}
	return nil, errors.New("/proc/self/status: no " + field)
}

func capNames(mask uint64) []string {
	var names []string
	for i, n := range spec.CapNames() { // in capability-number order
		if mask>>i&1 != 0 {
			names = append(names, n)
		}
	}
	return names
}

// needsRoot is the PolicyError of a field an unprivileged caller cannot have.
func needsRoot(key, why string) error {
	return newError(kindPolicy, "start", &spec.PolicyError{Key: key, Value: "set", Reason: "needs root: " + why})
}
