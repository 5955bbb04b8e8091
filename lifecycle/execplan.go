package lifecycle

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/spec"
)

// execImage is the supervisor's half of exec: it turns the process a client asked for into
// the packed image the zygote applies. What confines the process comes from the state dir
// that create wrote, never from the client: the exec-time seccomp programs (seccomp.json), the
// policy's rlimits, and the container's bounding set as the ceiling of every capability set.
// The client chooses only what runc exec lets it choose (args, env, cwd, user, terminal,
// capabilities within that ceiling).
func execImage(stateDir string, p *specs.Process) ([]byte, error) {
	if p == nil {
		return nil, errors.New("spawn: no process")
	}
	c, err := Load(filepath.Dir(stateDir), filepath.Base(stateDir))
	if err != nil {
		return nil, err
	}
	if c.State == nil {
		return nil, errors.New("cannot exec in a container that is still being created")
	}
	img, err := imageFor(p)
	if err != nil {
		return nil, err
	}
	var caps *specs.LinuxCapabilities
	if c.State.ProcessConfig != nil {
		caps = c.State.ProcessConfig.Capabilities
	}
	own, err := capsFor(caps)
	if err != nil {
		return nil, err
	}
	if err := withinBounding(img.Caps, own.Bounding); err != nil {
		return nil, err
	}
	if img.Filters, err = c.execFilters(); err != nil {
		return nil, fmt.Errorf("seccomp programs of %s: %w", c.ID(), err)
	}
	img.Rlimits = withoutRlimits(img.Rlimits, confine.ProcessSettings{Rlimits: c.State.PolicyRlimits})
	return img.Pack()
}

// withinBounding refuses capabilities outside the container's bounding set, in any set: no
// process of the container can ever hold one (its bounding set is dropped before exec), so an
// exec must not either. Refused rather than clamped: a silently smaller set would make
// `exec --cap` and podman's `exec --privileged` look applied when they are not.
func withinBounding(c confine.Caps, bounding uint64) error {
	extra := (c.Bounding | c.Effective | c.Permitted | c.Inheritable | c.Ambient) &^ bounding
	if extra == 0 {
		return nil
	}
	var names []string
	for i, n := range spec.CapNames() {
		if extra>>uint(i)&1 != 0 {
			names = append(names, n)
		}
	}
	return fmt.Errorf("exec: %s not in the container's bounding set: an exec'd process may have the container's capabilities or fewer",
		strings.Join(names, ", "))
}
