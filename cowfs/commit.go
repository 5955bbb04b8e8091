package cowfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/openat2"
)

// ErrBranchConflict: another branch (or anyone else) changed, since this layer was made, a
// workdir path this layer changes too. Nothing of the layer lands; the layer is kept.
var ErrBranchConflict = errors.New("branch conflict: the workdir changed under this layer's paths since the layer was made")

// ConflictError names the paths of an ErrBranchConflict.
type ConflictError struct{ Paths []string }

func (e *ConflictError) Error() string {
	shown := make([]string, len(e.Paths))
	for i, p := range e.Paths {
		shown[i] = DisplayPath(p)
	}
	return fmt.Sprintf("%v: %s", ErrBranchConflict, strings.Join(shown, ", "))
}

// Is makes errors.Is(err, ErrBranchConflict) hold.
func (e *ConflictError) Is(t error) bool { return t == ErrBranchConflict }

// stagePrefix names a commit's staging directory in the workdir: on the workdir's filesystem
// so that each step of the apply is one rename.
const stagePrefix = ".sandlock-commit-"

const (
	journalFile = "journal"
	stageMark   = "sandlock-stage"
)

// Commit lands the layer's changes in its workdir, all or nothing: under an exclusive flock
// of the workdir, it checks for conflicts, copies the new contents into a staging directory
// in the workdir, syncs it, writes the journal (the list of steps) and syncs it: from there
// the commit is decided, and applying it is a series of idempotent renames that Recover
// finishes after a crash. A crash before the journal leaves a staging directory without one,
// which Recover removes: the workdir is as before. Then the layer is removed.
func (l *Layer) Commit(unmount Unmount) error { return l.commit(unmount, false) }

// CommitOverwrite is Commit without the conflict check: the layer's version of every path it
// changed wins over what others made of it since (`cow commit --force`, once the user has
// looked at the conflict).
func (l *Layer) CommitOverwrite(unmount Unmount) error { return l.commit(unmount, true) }

func (l *Layer) commit(unmount Unmount, overwrite bool) error {
	if err := l.Reachable(); err != nil {
		return err
	}
	if err := l.prepare(overwrite); err != nil {
		if ld, ok := err.(landed); ok {
			return ld.err
		}
		return notLanded{err}
	}
	return l.Remove(unmount)
}

// ErrNotLanded: a commit failed before its journal was written (a branch conflict, or the
// staging copy refused: a read-only or full workdir, a permission): the workdir is as it was
// and the layer whole, to be kept for `cow diff|commit|abort` rather than retried for ever.
var ErrNotLanded = errors.New("nothing of the layer landed")

// notLanded marks a failure of Commit before the journal; its message is the cause's.
type notLanded struct{ err error }

func (e notLanded) Error() string        { return e.err.Error() }
func (e notLanded) Unwrap() error        { return e.err }
func (e notLanded) Is(target error) bool { return target == ErrNotLanded }

// landed is a failure of the apply, after the journal: the commit is decided, and the next
// Recover finishes it (Commit returns the cause, never as ErrNotLanded).
type landed struct{ err error }

func (e landed) Error() string { return e.err.Error() }
func (e landed) Unwrap() error { return e.err }

// prepare is Commit up to and including the apply of the journal; a failure of the apply is a
// landed.
func (l *Layer) prepare(overwrite bool) error {
	wd, done, err := l.openWorkdir() // every step below goes through this one directory
	if err != nil {
		return err
	}
	defer done()
	err = l.prepareIn(wd, overwrite)
	if ld, ok := err.(landed); ok {
		return landed{workdirNamed{ld.err, wd, l.Workdir}}
	}
	if err != nil {
		return workdirNamed{err, wd, l.Workdir}
	}
	return nil
}

// workdirNamed is err with the workdir's path where it names it by the descriptor the commit
// goes through (/proc/self/fd/N: "mkdir /proc/self/fd/7/.sandlock-stage-ID: read-only file
// system" said nothing of which directory refused).
type workdirNamed struct {
	err          error
	fdPath, path string
}

func (e workdirNamed) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.fdPath, e.path)
}
func (e workdirNamed) Unwrap() error { return e.err }

