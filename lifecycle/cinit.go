package lifecycle

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/confine"
)

// The C init (confine/sl_init.c) is init without the Go runtime: the runtime re-executed
// with a command word that a constructor recognises before Go starts. create prepares all it
// can (the packed process image, the Landlock ruleset with its rule paths opened, the compiled
// programs) so that the process only confines itself and execs: one exec and a dynamic link
// instead of a Go start on every container's critical path (docs/performance.md). What only Go
// does keeps the Go init (init.go).

// useCInit: nothing of this container needs the Go init. startContainer hooks run programs
// with the OCI state on stdin, the privileged user namespace is set up by Go's clone,
// cpu_cores and num_cpus set the affinity with Go's CPU sets, and the copy-on-write workdir is
// put in init's own view (cow.go) before the Landlock rules are opened there.
func (cr *creation) useCInit() bool {
	if cr.policy.IsPrivileged() || len(cr.policy.CPUCores) > 0 || cr.policy.VisibleCPUs() > 0 || cr.cow != nil {
		return false
	}
	return cr.spec.Hooks == nil || len(cr.spec.Hooks.StartContainer) == 0
}

// cInitArgs appends files to ExtraFiles and returns their fd numbers in the child, -1 for a
// nil one: the C init's positional arguments.
func cInitArgs(cmd *exec.Cmd, files ...*os.File) []string {
	args := []string{"sandlock-runtime", confine.CInitCommand}
	for _, f := range files {
		fd := -1
		if f != nil {
			cmd.ExtraFiles = append(cmd.ExtraFiles, f)
			fd = 2 + len(cmd.ExtraFiles)
		}
		args = append(args, strconv.Itoa(fd))
	}
	return args
}

// sendCInit does init's preparations that need no confinement (the Go init's first steps,
// with the same errors) and sends the C init its configuration with the ruleset fd.
func (cr *creation) sendCInit(ic initConfig, initC *os.File) error {
	img, err := imageFor(ic.Process)
	if err != nil {
		return stepErr(StepConfig, err)
	}
	img.Setsid = img.SetCtty || !ic.KeepSession
	img.Rlimits = withoutRlimits(img.Rlimits, ic.Plan.Process)
	if err := checkRlimits(img.Rlimits); err != nil {
		return stepErr(StepConfig, err)
	}
	img.Filters = ic.ExecFilters
	packed, err := img.Pack()
	if err != nil {
		return stepErr(StepConfig, err)
	}
	ll := ic.Plan.Landlock
	ll.Paths = cr.ownStdioPaths(ll.Paths)
	t := time.Now()
	rs, err := confine.PrepareLandlock(ll)
	if err != nil {
		return stepErr(StepLandlock, err)
	}
	cr.log.Debugf("create %s: processes: Landlock ruleset of %d rules made in %s", cr.cont.ID(), len(ll.Paths), time.Since(t))
	defer rs.Close()
	ci := confine.CInit{
		Rootfs: ic.Rootfs, Cwd: img.Cwd, Program: img.Path, PathEnv: envPath(img.Env),
		OOMScoreAdj: ic.Process.OOMScoreAdj, NoNewPrivs: ic.Process.NoNewPrivileges,
		Settings: ic.Plan.Process, PreserveFDs: ic.PreserveFDs, Seccomp: ic.Seccomp, Image: packed,
	}
	b, err := ci.Pack()
	if err != nil {
		return stepErr(StepConfig, err)
	}
	if err := unix.Sendmsg(int(initC.Fd()), b, unix.UnixRights(rs.FD()), nil, 0); err != nil {
		return fmt.Errorf("init config: %w", err)
	}
	return nil
}

// ownStdioPaths: the direct mode's terminal rules name init's own stdio (/proc/self/fd/N,
// N < 3); the ruleset is made here, where those files are cr.stdio's fds.
func (cr *creation) ownStdioPaths(rules []confine.PathRule) []confine.PathRule {
	out := make([]confine.PathRule, len(rules))
	for i, r := range rules {
		if n, ok := strings.CutPrefix(r.Path, "/proc/self/fd/"); ok {
			if fd, err := strconv.Atoi(n); err == nil && fd >= 0 && fd < 3 && cr.stdio[fd] != nil {
				r.Path = "/proc/self/fd/" + strconv.Itoa(int(cr.stdio[fd].Fd()))
			}
		}
		out[i] = r
	}
	return out
}

// envPath is the PATH lookPath uses: the last PATH= entry, "" for the default.
func envPath(env []string) string {
	p := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			p = v
		}
	}
	return p
}
