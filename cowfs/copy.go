package cowfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// linkMap remembers the copies of multiply-linked files, so that hard links stay links.
type linkMap map[[2]uint64]string

func newLinkMap() linkMap { return linkMap{} }

// CopyTree copies src (a file, symlink, directory tree, or whiteout) to dst, which must not
// exist: contents, modes, ownership (when permitted), times, extended attributes with the
// overlay's own marks (opaque, redirect), and hard links among the copied files (through
// links). Whiteouts are kept as they are: the copy is still a layer.
func CopyTree(src, dst string, links linkMap) error {
	return (&copier{links: links, layer: true}).tree(src, dst)
}

// copier copies trees; with linkDev set, regular files on that device are hard-linked instead
// of copied (a commit's staging, when the layer is on the workdir's file system: no data
// moves, and the layer keeps its own name for each file until the commit is decided). layer:
// the copy is a layer (KeepOnDisk), with the overlay's private xattrs; otherwise it is for
// the workdir (a commit), which gets the user's xattrs and never the overlay's.
type copier struct {
	links   linkMap
	linkDev uint64
	canLink bool
	layer   bool
}

func (c *copier) tree(src, dst string) error {
	links := c.links
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		ents, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := c.tree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
	case unix.S_IFREG:
		if c.canLink && st.Dev == c.linkDev {
			err := os.Link(src, dst) // the same inode: contents, mode, owner, times, links, xattrs
			if err == nil {
				stripOverlayXattrs(dst) // the inode leaves the layer: none of its marks with it
			}
			if !errors.Is(err, unix.EXDEV) {
				return err
			}
			c.canLink = false // the same file system through another mount: copies
		}
		key := [2]uint64{st.Dev, st.Ino}
		if prev, ok := links[key]; ok && st.Nlink > 1 {
			return os.Link(prev, dst)
		}
		if err := CopyFile(src, dst); err != nil {
			return err
		}
		if st.Nlink > 1 {
			links[key] = dst
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	default: // whiteouts, fifos, devices
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
	}
	if err := copyMeta(dst, &st); err != nil {
		return err
	}
	copyXattrs(src, dst, c.layer) // after chown, which clears security.capability
	return nil
}

// CopyFile copies the contents of the regular file src into a new file dst (mode 0600, which
// must not exist); the caller gives it its metadata.
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil { // copy_file_range/sendfile underneath
		out.Close()
		return err
	}
	return out.Close()
}

// copyMeta gives dst src's ownership (root only; otherwise it stays the caller's), mode and
// times.
func copyMeta(dst string, st *unix.Stat_t) error {
	_ = unix.Lchown(dst, int(st.Uid), int(st.Gid))
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// copyXattrs copies src's extended attributes to dst (symlinks included), best effort: the
// user's (user.*, ACLs, security.* where permitted) always, the overlay's own marks
// (trusted.overlay.*, user.overlay.*: opaque, redirect, origin) only into a layer.
func copyXattrs(src, dst string, layer bool) {
	for _, name := range xattrNames(src) {
		if !layer && isOverlayXattr(name) {
			continue
		}
		if v, err := lgetxattr(src, name); err == nil {
			_ = unix.Lsetxattr(dst, name, v, 0)
		}
	}
}

// stripOverlayXattrs removes the overlay's marks from p, a file leaving the layer.
func stripOverlayXattrs(p string) {
	for _, name := range xattrNames(p) {
		if isOverlayXattr(name) {
			_ = unix.Lremovexattr(p, name)
		}
	}
}

func isOverlayXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

// xattrNames lists p's extended attributes (none when they cannot be listed).
func xattrNames(p string) []string {
	buf := make([]byte, 1024)
	for {
		n, err := unix.Llistxattr(p, buf)
		if err == unix.ERANGE {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if err != nil || n <= 0 {
			return nil
		}
		var names []string
		for _, b := range bytes.Split(buf[:n], []byte{0}) {
			if len(b) > 0 {
				names = append(names, string(b))
			}
		}
		return names
	}
}

func lgetxattr(p, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, name, buf)
		if err == unix.ERANGE {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// mergeCopy copies a merged directory (a renamed one: lowerDir under upperDir) to dst as
// overlayfs shows it, without the overlay's own marks.
func (c *copier) mergeCopy(lowerDir, upperDir, lowerRoot, dst string) error {
	m, err := merged(lowerDir, upperDir, lowerRoot)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	for n, src := range m {
		d := filepath.Join(dst, n)
		switch {
		case src.upper != "" && isDirPath(src.upper):
			err = c.mergeCopy(src.lower, src.upper, lowerRoot, d)
		case src.upper != "":
			err = c.tree(src.upper, d)
		default:
			err = (&copier{links: c.links}).tree(src.lower, d) // the workdir's own files: copied
		}
		if err != nil {
			return err
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(upperDir, &st); err != nil {
		return err
	}
	if err := copyMeta(dst, &st); err != nil {
		return err
	}
	copyXattrs(upperDir, dst, false)
	return nil
}