func (l *Layer) prepareIn(wd string, overwrite bool) error {
	PauseForTest(commitWaitEnv)
	lock, err := lockDir(wd)
	if err != nil {
		return err
	}
	defer unix.Close(lock)
	if err := recoverLocked(wd); err != nil {
		return err
	}
	_, ops, err := diff(l.Upper(), wd)
	if err != nil {
		return fmt.Errorf("commit %s: %w", l.Dir, err)
	}
	if err := reservedNames(ops); err != nil {
		return fmt.Errorf("commit %s: %w", l.Dir, err)
	}
	if !overwrite {
		if err := l.conflicts(wd, ops); err != nil {
			return err
		}
	}
	if len(ops) == 0 {
		return nil
	}
	stage := filepath.Join(wd, stagePrefix+l.ID)
	if _, err := os.Lstat(stage); err == nil { // what is in the way is not ours to remove
		return fmt.Errorf("commit %s: %s: %w", l.Dir, stage, fs.ErrExist)
	}
	if err := l.stage(wd, stage, ops); err != nil {
		_ = removeAll(stage)
		return fmt.Errorf("commit %s: %w", l.Dir, err)
	}
	if err := apply(wd, stage); err != nil {
		return landed{fmt.Errorf("commit %s: %w (the journal in %s finishes it on the next run)", l.Dir, err, stage)}
	}
	return nil
}

// ErrReservedName: the layer made a name in the workdir that only a commit's staging
// directory may have (a forged one would be replayed by the next Recover).
var ErrReservedName = errors.New("the layer made a name reserved for the commit's staging (" + stagePrefix + "*)")

// reservedNames refuses a commit that would land a staging directory's name in the workdir.
func reservedNames(ops []op) error {
	for _, o := range ops {
		if strings.HasPrefix(strings.SplitN(o.Rel, "/", 2)[0], stagePrefix) {
			return fmt.Errorf("%w: %s", ErrReservedName, o.Rel)
		}
	}
	return nil
}

// conflicts: every path a step replaces or removes must be unchanged since the layer's birth
// (ctime, which no one can set, before Start); so must the directory of a new path.
func (l *Layer) conflicts(wd string, ops []op) error {
	var bad []string
	for _, o := range ops {
		if o.Meta {
			continue // a mode or owner: the directory's entries change its ctime, not its identity
		}
		p := filepath.Join(wd, o.Rel)
		st, ok := lstat(p)
		if !ok {
			if o.Remove {
				bad = append(bad, o.Rel) // removed by someone else meanwhile
			}
			continue
		}
		if st.Ctim.Nano() >= l.Start {
			bad = append(bad, o.Rel)
		} else if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			bad = append(bad, l.changedBeneath(wd, o.Rel)...)
		}
	}
	if len(bad) > 0 {
		return &ConflictError{Paths: bad}
	}
	return nil
}

// changedBeneath lists the entries under the workdir's directory rel changed since the
// layer's birth. A step that removes or replaces a directory removes everything under it: a
// change made there by another branch meanwhile (a file edited in place, which leaves the
// directory's own ctime alone) was lost without a conflict (TestEscapeCOWLostUpdate).
func (l *Layer) changedBeneath(wd, rel string) []string {
	var bad []string
	root := filepath.Join(wd, rel)
	_ = filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil || p == root {
			return nil
		}
		if st, ok := lstat(p); ok && st.Ctim.Nano() >= l.Start {
			bad = append(bad, filepath.Join(rel, relTo(root, p)))
		}
		return nil
	})
	return bad
}

