package confine

import (
	"errors"
	"fmt"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/openat2"
)

// PathRule grants access beneath one path. Read access is always granted; Write adds every
// right that creates, changes or removes files (but never makes device nodes); Exec adds execve.
type PathRule struct {
	Path  string
	Write bool
	Exec  bool
	// ListOnly grants only READ_DIR (Write and Exec are ignored): what fs_denied leaves on the
	// directories above a denied path, so they can still be listed but nothing beneath them
	// is readable through this rule.
	ListOnly bool `json:",omitempty"`
	// NoSymlinks says Path was resolved when the plan was made (it names the object itself):
	// PrepareLandlock refuses it if a symlink has appeared in it since, rather than putting the
	// rule on wherever that symlink leads.
	NoSymlinks bool `json:",omitempty"`
	// Beside says fs_denied's carving made the rule for an entry beside a denied path: such
	// an entry (another process's temporary file in /tmp) may be gone when the ruleset is
	// made, and its rule is then skipped (a rule less grants less; the supervisor mediates
	// the name if it comes back, notifsup.FSCarve).
	Beside bool `json:",omitempty"`
}

// LandlockConfig is what a container's Landlock domain allows. Every filesystem right the
// kernel knows is handled, so whatever no PathRule grants is denied.
type LandlockConfig struct {
	Paths []PathRule
	// DenyTCP handles TCP bind and connect with no port rule, so both are always denied.
	DenyTCP bool
	// ScopeSignal denies signals to processes outside the domain.
	ScopeSignal bool
	// ScopeAbstractUnix denies connecting to abstract unix sockets created outside the domain.
	ScopeAbstractUnix bool
	// BindTCP, when not empty, handles TCP bind and allows it only on these ports (ABI 4);
	// empty leaves bind unrestricted. ConnectTCP is the same for connect. DenyTCP wins over
	// both: it adds no port rule.
	BindTCP    []uint16 `json:",omitempty"`
	ConnectTCP []uint16 `json:",omitempty"`
	// Carved describes fs_denied's carving for the supervisor; Landlock itself ignores it.
	Carved *Carving `json:",omitempty"`
}

// Ruleset is a prepared Landlock ruleset, ready to be enforced on the calling thread.
type Ruleset struct {
	fd int
}

// Minimum ABI versions for the features a LandlockConfig can ask for.
const (
	abiRefer      = 2
	abiTruncate   = 3
	abiNetTCP     = 4
	abiIoctlDev   = 5
	abiScopes     = 6
	abiResolveUnx = 9
)

// readRights and the rights below are what a PathRule grants before trimming to the ABI.
const (
	readRights = ll.AccessFSReadFile | ll.AccessFSReadDir
	execRights = ll.AccessFSExecute
	// MAKE_CHAR and MAKE_BLOCK are absent on purpose: a device node is a way around every
	// path rule, so no container may create one even where it may write.
	writeRights = ll.AccessFSWriteFile | ll.AccessFSRemoveDir | ll.AccessFSRemoveFile |
		ll.AccessFSMakeDir | ll.AccessFSMakeReg | ll.AccessFSMakeSock | ll.AccessFSMakeFifo |
		ll.AccessFSMakeSym | ll.AccessFSRefer | ll.AccessFSTruncate | ll.AccessFSIoctlDev |
		ll.AccessFSResolveUnix
	// fileRights are the only rights the kernel accepts on a rule for a non-directory.
	fileRights = ll.AccessFSExecute | ll.AccessFSWriteFile | ll.AccessFSReadFile |
		ll.AccessFSTruncate | ll.AccessFSIoctlDev
)

// The Landlock syscalls, structs and constants come from go-landlock's syscall package, kept
// current by the Landlock maintainers. Only its per-thread calls are used (the confinement
// happens on one locked thread, then exec); the runtime is built with the landlocktsync tag,
// which leaves out the package's all-threads fallback and with it libcap's psx (a
// pthread_create wrapper in cgo builds).

// LandlockABI returns the kernel's Landlock ABI version, or -1 if Landlock is unavailable.
func LandlockABI() int {
	v, err := ll.LandlockGetABIVersion()
	if err != nil {
		return -1
	}
	return v
}

// SetNoNewPrivs sets no_new_privs on the calling thread only. A raw syscall keeps the Go
// runtime from running anything else on this thread in between.
func SetNoNewPrivs() error {
	_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", e)
	}
	return nil
}

// handledFS returns every filesystem right the given ABI knows.
func handledFS(abi int) uint64 {
	switch {
	case abi >= abiResolveUnx:
		return 1<<17 - 1
	case abi >= abiIoctlDev:
		return 1<<16 - 1
	case abi >= abiTruncate:
		return 1<<15 - 1
	case abi >= abiRefer:
		return 1<<14 - 1
	case abi >= 1:
		return 1<<13 - 1
	}
	return 0
}

