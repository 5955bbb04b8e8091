package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/cowfs"
	"github.com/sandlock/sandlock-runtime/internal/openat2"
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

type treeResult struct {
	tree *os.File
	err  error
}

// startTree makes the workdir's view while init, just forked, starts and create makes its
// configuration (a helper is a second exec of the runtime: in parallel with init's, it costs
// the start little); sendTree hands it to init after its configuration.
func (cr *creation) startTree(exe string) {
	cr.tree = make(chan treeResult, 1)
	privileged := cr.policy.IsPrivileged()
	go func() {
		f, err := cr.cow.makeTree(exe, privileged)
		cr.tree <- treeResult{f, err}
	}()
	cr.onFail(func() {
		if r, ok := <-cr.tree; ok && r.tree != nil {
			r.tree.Close()
		}
	})
}

// sendTree waits for the view and sends it to init, which waits for it after its
// configuration (cowMount.enter).
func (cr *creation) sendTree(initC *os.File) error {
	if cr.tree == nil {
		return nil
	}
	r := <-cr.tree
	close(cr.tree)
	if r.err != nil {
		return stepErr(StepCOW, r.err)
	}
	defer r.tree.Close() // init has its copy
	err := sendMsg(int(initC.Fd()), ctlMsg{Op: "tree"}, int(r.tree.Fd()))
	if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
		return nil // init failed before it took the view, and awaitReady reports why
	}
	return err
}

