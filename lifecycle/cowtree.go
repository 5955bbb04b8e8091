package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The workdir's view (docs/design.md, "The copy-on-write workdir"): a detached copy of the
// whole mount tree with the overlay attached at the workdir's path. create makes it before
// init starts and hands init a descriptor of it; init chroots into it (cowMount.enter). The
// sandbox stays in the host's mount namespace whoever runs it, nothing is added to the host's
// mount table, and the copy goes with the container's last process.
//
// Who makes the copy:
//   - root, on Linux 6.15 or later: create itself (open_tree OPEN_TREE_CLONE, fsmount of the
//     overlay, move_mount into the copy);
//   - a user, a privileged policy, or root on an older kernel (which cannot attach a mount to
//     a detached tree): a helper, the runtime re-executed as `cow-tree` in a throwaway mount
//     namespace (and a user namespace mapping the caller to itself, but root without
//     privileged), which mounts the overlay there, copies its tree and sends the copy back. The
//     helper exits at once; its namespaces go with it, the copy stays.

// makeTree returns create's descriptor of the workdir's view for init.
func (m *cowMount) makeTree(exe string, privileged bool) (*os.File, error) {
	if os.Geteuid() == 0 && !privileged && os.Getenv(treeTestEnv) != "helper" {
		fd, err := m.attachDetached()
		if err == nil {
			return os.NewFile(uintptr(fd), "cow-tree"), nil
		}
		if !errors.Is(err, errNoDetachedAttach) {
			return nil, err
		}
	}
	return m.treeFromHelper(exe)
}

// treeTestEnv=helper makes root take the helper's way, as on a kernel before 6.15, for the
// tests (TestCOWNoNamespace) on a kernel that has the direct one.
const treeTestEnv = "SANDLOCK_COW_TEST_TREE"

// treeFromHelper runs the cow-tree helper and receives the copy of its tree.
func (m *cowMount) treeFromHelper(exe string) (*os.File, error) {
	conf, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	mine, theirs, err := socketpair()
	if err != nil {
		return nil, err
	}
	defer mine.Close()
	var stderr bytes.Buffer
	cmd := &exec.Cmd{Path: exe, Env: runtimeEnv, Stderr: &stderr, ExtraFiles: []*os.File{theirs},
		Args:        []string{"sandlock-runtime", "cow-tree", "--fd-conn=3", "--cow", string(conf)},
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}}
	if m.UserXattr { // a user's, or privileged's: only in a user namespace (setupCOW)
		selfMappedUserns(cmd.SysProcAttr)
		// The helper runs as the caller (no uid 0 in its namespace), so execve would drop
		// the namespace's capabilities: it keeps those overlayfs needs of its mounter (whose
		// credentials serve every later copy-up and whiteout) as ambient ones.
		cmd.SysProcAttr.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH,
			unix.CAP_FOWNER, unix.CAP_CHOWN, unix.CAP_MKNOD, unix.CAP_FSETID}
	}
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		return nil, fmt.Errorf("cow: start the tree's helper: %w", err)
	}
	tree, rerr := recvTree(int(mine.Fd()))
	werr := cmd.Wait()
	if rerr != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" && errors.Is(rerr, errHangup) {
			rerr = fmt.Errorf("%w: %s", rerr, msg)
		}
		return nil, fmt.Errorf("cow: the tree's helper: %w", rerr)
	}
	if werr != nil {
		tree.Close()
		return nil, fmt.Errorf("cow: the tree's helper: %w", werr)
	}
	return tree, nil
}

// recvTree reads the helper's answer: the tree's descriptor, or its error.
func recvTree(fd int) (*os.File, error) {
	m, fds, err := recvMsg(fd)
	if err != nil {
		return nil, err
	}
	if m.Error != "" || len(fds) != 1 {
		closeAll(fds)
		if m.Error == "" {
			m.Error = fmt.Sprintf("sent %d descriptors, want 1", len(fds))
		}
		return nil, errors.New(m.Error)
	}
	return os.NewFile(uintptr(fds[0]), "cow-tree"), nil
}

// selfMappedUserns clones into a new user namespace that maps the caller's uid and gid to
// themselves.
func selfMappedUserns(a *syscall.SysProcAttr) {
	a.Cloneflags |= syscall.CLONE_NEWUSER
	a.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Geteuid(), HostID: os.Geteuid(), Size: 1}}
	a.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getegid(), HostID: os.Getegid(), Size: 1}}
	a.GidMappingsEnableSetgroups = false
}

