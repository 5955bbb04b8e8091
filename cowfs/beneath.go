package cowfs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Reading a tree that may change under the reader. The layer's upper directory is written by
// the sandbox through its overlay, and a process of a user's sandbox (which has no cgroup to
// be killed by) can outlive the run and go on writing it while the commit reads it: a
// directory it swapped for a symlink between the commit's lstat and its readdir, open or link
// by path made the runtime copy, or hard-link, whatever the symlink named (a file the sandbox
// could not read) into the workdir (TestEscapeCOWCommitRace). So every read of the layer (and
// of the workdir, for symmetry) resolves the path below its root beneath that root, one
// component at a time, never through a symlink, magic link or another mount (beneathOnly),
// and acts on the descriptor it got: what is read is always an entry of the tree.

// openIn opens p, a path under the directory root (p = root joined with names), resolving
// what follows root beneath it; flags are added to O_NOFOLLOW|O_CLOEXEC. An error names p.
func openIn(root, p string, flags int) (int, error) {
	rel, err := filepath.Rel(root, p)
	if err != nil || !filepath.IsLocal(rel) && rel != "." {
		return -1, fmt.Errorf("%s is not beneath %s", p, root)
	}
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rfd)
	fd, err := openBeneath(rfd, rel, flags)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return fd, nil
}

// lstatIn is lstat of p beneath root.
func lstatIn(root, p string) (*unix.Stat_t, bool) {
	st, err := lstatInErr(root, p)
	return st, err == nil
}

func lstatInErr(root, p string) (*unix.Stat_t, error) {
	fd, err := openIn(root, p, unix.O_PATH)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func isDirIn(root, p string) bool {
	st, ok := lstatIn(root, p)
	return ok && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// readDirIn lists the directory p beneath root, sorted by name (as os.ReadDir).
func readDirIn(root, p string) ([]os.DirEntry, error) {
	fd, err := openIn(root, p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// dirXattrIn reads the extended attribute name of the directory p beneath root ("" for none,
// or when p is not a directory: the overlay's marks are on directories only).
func dirXattrIn(root, p, name string) string {
	fd, err := openIn(root, p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, err := unix.Fgetxattr(fd, name, buf)
	if err != nil || n <= 0 {
		return ""
	}
	return string(buf[:n])
}

// linkIn hard-links the file p beneath root at dst (through its descriptor: the very inode
// resolved, whatever p names by then).
func linkIn(root, p, dst string) error {
	fd, err := openIn(root, p, unix.O_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW)
}

// readlinkIn is the target of the symlink p beneath root.
func readlinkIn(root, p string) (string, error) {
	fd, err := openIn(root, p, unix.O_PATH)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// copyFileIn copies the regular file p beneath root into a new file dst (CopyFile). O_NONBLOCK:
// a fifo swapped in does not block the open (and is refused, not being a regular file).
func copyFileIn(root, p, dst string) error {
	fd, err := openIn(root, p, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return err
	}
	in := os.NewFile(uintptr(fd), p)
	defer in.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("copy %s: not a regular file any more", p)
	}
	return copyInto(in, dst)
}