// makeTree returns create's descriptor of the workdir's view for init.
func (m *cowMount) makeTree(exe string, privileged bool) (*os.File, error) {
	cowfs.PauseForTest(treeWaitEnv)
	if os.Geteuid() == 0 && !privileged && os.Getenv(treeTestEnv) != "helper" && !hostHasUnbindable() {
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

// hostHasUnbindable: a mount of the host's table is unbindable. open_tree's recursive copy
// leaves unbindable mounts out, so root's own copy of the tree showed what such a mount hid (a
// tmpfs over a directory, made unbindable: the directory's own files, TestEscapeCOWUnbindable).
// The helper's way keeps them: its new mount namespace copies every mount, and making that
// namespace private makes them bindable before the copy. mountinfo unreadable: the helper too.
func hostHasUnbindable() bool {
	ms, err := readMountinfo()
	return err != nil || slices.ContainsFunc(ms, func(m mountEntry) bool { return m.unbindable })
}

// treeWaitEnv names a file whose name + ".waiting" create makes, then waits (10 s at most) for
// the file itself, before it makes the view: for the test of a workdir's path changed between
// create's resolution of it and the view (integration TestEscapeCOWTreeSwap).
const treeWaitEnv = "SANDLOCK_COW_TEST_TREE_WAIT"

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
		if m.UserXattr && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EACCES)) {
			return nil, fmt.Errorf("cow: the workdir's view needs a user namespace for a user (or privileged), and this host refuses one (user.max_user_namespaces, kernel.unprivileged_userns_clone, an AppArmor restriction): %w", err)
		}
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
		if err := unix.Mount("sandlock-cow", m.Tmpfs, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, layerTmpfsData(m.TmpfsSize)); err != nil {
			return -1, fmt.Errorf("cow: max_disk: mount tmpfs: %w", err)
		}
		for _, d := range []string{m.Upper, m.Work} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return -1, fmt.Errorf("cow: %w", err)
			}
		}
	}
	lower, err := m.openLower(unix.AT_FDCWD)
	if err != nil {
		return -1, err
	}
	defer unix.Close(lower)
	// On the checked directory, through its descriptor, made of it: never where a path swapped
	// meanwhile would lead.
	// fsopen's way, as root's (overlayFD): the layer's directories by descriptor, and a
	// refusal with the kernel's reason.
	ovl, err := m.overlayFD(lower)
	if err != nil {
		return -1, err
	}
	defer unix.Close(ovl)
	if err := unix.MoveMount(ovl, "", lower, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return -1, fmt.Errorf("cow: mount overlay over %s: %w", m.Lower, err)
	}
	if err := m.storageReadOnlyIn(unix.AT_FDCWD); err != nil {
		return -1, err
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
func (m *cowMount) enter(initPipe *os.File) error {
	msg, fds, err := recvMsg(int(initPipe.Fd()))
	if err == nil && (msg.Op != "tree" || len(fds) != 1) {
		closeAll(fds)
		err = fmt.Errorf("got %q with %d descriptors", msg.Op, len(fds))
	}
	if err != nil {
		return fmt.Errorf("cow: the workdir's view from create: %w", err)
	}
	tree := fds[0]
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
// for the chroot, and CAP_SYS_CHROOT itself: they must not reach the program, nor stay with the
// zygote.
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
	// chroot's capability served its one purpose: the zygote, which never execs, would keep it
	// for the whole run (CAP_SETPCAP stays for the bounding set's drop in the exec step).
	data[0].Permitted &^= 1 << unix.CAP_SYS_CHROOT
	data[0].Effective &^= 1 << unix.CAP_SYS_CHROOT
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("cow: clear inheritable capabilities and chroot's: %w", err)
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

// options are the overlay's mount options (name, value; a flag has no value); lower is the
// lower directory as the mounter reaches it (/proc/self/fd/N of the checked directory). index and
// metacopy off: every upper file is whole (no metadata-only copy-ups). A renamed directory is
// a redirect to its lower path (root only: userxattr mounts cannot have them, and renaming a
// lower directory there fails with EXDEV, which mv handles by copying); cowfs merges it when
// it commits.
func (m *cowMount) options(lower string) [][2]string {
	o := [][2]string{{"lowerdir", lower}, {"upperdir", m.Upper}, {"workdir", m.Work},
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
	lower, err := m.openLower(unix.AT_FDCWD)
	if err != nil {
		unix.Close(tree)
		return -1, err
	}
	defer unix.Close(lower)
	ovl, err := m.overlayFD(lower)
	if err != nil {
		unix.Close(tree)
		return -1, err
	}
	defer unix.Close(ovl)
	target, err := m.openLower(tree)
	if err != nil {
		unix.Close(tree)
		return -1, err
	}
	defer unix.Close(target)
	if err := unix.MoveMount(ovl, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		unix.Close(tree)
		if err == unix.EINVAL {
			return -1, errNoDetachedAttach
		}
		return -1, fmt.Errorf("cow: attach the overlay at %s in the copy of the mount tree: %w", m.Lower, err)
	}
	if err := m.storageReadOnlyIn(tree); err != nil {
		unix.Close(tree)
		return -1, err
	}
	return tree, nil
}

// storageReadOnlyIn covers fs_storage in the tree whose root is root (a detached copy, or
// AT_FDCWD: the helper's own namespace) with a read-only copy of itself (its mounts, a max_disk
// tmpfs, included). The layers there are the runtime's record of what to do at the end
// (meta.json: the workdir, the action, dry run) and the content it commits: a sandbox allowed
// to write fs_storage (fs_writable above it, or no list at all) rewrote its own meta.json to
// another directory and COMMIT, and the runtime, as root, landed the layer there, past ABORT,
// a dry run and every rule (TestEscapeCOWStorage). The overlay is not affected: it writes its
// upper directory through a private mount of its own.
func (m *cowMount) storageReadOnlyIn(root int) error {
	if m.Storage == "" {
		return nil
	}
	src, err := openNoSymlinks(unix.AT_FDCWD, m.Storage)
	if err != nil {
		return fmt.Errorf("cow: fs_storage %s: %w", m.Storage, err)
	}
	defer unix.Close(src)
	st, err := unix.OpenTree(src, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("cow: fs_storage %s: copy: %w", m.Storage, err)
	}
	defer unix.Close(st)
	if err := readOnlyTree(st, "", unix.AT_EMPTY_PATH); err != nil {
		return err
	}
	target, err := openNoSymlinks(root, m.Storage)
	if err != nil {
		return fmt.Errorf("cow: fs_storage %s: %w", m.Storage, err)
	}
	defer unix.Close(target)
	if err := unix.MoveMount(st, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("cow: fs_storage %s: attach read-only in the copy of the mount tree: %w", m.Storage, err)
	}
	return nil
}

// openNoSymlinks opens the directory p (absolute) from root (a tree's root, or AT_FDCWD for
// the mounter's "/") with no symlink on the way (O_PATH). create resolved p once; a component
// swapped for a symlink since (by anyone who can write a parent) must not lead anywhere: an
// absolute symlink on a path into a detached copy of the tree is resolved from the mounter's
// root, so move_mount attached the overlay in the host's own mount table, on whatever the
// symlink named (TestEscapeCOWTreeSwap).
func openNoSymlinks(root int, p string) (int, error) {
	rel := strings.TrimPrefix(p, "/")
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	if root == unix.AT_FDCWD {
		rel = p
	} else {
		how.Resolve |= unix.RESOLVE_BENEATH
	}
	return openat2.Open(root, rel, how)
}

// openLower opens the workdir's directory from root (openNoSymlinks) and checks it is the one
// the layer was made over.
func (m *cowMount) openLower(root int) (int, error) {
	fd, err := openNoSymlinks(root, m.Lower)
	if err != nil {
		return -1, fmt.Errorf("cow: workdir %s (a symlink on its way since create resolved it?): %w", m.Lower, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if m.LowerIno != 0 && (st.Dev != m.LowerDev || st.Ino != m.LowerIno) {
		unix.Close(fd)
		return -1, fmt.Errorf("cow: workdir %s is another directory than the one the layer was made over (changed during create)", m.Lower)
	}
	return fd, nil
}

// readOnlyTree makes the mount at dirfd/path and every mount under it read-only.
func readOnlyTree(dirfd int, path string, flags int) error {
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(dirfd, path, uint(flags|unix.AT_RECURSIVE), attr); err != nil {
		return fmt.Errorf("cow: fs_storage read-only in the sandbox's view: %w", err)
	}
	return nil
}

// errNoDetachedAttach: move_mount refuses to attach to a detached tree (EINVAL before Linux
// 6.15); root takes the helper's way.
var errNoDetachedAttach = errors.New("the kernel cannot attach a mount to a detached mount tree (Linux 6.15 or later)")

// layerDirs are the layer's upper and work directories as /proc/self/fd links of descriptors
// on them (closed by the func returned): fsconfig takes a string of at most 255 bytes (a longer
// fs_storage path failed with EINVAL), and mount(2)'s options split on ',' and ':'.
func (m *cowMount) layerDirs() (upper, work string, closeAll func(), err error) {
	var fds []int
	closeAll = func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	for _, p := range []string{m.Upper, m.Work} {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll()
			return "", "", nil, fmt.Errorf("cow: layer directory %s: %w", p, err)
		}
		fds = append(fds, fd)
	}
	return fdPath(fds[0]), fdPath(fds[1]), closeAll, nil
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

// overlayFD makes the overlay of the directory lower (a descriptor: openLower) as a detached
// mount (fsopen, fsconfig, fsmount), with the restrictions of lower's mount.
func (m *cowMount) overlayFD(lower int) (int, error) {
	attr, err := lowerMountAttr(lower)
	if err != nil {
		return -1, err
	}
	fs, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("cow: overlayfs: %w", err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigSetString(fs, "source", "sandlock-cow"); err != nil {
		return -1, fmt.Errorf("cow: overlayfs source: %w", err)
	}
	upper, work, closeLayer, err := m.layerDirs()
	if err != nil {
		return -1, err
	}
	defer closeLayer() // until the overlay is made: it resolves them as they are set
	for _, o := range m.options(fdPath(lower)) {
		value := o[1]
		switch o[0] {
		case "upperdir":
			value = upper
		case "workdir":
			value = work
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
	fd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, int(attr)) // the workdir mount's nosuid, nodev, noexec
	if err != nil {
		return -1, fmt.Errorf("cow: mount overlay over %s: %w", m.Lower, err)
	}
	return fd, nil
}