// rulesetAttr builds the ruleset attributes for c, or says which feature the kernel lacks.
func rulesetAttr(c LandlockConfig, abi int) (ll.RulesetAttr, error) {
	attr := ll.RulesetAttr{HandledAccessFS: handledFS(abi)}
	if abi < 1 {
		return attr, errors.New("landlock: not available in this kernel")
	}
	if c.DenyTCP {
		if abi < abiNetTCP {
			return attr, needABI("TCP restriction", abiNetTCP, abi)
		}
		attr.HandledAccessNet = ll.AccessNetBindTCP | ll.AccessNetConnectTCP
	}
	if len(c.BindTCP)+len(c.ConnectTCP) > 0 {
		if abi < abiNetTCP {
			return attr, needABI("TCP port rules", abiNetTCP, abi)
		}
		attr.HandledAccessNet |= handledNet(c)
	}
	if c.ScopeSignal {
		if abi < abiScopes {
			return attr, needABI("signal scoping", abiScopes, abi)
		}
		attr.Scoped |= ll.ScopeSignal
	}
	if c.ScopeAbstractUnix {
		if abi < abiScopes {
			return attr, needABI("abstract unix socket scoping", abiScopes, abi)
		}
		attr.Scoped |= ll.ScopeAbstractUnixSocket
	}
	return attr, nil
}

func needABI(feature string, want, have int) error {
	return fmt.Errorf("landlock: %s needs ABI %d, kernel has %d", feature, want, have)
}

// PrepareLandlock builds the ruleset for c with the best ABI the kernel has. It opens every
// path now, so call it before any chroot: the rules hold inodes, not names.
func PrepareLandlock(c LandlockConfig) (*Ruleset, error) {
	abi := LandlockABI()
	attr, err := rulesetAttr(c, abi)
	if err != nil {
		return nil, err
	}
	// The struct's later fields (ABI 10's quiet masks) stay zero: older kernels accept a
	// larger struct whose unknown tail is zero.
	fd, err := ll.LandlockCreateRuleset(&attr, 0)
	if err != nil {
		return nil, fmt.Errorf("landlock_create_ruleset: %w", err)
	}
	r := &Ruleset{fd: fd}
	if err := r.addRules(c, attr.HandledAccessFS); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Ruleset) addRules(c LandlockConfig, handled uint64) error {
	for _, p := range c.Paths {
		if err := r.addPath(p, handled); err != nil {
			return err
		}
	}
	if c.DenyTCP {
		return nil // nothing handled may be allowed: no port rule
	}
	if err := r.addPorts(c.BindTCP, ll.AccessNetBindTCP); err != nil {
		return err
	}
	return r.addPorts(c.ConnectTCP, ll.AccessNetConnectTCP)
}

// handledNet is the TCP rights the port lists restrict: a list left empty stays unhandled,
// so that operation stays unrestricted (the seed's "empty = unrestricted").
func handledNet(c LandlockConfig) uint64 {
	var h uint64
	if len(c.BindTCP) > 0 {
		h |= ll.AccessNetBindTCP
	}
	if len(c.ConnectTCP) > 0 {
		h |= ll.AccessNetConnectTCP
	}
	return h
}

// addPorts adds one rule per port: Landlock has no port ranges.
func (r *Ruleset) addPorts(ports []uint16, access uint64) error {
	for _, p := range ports {
		attr := ll.NetPortAttr{AllowedAccess: access, Port: uint64(p)}
		if err := ll.LandlockAddNetPortRule(r.fd, &attr, 0); err != nil {
			return fmt.Errorf("landlock: add rule for TCP port %d: %w", p, err)
		}
	}
	return nil
}

// addPath adds one path-beneath rule, trimmed to what the ABI handles and to file rights
// when the path is not a directory (the kernel refuses directory rights there).
func (r *Ruleset) addPath(p PathRule, handled uint64) error {
	fd, err := openRulePath(p)
	if errors.Is(err, unix.ENOENT) && p.Beside {
		return nil
	}
	if err != nil {
		return fmt.Errorf("landlock: open %s: %w", p.Path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("landlock: stat %s: %w", p.Path, err)
	}
	access := pathRights(p) & handled
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		access &= fileRights
	}
	attr := ll.PathBeneathAttr{AllowedAccess: access, ParentFd: fd}
	if err := ll.LandlockAddPathBeneathRule(r.fd, &attr, 0); err != nil {
		return fmt.Errorf("landlock: add rule for %s: %w", p.Path, err)
	}
	return nil
}

// openRulePath opens the object a rule goes on. A NoSymlinks path is resolved with
// RESOLVE_NO_SYMLINKS: it was already resolved at plan time, so a symlink found now means the
// tree changed, and following it could put the rule on anything (a host path included).
func openRulePath(p PathRule) (int, error) {
	if !p.NoSymlinks {
		return unix.Open(p.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
	}
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS}
	return openat2.Open(unix.AT_FDCWD, p.Path, &how)
}

func pathRights(p PathRule) uint64 {
	if p.ListOnly {
		return ll.AccessFSReadDir
	}
	access := uint64(readRights)
	if p.Write {
		access |= writeRights
	}
	if p.Exec {
		access |= execRights
	}
	return access
}

// RestrictSelf enforces the ruleset on the calling thread only. The thread must already have
// no_new_privs set (or hold CAP_SYS_ADMIN); the caller must keep the goroutine locked to it.
func (r *Ruleset) RestrictSelf() error {
	if err := ll.LandlockRestrictSelf(r.fd, 0); err != nil {
		return fmt.Errorf("landlock_restrict_self: %w", err)
	}
	return nil
}

// Close releases the ruleset fd; an enforced domain stays in force.
func (r *Ruleset) Close() error {
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}