// COWTree is the cow-tree command: the helper that mounts the overlay (conf, a cowMount) in
// the mount namespace it was cloned into and sends a detached copy of that namespace's tree
// over conn.
func COWTree(conn int, conf string) error {
	var m cowMount
	err := json.Unmarshal([]byte(conf), &m)
	tree := -1
	if err == nil {
		tree, err = m.treeInNamespace()
	}
	if err != nil {
		return sendMsg(conn, ctlMsg{Error: err.Error()})
	}
	return sendMsg(conn, ctlMsg{Op: "tree"}, tree)
}

// treeInNamespace mounts the overlay (and an unprivileged max_disk's tmpfs under it) in the
// helper's own mount namespace and copies the whole tree.
func (m *cowMount) treeInNamespace() (int, error) {
	// Nothing of it may reach the host's table (it cannot for a user's namespace anyway).
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return -1, fmt.Errorf("cow: private mount namespace: %w", err)
	}
	if m.Tmpfs != "" {
		data := fmt.Sprintf("size=%d,mode=0700", m.TmpfsSize)
		if err := unix.Mount("sandlock-cow", m.Tmpfs, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
			return -1, fmt.Errorf("cow: max_disk: mount tmpfs: %w", err)
		}
		for _, d := range []string{m.Upper, m.Work} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return -1, fmt.Errorf("cow: %w", err)
			}
		}
	}
	// fsopen's way rather than mount(2)'s: a refusal comes with the kernel's reason (fsLog).
	ovl, err := m.overlayFD()
	if err != nil {
		return -1, err
	}
	defer unix.Close(ovl)
	if err := unix.MoveMount(ovl, "", unix.AT_FDCWD, m.Lower, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return -1, fmt.Errorf("cow: mount overlay over %s: %w", m.Lower, err)
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return -1, fmt.Errorf("cow: copy the mount tree: %w", err)
	}
	return tree, nil
}

// enter runs in init before Landlock opens its paths and before the chroot into the rootfs:
// the copy of the tree becomes init's root (and so the root of the zygote and every exec).
// A user's init holds CAP_SYS_CHROOT for this alone, in a user namespace mapping it to
// itself; the capability goes before anything else runs.
func (m *cowMount) enter(tree int) error {
	if tree < 0 {
		return errors.New("cow: no tree from create")
	}
	defer unix.Close(tree)
	if err := unix.Fchdir(tree); err != nil {
		return fmt.Errorf("cow: enter the copy of the mount tree: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("cow: enter the copy of the mount tree: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("cow: enter the copy of the mount tree: %w", err)
	}
	return dropAmbient()
}

// dropAmbient clears the ambient and inheritable capabilities an unprivileged init was given
// for the chroot: they must not reach the program.
func dropAmbient() error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("cow: clear ambient capabilities: %w", err)
	}
	if os.Geteuid() == 0 {
		return nil // root's, or privileged's, capabilities are the process's own business
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("cow: capget: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("cow: clear inheritable capabilities: %w", err)
	}
	return nil
}

// initCOWNamespace gives a user's init (not privileged's: its user namespace maps it to 0,
// which holds the capabilities already) what entering the tree needs: CAP_SYS_CHROOT, in a
// user namespace mapping the caller to itself (and CAP_SETPCAP, which the bounding set's drop
// needs there). It stays in the host's mount namespace. Ambient capabilities are cleared
// once init is in the tree; the program's execve as a non-root uid then leaves it none.
func initCOWNamespace(a *syscall.SysProcAttr, privileged bool) {
	if os.Geteuid() == 0 || privileged {
		return
	}
	selfMappedUserns(a)
	a.AmbientCaps = []uintptr{unix.CAP_SYS_CHROOT, unix.CAP_SETPCAP}
}

