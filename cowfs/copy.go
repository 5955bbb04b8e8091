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

// CopyInto copies every entry of directory src into directory dst (which exists) as the
// copier does, read beneath src, hard links among them kept, and with every extended attribute (the
// overlay's redirects, the program's own): a checkpoint's copy of a layer's upper directory,
// and a restore's seeding of a new layer from it. A device node (other than a whiteout) is
// refused: a restore must not give the sandbox a device an image names.
func CopyInto(src, dst string) error {
	ents, err := readDirIn(src, src)
	if err != nil {
		return err
	}
	c := &copier{links: newLinkMap(), root: src, allXattrs: true, noDevices: true}
	for _, e := range ents {
		if err := c.tree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	c.copyXattrs(src, dst) // an opaque upper root
	return nil
}

// copier copies trees (a file, symlink, directory tree, or whiteout, to a dst that must not
// exist): contents, modes, ownership (when permitted), times, the overlay's opaque marks, and
// hard links among the copied files (through links). Whiteouts are kept as they are. With
// linkDev set, regular files on that device are hard-linked instead of copied (a commit's
// staging, when the layer is on the workdir's file system: no data moves, and the layer keeps
// its own name for each file until the commit is decided).
type copier struct {
	root string // the tree the sources are read from, beneath it (beneath.go)
	// ovlXattrs is the prefix of the overlay's own extended attributes ("trusted.overlay." or,
	// in a user namespace, "user.overlay."), taken off the files a commit links in.
	ovlXattrs string
	links     linkMap
	linkDev   uint64
	canLink   bool
	allXattrs bool // every attribute, of every entry (CopyInto's, KeepOnDisk's)
	noDevices bool // a device node (not a whiteout) is refused (CopyInto's)
}

func (c *copier) tree(src, dst string) error {
	links := c.links
	sp, ok := lstatIn(c.root, src)
	if !ok {
		return fmt.Errorf("copy %s: gone, or not beneath %s without a symlink", src, c.root)
	}
	st := *sp
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		ents, err := readDirIn(c.root, src)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := c.tree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
		c.copyXattrs(src, dst)
	case unix.S_IFREG:
		if c.canLink && st.Dev == c.linkDev {
			err := linkIn(c.root, src, dst) // the same inode: contents, mode, owner, times, links
			if err == nil {
				return c.stripOverlayXattrs(dst)
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
		if err := copyFileIn(c.root, src, dst); err != nil {
			return err
		}
		if st.Nlink > 1 {
			links[key] = dst
		}
	case unix.S_IFLNK:
		target, err := readlinkIn(c.root, src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	default: // whiteouts, fifos, devices
		isDev := st.Mode&unix.S_IFMT == unix.S_IFBLK || (st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev != 0)
		if c.noDevices && isDev {
			return fmt.Errorf("copy %s: a device node", src)
		}
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
	}
	if err := copyMeta(dst, &st); err != nil {
		return err
	}
	// A directory's are copied with it (copyXattrs), a symlink's are not copied; whiteouts,
	// fifos and sockets only in a copy that keeps the overlay's marks (allXattrs).
	if t := st.Mode & unix.S_IFMT; t == unix.S_IFREG || (c.allXattrs && t != unix.S_IFDIR && t != unix.S_IFLNK) {
		c.xattrsOf(src, dst) // after chown, which clears security.capability
	}
	return nil
}

// xattrsOf copies the extended attributes of src (read beneath the copier's root, through its
// descriptor) to dst: every one for CopyInto (a checkpoint's copy of the upper keeps the
// overlay's marks), else the program's own (user.*, ACLs, security.* where permitted), never
// the overlay's: a file the commit copies rather than links kept its contents and lost them.
func (c *copier) xattrsOf(src, dst string) {
	fd, err := openIn(c.root, src, unix.O_PATH)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	p := fmt.Sprintf("/proc/self/fd/%d", fd)
	buf := make([]byte, 64*1024)
	n, err := unix.Listxattr(p, buf)
	if err != nil || n <= 0 {
		return
	}
	val := make([]byte, 64*1024)
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if !c.allXattrs && (strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")) {
			continue
		}
		if v, err := unix.Getxattr(p, name, val); err == nil {
			_ = unix.Lsetxattr(dst, name, val[:v], 0)
		}
	}
}

// CopyFile copies the contents of the regular file src into a new file dst (mode 0600, which
// must not exist); the caller gives it its metadata. Only the data of src is copied, its holes
// stay holes: a sparse file takes on dst the blocks it took on src. A copy that wrote the holes
// as zeros turned a max_disk layer's `truncate -s 1T f` (no block on the tmpfs) into a terabyte
// written to the host's disk at commit or keep (TestEscapeCOWSparse).
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return copyInto(in, dst)
}

// copyInto copies the data of in into a new file dst (mode 0600, which must not exist).
func copyInto(in *os.File, dst string) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := copyData(in, out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyData copies the data extents of in (SEEK_DATA, SEEK_HOLE) to the same offsets of out,
// then gives out in's size; the whole file where the file system cannot tell its holes.
func copyData(in, out *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(in.Fd()), &st); err != nil {
		return err
	}
	for off := int64(0); off < st.Size; {
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break // only a hole from off to the end
		}
		if err == unix.EINVAL && off == 0 { // no SEEK_DATA here: all of it is data
			return copyRange(in, out, 0, st.Size)
		}
		if err != nil {
			return err
		}
		hole, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		if err := copyRange(in, out, data, hole-data); err != nil {
			return err
		}
		off = hole
	}
	return out.Truncate(st.Size)
}

