package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultDevices are the nodes every OCI container gets (runtime-spec "Default Devices").
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// devLinks are the symlinks runc makes in /dev; ptmx is added only with a devpts of our own.
var devLinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
}

// populateDev fills /dev when it is a tmpfs this call mounted. Nodes are only ever created
// there: a /dev that is part of the image (or a bind of the host's) would keep them, or change
// the host's, after the container is gone. Devices the config lists come first so that they win
// over a default of the same path.
func (r *rootfsMounter) populateDev(l *specs.Linux) error {
	if r.owned["/dev"] != "tmpfs" {
		return nil
	}
	if l != nil {
		for _, d := range l.Devices {
			if err := r.mknod(d, false); err != nil {
				return fmt.Errorf("create device %s: %w", d.Path, err)
			}
		}
	}
	for _, d := range defaultDevices {
		if err := r.mknod(d, true); err != nil {
			return fmt.Errorf("create device %s: %w", d.Path, err)
		}
	}
	return r.devLinksAndShm()
}

// mknod creates one device node inside the rootfs. existOK is for defaults, which the config may
// already have supplied.
func (r *rootfsMounter) mknod(d specs.LinuxDevice, existOK bool) error {
	p := cleanDest(d.Path)
	if !strings.HasPrefix(p, "/dev/") {
		return errors.New("not under /dev")
	}
	kind, err := deviceKind(d.Type)
	if err != nil {
		return err
	}
	parent, err := mkdirIn(r.rootfd, filepath.Dir(p))
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	name := filepath.Base(p)
	dev := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	if err := unix.Mknodat(parent, name, kind, int(dev)); err != nil {
		if existOK && errors.Is(err, unix.EEXIST) {
			return nil
		}
		return err
	}
	return chmodChown(parent, name, d)
}

// deviceKind maps the spec's device type to the S_IFMT bits of mknod(2).
func deviceKind(t string) (uint32, error) {
	switch t {
	case "c", "u":
		return unix.S_IFCHR, nil
	case "b":
		return unix.S_IFBLK, nil
	case "p":
		return unix.S_IFIFO, nil
	}
	return 0, fmt.Errorf("unknown device type %q", t)
}

// chmodChown sets the mode explicitly, since mknod's mode is cut by the umask, and the owner.
func chmodChown(dirfd int, name string, d specs.LinuxDevice) error {
	mode := os.FileMode(0o666)
	if d.FileMode != nil {
		mode = *d.FileMode
	}
	if err := unix.Fchmodat(dirfd, name, uint32(mode.Perm()), 0); err != nil {
		return err
	}
	uid, gid := -1, -1
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if uid == -1 && gid == -1 {
		return nil
	}
	return unix.Fchownat(dirfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
}

// devLinksAndShm makes /dev/fd, std{in,out,err}, /dev/ptmx (pointing into our own devpts, so
// a process opening /dev/ptmx gets a pty of the container's instance) and /dev/shm.
func (r *rootfsMounter) devLinksAndShm() error {
	devfd, err := openInRoot(r.rootfd, "/dev", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("open /dev: %w", err)
	}
	defer unix.Close(devfd)
	links := devLinks
	if r.owned["/dev/pts"] == "devpts" {
		links = append(links[:len(links):len(links)], [2]string{"ptmx", "pts/ptmx"})
	}
	for _, l := range links {
		err := unix.Symlinkat(l[1], devfd, l[0])
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink /dev/%s: %w", l[0], err)
		}
	}
	err = unix.Mkdirat(devfd, "shm", 0o1777)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("mkdir /dev/shm: %w", err)
	}
	if err == nil {
		// The umask cut the sticky, world-writable mode shm needs.
		return unix.Fchmodat(devfd, "shm", 0o1777, 0)
	}
	return nil
}
