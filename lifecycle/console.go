package lifecycle

import (
	"fmt"
	"net"
	"os"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// openConsole allocates a pty for a container process. With containerPTS (the rootfs has a
// devpts of ours at /dev/pts) the master comes from <rootfs>/dev/pts/ptmx so
// that the slave exists in the container's instance under the name returned; otherwise from the
// host's /dev/ptmx. The slave is opened with TIOCGPTPEER, through the master itself, so no path
// lookup (which would search the host's devpts) can hand back a different pty. It returns the
// master, the slave and the slave's name as the container sees it ("/dev/pts/N").
func openConsole(rootfs string, containerPTS bool, size *specs.Box) (master, slave *os.File, name string, err error) {
	mfd, err := openPtmx(rootfs, containerPTS)
	if err != nil {
		return nil, nil, "", err
	}
	master = os.NewFile(uintptr(mfd), "/dev/ptmx")
	defer func() {
		if err != nil {
			master.Close()
		}
	}()
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return nil, nil, "", fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		return nil, nil, "", fmt.Errorf("get pty number: %w", err)
	}
	name = fmt.Sprintf("/dev/pts/%d", n)
	sfd, err := ptyPeer(mfd)
	if err != nil {
		return nil, nil, "", fmt.Errorf("open %s: %w", name, err)
	}
	slave = os.NewFile(uintptr(sfd), name)
	if err := setConsoleSize(sfd, size); err != nil {
		slave.Close()
		return nil, nil, "", err
	}
	return master, slave, name, nil
}

// openPtmx opens the multiplexer, the container's one resolved inside the rootfs like its mounts.
func openPtmx(rootfs string, containerPTS bool) (int, error) {
	const flags = unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC
	if !containerPTS {
		fd, err := unix.Open("/dev/ptmx", flags, 0)
		if err != nil {
			return -1, fmt.Errorf("open /dev/ptmx: %w", err)
		}
		return fd, nil
	}
	rootfd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open rootfs %s: %w", rootfs, err)
	}
	defer unix.Close(rootfd)
	fd, err := openInRoot(rootfd, "/dev/pts/ptmx", flags)
	if err != nil {
		return -1, fmt.Errorf("open %s/dev/pts/ptmx: %w", rootfs, err)
	}
	return fd, nil
}

// ptyPeer opens the slave of master (TIOCGPTPEER, Linux >= 4.13); O_NOCTTY so the runtime
// does not acquire it as its controlling terminal.
func ptyPeer(master int) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER,
		unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

func setConsoleSize(fd int, size *specs.Box) error {
	if size == nil {
		return nil
	}
	ws := unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &ws); err != nil {
		return fmt.Errorf("set console size: %w", err)
	}
	return nil
}

// sendConsole connects to the unix socket at path and sends one message whose payload is the
// pty name with exactly one SCM_RIGHTS fd, the master: the --console-socket protocol of runc
// that containerd's shim and conmon implement (no JSON, no reply).
func sendConsole(path string, master *os.File, name string) error {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	oob := unix.UnixRights(int(master.Fd()))
	n, oobn, err := conn.WriteMsgUnix([]byte(name), oob, nil)
	runtime.KeepAlive(master)
	if err != nil {
		return fmt.Errorf("console socket: send pty master: %w", err)
	}
	if n != len(name) || oobn != len(oob) {
		return fmt.Errorf("console socket: short write (%d/%d bytes, %d/%d control)", n, len(name), oobn, len(oob))
	}
	return nil
}