// copyRange copies n bytes at off of in to off of out (copy_file_range or splice underneath).
func copyRange(in, out *os.File, off, n int64) error {
	if _, err := in.Seek(off, io.SeekStart); err != nil {
		return err
	}
	if _, err := out.Seek(off, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(out, io.LimitReader(in, n))
	return err
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

// stripOverlayXattrs takes the overlay's own extended attributes off a file linked from the
// upper directory: its copy-up marks (trusted.overlay.origin, a handle of the workdir's file it
// was copied from) would otherwise land in the workdir, and mean something to an overlay that
// later uses the directory as a layer. Nothing else of the file changes.
func (c *copier) stripOverlayXattrs(dst string) error {
	if c.ovlXattrs == "" {
		return nil
	}
	buf := make([]byte, 64*1024)
	n, err := unix.Llistxattr(dst, buf)
	if err != nil {
		return nil // no xattrs here (or none readable): nothing of the overlay's either
	}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if strings.HasPrefix(name, c.ovlXattrs) {
			if err := unix.Lremovexattr(dst, name); err != nil {
				return fmt.Errorf("%s: remove %s: %w", dst, name, err)
			}
		}
	}
	return nil
}

func (c *copier) copyXattrs(src, dst string) {
	if c.allXattrs {
		c.xattrsOf(src, dst)
		return
	}
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if v := dirXattrIn(c.root, src, name); v != "" {
			_ = unix.Lsetxattr(dst, name, []byte(v), 0)
		}
	}
}

// mergeCopy copies a merged directory (a renamed one: lowerDir under upperDir) to dst as
// overlayfs shows it, without the overlay's own marks.
func (c *copier) mergeCopy(lowerDir, upperDir, lowerRoot, dst string) error {
	m, err := merged(lowerDir, upperDir, lowerRoot, c.root)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	for n, src := range m {
		d := filepath.Join(dst, n)
		switch {
		case src.upper != "" && isDirIn(c.root, src.upper):
			err = c.mergeCopy(src.lower, src.upper, lowerRoot, d)
		case src.upper != "":
			err = c.tree(src.upper, d)
		default:
			err = (&copier{links: c.links, root: lowerRoot}).tree(src.lower, d) // the workdir's own files: copied
		}
		if err != nil {
			return err
		}
	}
	st, ok := lstatIn(c.root, upperDir)
	if !ok {
		return fmt.Errorf("copy %s: gone, or not beneath %s without a symlink", upperDir, c.root)
	}
	return copyMeta(dst, st)
}