// options are the overlay's mount options (name, value; a flag has no value). index and
// metacopy off: every upper file is whole (no metadata-only copy-ups). A renamed directory is
// a redirect to its lower path (root only: userxattr mounts cannot have them, and renaming a
// lower directory there fails with EXDEV, which mv handles by copying); cowfs merges it when
// it commits.
func (m *cowMount) options() [][2]string {
	o := [][2]string{{"lowerdir", m.Lower}, {"upperdir", m.Upper}, {"workdir", m.Work},
		{"index", "off"}, {"metacopy", "off"}, {"xino", "off"}}
	if m.UserXattr {
		return append(o, [2]string{"userxattr", ""}, [2]string{"redirect_dir", "nofollow"}) // "off" may mean follow, which userxattr refuses
	}
	return append(o, [2]string{"redirect_dir", "on"}) // renaming a directory of the lower works (no EXDEV)
}

// attachDetached is root's way (see makeTree). The copy is taken after create's mounts (the
// rootfs's, a max_disk tmpfs), so it holds them all.
func (m *cowMount) attachDetached() (int, error) {
	tree, err := unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return -1, fmt.Errorf("cow: copy the mount tree: %w", err)
	}
	ovl, err := m.overlayFD()
	if err != nil {
		unix.Close(tree)
		return -1, err
	}
	defer unix.Close(ovl)
	rel := strings.TrimPrefix(m.Lower, "/")
	if err := unix.MoveMount(ovl, "", tree, rel, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		unix.Close(tree)
		if err == unix.EINVAL {
			return -1, errNoDetachedAttach
		}
		return -1, fmt.Errorf("cow: attach the overlay at %s in the copy of the mount tree: %w", m.Lower, err)
	}
	return tree, nil
}

// optionKey names the policy key behind an overlay option the kernel may refuse.
var optionKey = map[string]string{
	"lowerdir": " (the workdir: overlayfs cannot use its file system as a lower layer)",
	"upperdir": " (in fs_storage: overlayfs cannot keep an upper layer on its file system; accepted: ext4, xfs, btrfs, tmpfs, not overlayfs)",
	"workdir":  " (in fs_storage)",
}

// fsLog is what the kernel said about a refused fsconfig (the fs context's log, read from
// the fsopen descriptor: "overlayfs: filesystem on ... not supported as upperdir"), as
// "; kernel: ..." or "".
func fsLog(fs int) string {
	var msgs []string
	buf := make([]byte, 4096)
	for range 8 {
		n, err := unix.Read(fs, buf)
		if err != nil || n <= 0 {
			break
		}
		msg := strings.TrimSpace(string(buf[:n]))
		if len(msg) > 2 && msg[1] == ' ' { // "e ", "w ", "i ": the message's level
			msg = msg[2:]
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) == 0 {
		return ""
	}
	return "; kernel: " + strings.Join(msgs, "; ")
}

// errNoDetachedAttach: move_mount refuses to attach to a detached tree (EINVAL before Linux
// 6.15); root takes the helper's way.
var errNoDetachedAttach = errors.New("the kernel cannot attach a mount to a detached mount tree (Linux 6.15 or later)")

// overlayFD makes the overlay as a detached mount (fsopen, fsconfig, fsmount).
func (m *cowMount) overlayFD() (int, error) {
	fs, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("cow: overlayfs: %w", err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigSetString(fs, "source", "sandlock-cow"); err != nil {
		return -1, fmt.Errorf("cow: overlayfs source: %w", err)
	}
	for _, o := range m.options() {
		value := o[1]
		if _, dir := optionKey[o[0]]; dir {
			// Each directory through a descriptor's magic link: fsconfig takes a string of at
			// most 255 bytes (a longer workdir or fs_storage path failed with EINVAL), and
			// the link names nothing overlayfs would split (',', ':').
			fd, err := unix.Open(o[1], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return -1, fmt.Errorf("cow: overlayfs option %s=%s: %w", o[0], o[1], err)
			}
			defer unix.Close(fd) // until the overlay is made: it resolves them as they are set
			value = fmt.Sprintf("/proc/self/fd/%d", fd)
		}
		set := func() error { return unix.FsconfigSetString(fs, o[0], value) }
		if o[1] == "" {
			set = func() error { return unix.FsconfigSetFlag(fs, o[0]) }
		}
		if err := set(); err != nil {
			return -1, fmt.Errorf("cow: overlayfs option %s=%s%s: %w%s", o[0], o[1], optionKey[o[0]], err, fsLog(fs))
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("cow: mount overlay over %s: %w%s", m.Lower, err, fsLog(fs))
	}
	fd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("cow: mount overlay over %s: %w", m.Lower, err)
	}
	return fd, nil
}
