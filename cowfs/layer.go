package cowfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Actions for on_exit and on_error (the seed's BranchAction).
const (
	Commit = "COMMIT"
	Abort  = "ABORT"
	Keep   = "KEEP"
)

// Meta is a layer's record, meta.json in its directory: written before anything of the layer
// exists, so that whoever finds the directory (delete --force after a crash, `cow`) knows
// what it belongs to and what to do with it.
type Meta struct {
	ID      string `json:"id"`
	Workdir string `json:"workdir"` // the lower directory, a host path
	// WorkdirDev and WorkdirIno identify the lower directory: a commit or a diff refuses a
	// path that names another directory by then (ErrWorkdirGone), such as the empty mount
	// point left where a container's rootfs was unmounted.
	WorkdirDev uint64 `json:"workdirDev,omitempty"`
	WorkdirIno uint64 `json:"workdirIno,omitempty"`
	// Start is the layer's birth (ns since the epoch, as the kernel's file timestamps): a
	// workdir entry whose ctime is not before it was changed by someone else meanwhile.
	Start   int64  `json:"start"`
	OnExit  string `json:"onExit"`
	OnError string `json:"onError"`
	DryRun  bool   `json:"dryRun,omitempty"`
	// Tmpfs: the upper and work directories live on a tmpfs of MaxDisk bytes mounted at
	// <dir>/fs (max_disk); otherwise in <dir> itself.
	Tmpfs   bool  `json:"tmpfs,omitempty"`
	MaxDisk int64 `json:"maxDisk,omitempty"`
	// UserXattr: the overlay runs in a user namespace (unprivileged) and marks opaque
	// directories with user.overlay.* instead of trusted.overlay.*.
	UserXattr bool `json:"userXattr,omitempty"`
	// UserTmpfs: the tmpfs of max_disk is mounted in the sandbox's own namespaces (an
	// unprivileged caller), reachable only through a descriptor the runtime holds (FSPath):
	// after a crash of the runtime it is gone with the sandbox.
	UserTmpfs bool `json:"userTmpfs,omitempty"`
}

// Layer is one copy-on-write layer on disk.
type Layer struct {
	Dir string
	Meta
	// FSPath reaches a UserTmpfs layer's tmpfs (/proc/self/fd/N of a descriptor on its root);
	// "" when this process holds none.
	FSPath string `json:"-"`
}

// ErrLost: the layer lived on a tmpfs of the sandbox's own namespaces and nobody holds it any
// more (the runtime was killed): its changes are gone.
var ErrLost = errors.New("the layer's tmpfs (max_disk, unprivileged) went with the sandbox: its changes are lost")

const metaFile = "meta.json"

// Create makes the layer's directory dir (which must not exist) with its record. The upper
// and work directories are made by Populate, once a tmpfs is mounted if there is one.
func Create(dir string, m Meta) (*Layer, error) {
	if m.Workdir == "" || !filepath.IsAbs(m.Workdir) {
		return nil, fmt.Errorf("cow layer: workdir %q is not an absolute path", m.Workdir)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("cow layer: %w", err)
	}
	var wst unix.Stat_t
	if err := unix.Stat(m.Workdir, &wst); err != nil {
		return nil, fmt.Errorf("cow layer: workdir: %w", err)
	}
	m.WorkdirDev, m.WorkdirIno = wst.Dev, wst.Ino
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cow layer: %w", err)
	}
	l := &Layer{Dir: dir, Meta: m}
	if err := l.save(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	start, err := birth(filepath.Join(dir, metaFile))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	l.Start = start
	return l, l.save()
}

// birth is the layer's start by the clock of file timestamps, which is coarse (a few ms): the
// first ctime of marker strictly after the one it had when the layer was made. A workdir entry
// whose ctime is not before it changed after the layer began; one changed in the tick the layer
// was made in has an earlier ctime, and was there before the sandbox could see it.
func birth(marker string) (int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(marker, &st); err != nil {
		return 0, err
	}
	made := st.Ctim.Nano()
	for range 1000 {
		if err := unix.UtimesNano(marker, nil); err != nil {
			return 0, err
		}
		if err := unix.Stat(marker, &st); err != nil {
			return 0, err
		}
		if st.Ctim.Nano() > made {
			return st.Ctim.Nano(), nil
		}
		time.Sleep(time.Millisecond)
	}
	return time.Now().UnixNano(), nil
}

// Open reads the layer in dir.
func Open(dir string) (*Layer, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a cow layer (no %s): %w", dir, metaFile, err)
		}
		return nil, err
	}
	l := &Layer{Dir: dir}
	if err := json.Unmarshal(b, &l.Meta); err != nil {
		return nil, fmt.Errorf("cow layer %s: %s: %w", dir, metaFile, err)
	}
	return l, nil
}

func (l *Layer) save() error {
	b, err := json.Marshal(l.Meta)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(l.Dir, metaFile), b)
}

// FSDir is where the tmpfs of max_disk is mounted.
func (l *Layer) FSDir() string { return filepath.Join(l.Dir, "fs") }