func (l *Layer) stage(wd, stage string, ops []op) error {
	if err := os.Mkdir(stage, 0o700); err != nil {
		return err
	}
	// The mark that makes it a staging directory for Recover (a user's directory of the same
	// name is left alone).
	if err := os.WriteFile(filepath.Join(stage, stageMark), nil, 0o600); err != nil {
		return err
	}
	l.stageWait()
	cp := &copier{links: newLinkMap(), root: l.Upper(), ovlXattrs: "trusted.overlay."}
	if l.UserXattr {
		cp.ovlXattrs = "user.overlay."
	}
	var sst, ust unix.Stat_t
	if unix.Stat(stage, &sst) == nil && unix.Stat(l.Upper(), &ust) == nil && sst.Dev == ust.Dev {
		cp.canLink, cp.linkDev = true, ust.Dev
	}
	staged := map[string]string{} // a step's path to its staged file, for LinkTo
	for i, o := range ops {
		if o.Remove || o.Meta {
			continue
		}
		dst := filepath.Join(stage, strconv.Itoa(i))
		staged[o.Rel] = dst
		if o.LinkTo != "" {
			if err := os.Link(staged[o.LinkTo], dst); err != nil {
				return fmt.Errorf("stage %s as a link to %s: %w", o.Rel, o.LinkTo, err)
			}
			continue
		}
		var err error
		if o.Dir {
			from := ""
			if o.Lower != "" {
				from = filepath.Join(wd, o.Lower)
			}
			err = cp.mergeCopy(from, filepath.Join(l.Upper(), o.Rel), wd, dst)
		} else {
			err = cp.tree(filepath.Join(l.Upper(), o.Rel), dst)
		}
		if err != nil {
			return err
		}
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	fd, err := unix.Open(stage, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil { // every staged file at once
		return err
	}
	crashPoint("staged")
	if err := writeAtomic(filepath.Join(stage, journalFile), b); err != nil {
		return err
	}
	if err := unix.Fsync(fd); err != nil {
		return err
	}
	crashPoint("journal")
	return nil
}

// crashTestEnv names a point of the commit where the process kills itself (SIGKILL), for the
// tests of crash recovery (integration TestCOWCrashMidCommit): "staged" (before the journal)
// or "journal" (after it, before any rename).
const crashTestEnv = "SANDLOCK_COW_TEST_CRASH"

// stageWaitEnv names an entry the commit waits for in the upper directory (10 s at most) once
// its staging directory exists, for the test of a layer changed while it is committed
// (integration TestEscapeCOWCommitRace: a process that outlived the sandbox sees the staging
// directory appear, swaps a directory of the upper for a symlink, then makes the entry).
const stageWaitEnv = "SANDLOCK_COW_TEST_STAGE_WAIT"

// commitWaitEnv names a file whose name + ".waiting" the commit makes once it has opened and
// checked the workdir, then waits (10 s at most) for the file itself: for the test of a
// workdir's parent swapped during a commit (integration TestEscapeCOWCommitSwap).
const commitWaitEnv = "SANDLOCK_COW_TEST_COMMIT_WAIT"

// PauseForTest is the tests' hook of a runtime step (the commit's, lifecycle's view): with the
// environment variable env naming a file, it makes that name + ".waiting" and waits (10 s at
// most) for the file itself; without it, nothing.
func PauseForTest(env string) {
	f := os.Getenv(env)
	if f == "" {
		return
	}
	_ = os.WriteFile(f+".waiting", nil, 0o600)
	for range 1000 {
		if _, err := os.Stat(f); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *Layer) stageWait() {
	name := os.Getenv(stageWaitEnv)
	if name == "" {
		return
	}
	for range 1000 {
		if _, err := os.Lstat(filepath.Join(l.Upper(), name)); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func crashPoint(name string) {
	if os.Getenv(crashTestEnv) == name {
		_ = unix.Kill(os.Getpid(), unix.SIGKILL)
		select {} // the signal is on its way
	}
}

// apply runs a decided commit's journal: each step is a rename, redone or skipped after a
// crash (a staged entry that is gone was moved in place already).
//
// The journal and the staged entries are read back from the workdir, which others may write
// (the sandbox itself, through a later commit of names it made there, or anyone the host lets
// write the directory): a staging directory found by Recover may be forged. So every path is
// resolved from the workdir's descriptor one checked component at a time, beneath it, never
// through a symlink or into another mount (openBeneath), and each step is a renameat of single
// names between those descriptors: a journal can move the workdir's own entries, never reach
// past it.
func apply(workdir, stage string) error {
	wfd, err := unix.Open(workdir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(wfd)
	sfd, err := openBeneath(wfd, filepath.Base(stage), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("staging %s: %w", stage, err)
	}
	defer unix.Close(sfd)
	b, err := readBeneath(sfd, journalFile)
	if err != nil {
		return err
	}
	var ops []op
	if err := json.Unmarshal(b, &ops); err != nil {
		return fmt.Errorf("journal %s: %w", stage, err)
	}
	if err := unix.Mkdirat(sfd, "trash", 0o700); err != nil && err != unix.EEXIST {
		return err
	}
	tfd, err := openBeneath(sfd, "trash", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	for i, o := range ops {
		if err := applyOne(wfd, sfd, tfd, i, o); err != nil {
			return fmt.Errorf("journal %s, step %d (%s): %w", stage, i, o.Rel, err)
		}
	}
	if dfd, err := unix.Open(workdir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		_ = unix.Syncfs(dfd)
		unix.Close(dfd)
	}
	return removeAll(stage)
}

func applyOne(wfd, sfd, tfd, i int, o op) error {
	if !filepath.IsLocal(o.Rel) {
		return fmt.Errorf("journal: bad path %q", o.Rel)
	}
	name, parent := filepath.Base(o.Rel), filepath.Dir(o.Rel)
	staged := strconv.Itoa(i)
	if o.Meta {
		return applyMeta(wfd, o)
	}
	if o.Remove {
		pfd, err := openBeneath(wfd, parent, unix.O_PATH|unix.O_DIRECTORY)
		if err == unix.ENOENT {
			return nil // gone already
		}
		if err != nil {
			return err
		}
		defer unix.Close(pfd)
		if err := unix.Renameat(pfd, name, tfd, staged); err != nil && err != unix.ENOENT {
			return err
		}
		return nil
	}
	var sst unix.Stat_t
	if err := unix.Fstatat(sfd, staged, &sst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil // done before a crash
	}
	pfd, err := mkdirAllBeneath(wfd, parent)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	var tst unix.Stat_t
	if unix.Fstatat(pfd, name, &tst, unix.AT_SYMLINK_NOFOLLOW) == nil &&
		(tst.Mode&unix.S_IFMT == unix.S_IFDIR || sst.Mode&unix.S_IFMT == unix.S_IFDIR) {
		if err := unix.Renameat(pfd, name, tfd, staged); err != nil {
			return err
		}
	}
	return unix.Renameat(sfd, staged, pfd, name) // a file over a file: atomically
}

// applyMeta gives the directory o.Rel its mode (and owner), on a descriptor opened beneath the
// workdir (never through a symlink); gone meanwhile, there is nothing to give it to.
func applyMeta(wfd int, o op) error {
	fd, err := openBeneath(wfd, o.Rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if o.Chown {
		if err := unix.Fchown(fd, o.UID, o.GID); err != nil {
			return err
		}
	}
	return unix.Fchmod(fd, o.Mode)
}

// beneathOnly confines a resolution to the directory it starts from: no "..", absolute path,
// symlink or magic link, no other mount.
const beneathOnly = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// openBeneath opens rel beneath the directory dir (beneathOnly).
func openBeneath(dir int, rel string, flags int) (int, error) {
	return openat2.Open(dir, rel, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW), Resolve: beneathOnly})
}

// readBeneath reads the regular file name in the directory dir.
func readBeneath(dir int, name string) ([]byte, error) {
	fd, err := openBeneath(dir, name, unix.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return io.ReadAll(f)
}

// mkdirAllBeneath opens the directory rel beneath dir, making what is missing of it one
// component at a time (beneathOnly: a symlink on the way is refused, not followed).
func mkdirAllBeneath(dir int, rel string) (int, error) {
	cur, err := unix.Dup(dir)
	if err != nil {
		return -1, err
	}
	if rel == "." {
		return cur, nil
	}
	for _, c := range strings.Split(rel, "/") {
		next, err := openBeneath(cur, c, unix.O_PATH|unix.O_DIRECTORY)
		if err == unix.ENOENT {
			if err = unix.Mkdirat(cur, c, 0o755); err == nil || err == unix.EEXIST {
				next, err = openBeneath(cur, c, unix.O_PATH|unix.O_DIRECTORY)
			}
		}
		unix.Close(cur)
		if err != nil {
			return -1, fmt.Errorf("%s: %w", rel, err)
		}
		cur = next
	}
	return cur, nil
}

// lockDir takes the workdir's commit lock: an exclusive flock on the directory itself.
func lockDir(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("workdir %s: %w", dir, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("lock workdir %s: %w", dir, err)
	}
	return fd, nil
}

// Recover finishes or undoes the commits a crash interrupted in workdir: a staging directory
// with a journal is applied, one without is removed. Run before every layer is made over a
// workdir and by every commit.
func Recover(workdir string) error {
	lock, err := lockDir(workdir)
	if err != nil {
		return err
	}
	defer unix.Close(lock)
	return recoverLocked(workdir)
}

func recoverLocked(workdir string) error {
	ents, err := os.ReadDir(workdir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), stagePrefix) {
			continue
		}
		stage := filepath.Join(workdir, e.Name())
		if _, err := os.Lstat(filepath.Join(stage, stageMark)); err != nil {
			continue // not ours
		}
		if _, err := os.Stat(filepath.Join(stage, journalFile)); err == nil {
			errs = append(errs, apply(workdir, stage))
		} else {
			errs = append(errs, removeAll(stage))
		}
	}
	return errors.Join(errs...)
}
