package lifecycle

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/cowfs"
)

// withoutCopyUp strips "tmpcopyup" (podman puts it on the tmpfs mounts of --read-only and
// --tmpfs): it is not a filesystem option but an instruction to the runtime.
func withoutCopyUp(options []string) ([]string, bool) {
	if !slices.Contains(options, "tmpcopyup") {
		return options, false
	}
	return slices.DeleteFunc(slices.Clone(options), func(o string) bool { return o == "tmpcopyup" }), true
}

// copyUpInto copies the content of the directory oldfd names (now covered by a fresh tmpfs)
// into that tmpfs, keeping modes, owners and symlinks, as runc's tmpcopyup does. The source is
// read through /proc/self/fd/N, which reaches the covered directory, not the mount on top; the
// destination is opened inside the rootfs like every mount target.
func copyUpInto(oldfd int, root, dest string) error {
	src, err := unix.Openat(oldfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(src)
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	dst, err := openInRoot(rootfd, dest, unix.O_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(dst)
	return copyTree(fdPath(src), fdPath(dst))
}

func copyTree(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := copyEntry(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyEntry(src, dst string) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return err
	}
	mode := os.FileMode(st.Mode & 0o7777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		if err := copyTree(src, dst); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
		return unix.Lchown(dst, int(st.Uid), int(st.Gid))
	case unix.S_IFREG:
		if err := cowfs.CopyFile(src, dst); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: cannot copy file type %s", src, strconv.FormatUint(uint64(st.Mode&unix.S_IFMT), 8))
	}
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}