func (l *Layer) base() string {
	switch {
	case l.UserTmpfs && l.FSPath != "":
		return l.FSPath
	case l.Tmpfs:
		return l.FSDir()
	}
	return l.Dir
}

// ErrWorkdirGone: the workdir's path no longer names the directory the layer was made over.
var ErrWorkdirGone = errors.New("the workdir's path names another directory than the one the layer was made over")

// openWorkdir opens the layer's workdir once and checks that descriptor is the directory the
// layer was made over; the caller reaches the workdir through the path returned
// (/proc/self/fd/N) until done. A commit that went by the workdir's path for each step (its
// check, its lock, its staging, its renames) followed a parent swapped for a symlink after the
// check, by anyone who can write a parent of the workdir, and staged and landed the layer in
// the directory the symlink named, as root (TestEscapeCOWCommitSwap).
func (l *Layer) openWorkdir() (string, func(), error) {
	fd, err := unix.Open(l.Workdir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("workdir %s: %w", l.Workdir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return "", nil, fmt.Errorf("workdir %s: %w", l.Workdir, err)
	}
	if l.WorkdirIno != 0 && (st.Dev != l.WorkdirDev || st.Ino != l.WorkdirIno) {
		unix.Close(fd)
		return "", nil, fmt.Errorf("workdir %s: %w", l.Workdir, ErrWorkdirGone)
	}
	return "/proc/self/fd/" + strconv.Itoa(fd), func() { unix.Close(fd) }, nil
}

// Reachable reports whether the layer's content can be read: a UserTmpfs layer only through
// FSPath.
func (l *Layer) Reachable() error {
	if l.UserTmpfs && l.FSPath == "" {
		return ErrLost
	}
	return nil
}

// Upper is the overlay's upper directory: what the sandbox wrote.
func (l *Layer) Upper() string { return filepath.Join(l.base(), "upper") }

// Work is the overlay's work directory.
func (l *Layer) Work() string { return filepath.Join(l.base(), "work") }

// Populate makes the upper and work directories (after the tmpfs, if any, is mounted).
func (l *Layer) Populate() error {
	for _, d := range []string{l.Upper(), l.Work()} {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cow layer: %w", err)
		}
	}
	return nil
}

// Action is what to do with the layer for a run that ended with ok (exit code 0) or not
// (non-zero, killed, or unknown after a crash). A dry run always aborts.
func (l *Layer) Action(ok bool) string {
	switch {
	case l.DryRun:
		return Abort
	case ok:
		return orDefault(l.OnExit, Commit)
	default:
		return orDefault(l.OnError, Abort)
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Unmount is the tmpfs' undo; lifecycle passes its own (which records nothing); nil means
// the layer has no mount to undo.
type Unmount func(path string) error

// Remove deletes the layer (Abort). The overlay's work directory holds a mode-0 directory
// that an unprivileged owner must open up first.
func (l *Layer) Remove(unmount Unmount) error {
	if l.Tmpfs && !l.UserTmpfs && unmount != nil {
		if err := unmount(l.FSDir()); err != nil {
			return err
		}
	}
	return removeAll(l.Dir)
}

// KeepOnDisk moves a tmpfs layer's upper directory to the layer's own directory on disk
// before the tmpfs goes, so that a kept layer outlives the sandbox.
func (l *Layer) KeepOnDisk(unmount Unmount) error {
	if !l.Tmpfs {
		return nil
	}
	if err := l.Reachable(); err != nil {
		return err
	}
	dst := filepath.Join(l.Dir, "upper")
	_ = removeAll(dst + ".tmp")
	// Every xattr: the copy is still a layer (a renamed directory's redirect, opaque marks),
	// and one without its redirects committed a renamed directory empty.
	cp := &copier{links: newLinkMap(), root: l.Upper(), allXattrs: true}
	if err := cp.tree(l.Upper(), dst+".tmp"); err != nil {
		return fmt.Errorf("keep cow layer: %w", err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		return err
	}
	if unmount != nil && !l.UserTmpfs {
		if err := unmount(l.FSDir()); err != nil {
			return err
		}
	}
	_ = os.Remove(l.FSDir())
	l.Tmpfs, l.UserTmpfs, l.FSPath = false, false, ""
	return l.save()
}

// removeAll removes dir like os.RemoveAll, first giving the owner back the search and write
// permission on directories that lack it (overlayfs' work/work is mode 0).
func removeAll(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			// Through a descriptor opened beneath dir without a symlink: a staging directory
			// in a workdir others write may have an entry swapped for a symlink meanwhile, and
			// a chmod by path would follow it (as root).
			if fd, err := openIn(dir, p, unix.O_PATH|unix.O_DIRECTORY); err == nil {
				_ = unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), 0o700)
				unix.Close(fd)
			}
		}
		return nil
	})
	_ = os.Chmod(dir, 0o700)
	return os.RemoveAll(dir)
}

// writeAtomic writes b to path through a synced temporary file and a rename.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
