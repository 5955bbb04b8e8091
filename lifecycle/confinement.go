package lifecycle

import (
	"os"
	"path/filepath"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandlock/sandlock-runtime/confine"
	"github.com/sandlock/sandlock-runtime/spec"
)

// landlockFor derives the container's Landlock rules from its root and mounts: the rootfs is
// readable and executable (writable unless root.readonly), and every mount that is not read-only
// is writable. Landlock rules cover everything beneath a path, across mount points, so one rule on
// the rootfs covers /proc, /dev and the rest; a read-only mount stays read-only by its mount
// flags even under a writable rule. Nothing outside the rootfs is reachable, whatever path leads
// there (/proc/<host pid>/root, a leaked fd's /proc/self/fd link): Landlock checks the object
// reached, not the spelling.
func landlockFor(rootfs string, s *specs.Spec, iso spec.Isolation) confine.LandlockConfig {
	c := confine.LandlockConfig{
		DenyTCP:           iso.NoNetwork,
		ScopeSignal:       iso.IsolateSignals,
		ScopeAbstractUnix: iso.IsolateIPC || iso.NoNetwork, // abstract sockets live in the network namespace
	}
	rootRW := s.Root == nil || !s.Root.Readonly
	c.Paths = append(c.Paths, confine.PathRule{Path: rootfs, Write: rootRW, Exec: true})
	if rootRW {
		return c
	}
	for _, m := range s.Mounts {
		if slices.Contains(m.Options, "ro") {
			continue
		}
		dest := filepath.Join(rootfs, m.Destination)
		if rootfs == "/" && dest == "/dev" {
			// Host mode uses the host's /dev: only the harmless devices become writable,
			// never the disks.
			c.Paths = append(c.Paths, hostDevRules()...)
			continue
		}
		c.Paths = append(c.Paths, confine.PathRule{Path: dest, Write: true, Exec: true})
	}
	return c
}

func hostDevRules() []confine.PathRule {
	var rs []confine.PathRule
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm"} {
		if _, err := os.Stat("/dev/" + n); err == nil {
			rs = append(rs, confine.PathRule{Path: "/dev/" + n, Write: true})
		}
	}
	return rs
}
