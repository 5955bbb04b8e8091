package cowfs

import (
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

// CopyInto copies every entry of directory src into directory dst (which exists) as CopyTree
// does, hard links among them kept, and with every extended attribute (the overlay's
// redirects, the program's own): a checkpoint's copy of a layer's upper directory, and a
// restore's seeding of a new layer from it. A device node (other than a whiteout) is refused:
// a restore must not give the sandbox a device an image names.
func CopyInto(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	c := &copier{links: newLinkMap(), allXattrs: true}
	for _, e := range ents {
		if err := c.tree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	c.xattrs(src, dst) // an opaque upper root
	return nil
}

// CopyTree copies src (a file, symlink, directory tree, or whiteout) to dst, which must not
// exist: contents, modes, ownership (when permitted), times, the overlay's opaque marks, and
// hard links among the copied files (through links). Whiteouts are kept as they are.
func CopyTree(src, dst string, links linkMap) error {
	return (&copier{links: links}).tree(src, dst)
}

// copier copies trees; with linkDev set, regular files on that device are hard-linked instead
// of copied (a commit's staging, when the layer is on the workdir's file system: no data
// moves, and the layer keeps its own name for each file until the commit is decided).
type copier struct {
	links     linkMap
	linkDev   uint64
	canLink   bool
	allXattrs bool // CopyInto's: every attribute, of every entry, and no device nodes
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
		c.xattrs(src, dst)
	case unix.S_IFREG:
		if c.canLink && st.Dev == c.linkDev {
			err := os.Link(src, dst) // the same inode: contents, mode, owner, times, links
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
		isDev := st.Mode&unix.S_IFMT == unix.S_IFBLK || (st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev != 0)
		if c.allXattrs && isDev {
			return fmt.Errorf("copy %s: a device node", src)
		}
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
	}
	if c.allXattrs && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		c.xattrs(src, dst)
	}
	return copyMeta(dst, &st)
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

// xattrs copies the overlay's opaque marks (a commit's copy), or every attribute (CopyInto's).
func (c *copier) xattrs(src, dst string) {
	if !c.allXattrs {
		copyXattrs(src, dst)
		return
	}
	buf := make([]byte, 64*1024)
	n, err := unix.Llistxattr(src, buf)
	if err != nil || n <= 0 {
		return
	}
	val := make([]byte, 64*1024)
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if v, err := unix.Lgetxattr(src, name, val); err == nil {
			_ = unix.Lsetxattr(dst, name, val[:v], 0)
		}
	}
}

func copyXattrs(src, dst string) {
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		buf := make([]byte, 8)
		if n, err := unix.Lgetxattr(src, name, buf); err == nil {
			_ = unix.Lsetxattr(dst, name, buf[:n], 0)
		}
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
	return copyMeta(dst, &st)
}
