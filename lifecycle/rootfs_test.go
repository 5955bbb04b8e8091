package lifecycle

import (
	"encoding/json"
	"errors"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// These tests mount in the host's mount table, as the runtime does, always under a temporary
// directory; mountScratch guarantees nothing stays mounted and refuses to delete a tree that
// still has mounts in it.

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testreq.Missing(t, "needs root: mounts in the host's mount table")
	}
}

// mountScratch returns a fresh directory whose cleanup checks that nothing is mounted beneath
// it, detaches anything left (reporting it as a failure) and only then removes it, without
// crossing into another filesystem.
func mountScratch(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sandlock-rootfs-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if left := mountsUnder(t, dir); len(left) > 0 {
			t.Errorf("mounts left under %s: %v", dir, left)
			if err := undoMounts(left); err != nil {
				t.Errorf("undo leftovers: %v", err)
			}
		}
		if left := mountsUnder(t, dir); len(left) > 0 {
			t.Errorf("NOT removing %s, still mounted: %v", dir, left)
			return
		}
		if out, err := exec.Command("rm", "-rf", "--one-file-system", dir).CombinedOutput(); err != nil {
			t.Errorf("rm %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	left, err := mountsBeneath([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return left
}

// newRootfs makes a minimal image tree and a mount log in a scratch directory.
func newRootfs(t *testing.T) (rootfs string, log mountLog) {
	t.Helper()
	dir := mountScratch(t)
	rootfs = filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return rootfs, mountLog{path: filepath.Join(dir, "mounts")}
}

// setupAndUndo runs setupRootfs and registers the undo of whatever the log recorded, which
// runs before mountScratch's check.
func setupAndUndo(t *testing.T, rootfs string, s *specs.Spec, log mountLog) error {
	t.Helper()
	t.Cleanup(func() {
		paths, err := log.list()
		if err != nil {
			t.Error(err)
		}
		if err := undoMounts(paths); err != nil {
			t.Errorf("undoMounts: %v", err)
		}
	})
	return setupRootfs(rootfs, s, log.record)
}

// runcSpec returns the default config of `runc spec`, the mounts real callers send.
func runcSpec(t *testing.T) *specs.Spec {
	t.Helper()
	if _, err := exec.LookPath("runc"); err != nil {
		testreq.Missing(t, "needs runc for its default config")
	}
	dir := t.TempDir()
	if out, err := exec.Command("runc", "spec", "--bundle", dir).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func topMount(t *testing.T, p string) (mountEntry, bool) {
	t.Helper()
	mounts, err := readMountinfo()
	if err != nil {
		t.Fatal(err)
	}
	return topMountAt(mounts, p)
}

func TestSetupRootfsRuncDefaults(t *testing.T) {
	requireRoot(t)
	s := runcSpec(t)
	rootfs, log := newRootfs(t)
	if err := setupAndUndo(t, rootfs, s, log); err != nil {
		t.Fatalf("setupRootfs: %v", err)
	}
	for _, m := range s.Mounts {
		want := m.Type
		if want == "cgroup" {
			want = "cgroup2"
		}
		e, ok := topMount(t, filepath.Join(rootfs, m.Destination))
		if !ok {
			t.Errorf("%s: not mounted", m.Destination)
			continue
		}
		if e.fstype != want {
			t.Errorf("%s: fstype %s, want %s", m.Destination, e.fstype, want)
		}
		wantRO := hasOption(strings.Join(m.Options, ","), "ro")
		if e.readonly() != wantRO {
			t.Errorf("%s: read-only %v, want %v (%s)", m.Destination, e.readonly(), wantRO, e.opts)
		}
	}
	recorded, err := log.list()
	if err != nil || len(recorded) < len(s.Mounts) {
		t.Errorf("mount log has %d entries (err %v), want at least %d", len(recorded), err, len(s.Mounts))
	}
	checkDefaultDevices(t, rootfs)
	checkMasked(t, rootfs, s.Linux.MaskedPaths)
	checkReadonlyPath(t, rootfs)
}

func checkDefaultDevices(t *testing.T, rootfs string) {
	t.Helper()
	for _, d := range defaultDevices {
		checkDevice(t, filepath.Join(rootfs, d.Path), unix.S_IFCHR, d.Major, d.Minor, 0o666)
	}
	links := map[string]string{"fd": "/proc/self/fd", "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}
	for name, want := range links {
		if got, err := os.Readlink(filepath.Join(rootfs, "dev", name)); got != want {
			t.Errorf("/dev/%s -> %q (%v), want %q", name, got, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "dev/shm")); err != nil || !fi.IsDir() {
		t.Errorf("/dev/shm: %v", err)
	}
}

func checkDevice(t *testing.T, p string, kind uint32, major, minor int64, mode uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Errorf("%s: %v", p, err)
		return
	}
	if st.Mode&unix.S_IFMT != kind || st.Mode&0o7777 != mode {
		t.Errorf("%s: mode %o, want type %o perm %o", p, st.Mode, kind, mode)
	}
	if int64(unix.Major(st.Rdev)) != major || int64(unix.Minor(st.Rdev)) != minor {
		t.Errorf("%s: device %d:%d, want %d:%d", p, unix.Major(st.Rdev), unix.Minor(st.Rdev), major, minor)
	}
}

// checkMasked checks every masked path this kernel has: files read empty, directories are
// read-only empty tmpfs mounts. Which ones exist varies by kernel config.
func checkMasked(t *testing.T, rootfs string, masked []string) {
	t.Helper()
	checked := 0
	for _, p := range masked {
		fi, err := os.Stat(filepath.Join(rootfs, p))
		if err != nil {
			continue
		}
		checked++
		if !fi.IsDir() {
			data, err := os.ReadFile(filepath.Join(rootfs, p))
			if err != nil || len(data) != 0 {
				t.Errorf("masked %s: read %d bytes, err %v; want 0 bytes", p, len(data), err)
			}
			continue
		}
		e, ok := topMount(t, filepath.Join(rootfs, p))
		if !ok || e.fstype != "tmpfs" || !e.readonly() {
			t.Errorf("masked %s: %+v (mounted %v), want a read-only tmpfs", p, e, ok)
		}
	}
	if checked == 0 {
		t.Errorf("none of the masked paths %v exists here: nothing checked", masked)
	}
}

func checkReadonlyPath(t *testing.T, rootfs string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(rootfs, "proc/sys/kernel/hostname"), os.O_WRONLY, 0)
	if err == nil {
		f.Close()
	}
	if !errors.Is(err, unix.EROFS) {
		t.Errorf("write to readonly /proc/sys: %v, want EROFS", err)
	}
}

func TestSetupRootfsSymlinkStaysInside(t *testing.T) {
	requireRoot(t)
	rootfs, log := newRootfs(t)
	if err := os.Symlink("/", filepath.Join(rootfs, "evil")); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(filepath.Dir(rootfs)) // unique, so no host path of that name exists
	s := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/evil/" + name, Type: "tmpfs", Source: "tmpfs"},
		{Destination: "/evil/../../etc/" + name, Type: "tmpfs", Source: "tmpfs"},
	}}
	if err := setupAndUndo(t, rootfs, s, log); err != nil {
		t.Fatalf("setupRootfs: %v", err)
	}
	for _, p := range []string{"/" + name, "/etc/" + name} {
		if e, ok := topMount(t, filepath.Join(rootfs, p)); !ok || e.fstype != "tmpfs" {
			t.Errorf("%s: want a tmpfs inside the rootfs, got %+v", p, e)
		}
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("host %s exists (err %v): the mount escaped", p, err)
		}
	}
}

func TestSetupRootfsBindsAndDevices(t *testing.T) {
	requireRoot(t)
	rootfs, log := newRootfs(t)
	src := filepath.Join(filepath.Dir(rootfs), "src")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "file"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	mode, uid := os.FileMode(0o600), uint32(1000)
	s := &specs.Spec{
		Root: &specs.Root{Readonly: true},
		Mounts: []specs.Mount{
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755"}},
			{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", "ro"}},
			{Destination: "/etc/hostfile", Source: filepath.Join(src, "file"), Options: []string{"bind"}},
		},
		Linux: &specs.Linux{Devices: []specs.LinuxDevice{
			{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229},
			{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200, FileMode: &mode, UID: &uid},
		}},
	}
	if err := setupAndUndo(t, rootfs, s, log); err != nil {
		t.Fatalf("setupRootfs: %v", err)
	}
	checkDevice(t, filepath.Join(rootfs, "dev/fuse"), unix.S_IFCHR, 10, 229, 0o666)
	checkDevice(t, filepath.Join(rootfs, "dev/net/tun"), unix.S_IFCHR, 10, 200, 0o600)
	if _, err := os.Lstat(filepath.Join(rootfs, "dev/ptmx")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/dev/ptmx without a devpts of ours: %v, want it absent", err)
	}
	if data, err := os.ReadFile(filepath.Join(rootfs, "etc/hostfile")); string(data) != "hi" {
		t.Errorf("file bind: read %q (%v), want %q", data, err, "hi")
	}
	for _, p := range []string{"data/new", "newfile"} {
		err := os.WriteFile(filepath.Join(rootfs, p), nil, 0o644)
		if !errors.Is(err, unix.EROFS) {
			t.Errorf("write %s: %v, want EROFS", p, err)
		}
	}
}

func TestSetupRootfsFailureUndoes(t *testing.T) {
	requireRoot(t)
	rootfs, log := newRootfs(t)
	s := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"},
		{Destination: "/bad", Type: "nosuchfs", Source: "none"},
	}}
	err := setupRootfs(rootfs, s, log.record)
	if err == nil || !strings.Contains(err.Error(), "mount nosuchfs on /bad") {
		t.Fatalf("setupRootfs: %v, want an error naming mount nosuchfs on /bad", err)
	}
	if left := mountsUnder(t, rootfs); len(left) != 0 {
		t.Errorf("left mounted after a failed setup: %v", left)
	}
	if recorded, _ := log.list(); len(recorded) != 2 {
		t.Errorf("mount log %v, want the 2 mounts made before the failure", recorded)
	}
}

func TestHostMode(t *testing.T) {
	mounts, err := readMountinfo()
	if err != nil {
		t.Fatal(err)
	}
	// Only mounts the host really has can be skipped; find them rather than assume a layout.
	var have []specs.Mount
	for _, m := range []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts"},
	} {
		if top, ok := topMountAt(mounts, m.Destination); ok && slices.Contains(hostFSTypes[m.Type], top.fstype) {
			have = append(have, m)
		}
	}
	have = append(have, specs.Mount{Destination: "/etc", Type: "bind", Source: "/etc", Options: []string{"rbind"}})
	before := len(mounts)
	tests := []struct {
		name    string
		s       specs.Spec
		wantErr string
	}{
		{"host mounts skipped", specs.Spec{Mounts: have}, ""},
		{"tmpfs elsewhere", specs.Spec{Mounts: []specs.Mount{{Destination: "/foo", Type: "tmpfs"}}},
			"host mode (root.path /): cannot mount tmpfs on /foo: it would change the host"},
		{"bind elsewhere", specs.Spec{Mounts: []specs.Mount{{Destination: "/mnt", Source: "/etc", Options: []string{"bind"}}}},
			"cannot bind /etc on /mnt"},
		{"masked", specs.Spec{Linux: &specs.Linux{MaskedPaths: []string{"/proc/kcore"}}}, "cannot mask /proc/kcore"},
		{"readonly", specs.Spec{Linux: &specs.Linux{ReadonlyPaths: []string{"/proc/sys"}}}, "cannot make /proc/sys read-only"},
		{"readonly root", specs.Spec{Root: &specs.Root{Path: "/", Readonly: true}}, "cannot make / read-only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := setupRootfs("/", &tc.s, func(p string) error {
				t.Errorf("host mode recorded a mount: %s", p)
				return nil
			})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
	if after, _ := readMountinfo(); len(after) != before {
		t.Errorf("host mount table changed: %d mounts, was %d", len(after), before)
	}
}

func TestUndoMountsAlreadyGone(t *testing.T) {
	requireRoot(t)
	dir := mountScratch(t)
	paths := []string{filepath.Join(dir, "never-mounted"), filepath.Join(dir, "missing/x"), "/"}
	if err := os.Mkdir(paths[0], 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := undoMounts(paths); err != nil {
			t.Errorf("undoMounts round %d: %v", i, err)
		}
	}
}

func TestUndoMountsBeneath(t *testing.T) {
	requireRoot(t)
	dir := mountScratch(t)
	a := filepath.Join(dir, "a")
	mustMountTmpfs(t, a)
	mustMountTmpfs(t, filepath.Join(a, "b"))
	mustMountTmpfs(t, filepath.Join(a, "b")) // stacked: one MNT_DETACH is not enough
	mustMountTmpfs(t, filepath.Join(a, "c"))
	if err := undoMounts([]string{a}); err != nil {
		t.Fatalf("undoMounts: %v", err)
	}
	if left := mountsUnder(t, dir); len(left) != 0 {
		t.Errorf("left mounted: %v", left)
	}
}

// With root.readonly the rootfs itself is recorded (the bind onto itself). Undo must leave the
// caller's mounts alone: the image overlay containerd or podman mounted at the rootfs, and
// whatever the caller mounted below it.
func TestUndoMountsSparesCallerRootfs(t *testing.T) {
	requireRoot(t)
	rootfs, log := newRootfs(t)
	mustMountTmpfs(t, rootfs) // the caller's image mount
	t.Cleanup(func() { _ = unix.Unmount(rootfs, unix.MNT_DETACH) })
	mustMountTmpfs(t, filepath.Join(rootfs, "opt"))
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(rootfs, "opt"), unix.MNT_DETACH) })
	s := &specs.Spec{
		Root:   &specs.Root{Readonly: true},
		Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
	}
	if err := setupRootfs(rootfs, s, log.record); err != nil {
		t.Fatalf("setupRootfs: %v", err)
	}
	paths, err := log.list()
	if err != nil || len(paths) != 2 || paths[0] != rootfs {
		t.Fatalf("mount log %q (%v), want the rootfs bind then /proc", paths, err)
	}
	if err := undoMounts(paths); err != nil {
		t.Fatalf("undoMounts: %v", err)
	}
	for _, p := range []string{rootfs, filepath.Join(rootfs, "opt")} {
		if e, ok := topMount(t, p); !ok || e.fstype != "tmpfs" {
			t.Errorf("caller's mount at %s: %+v (mounted %v), want it kept", p, e, ok)
		}
	}
	if e, ok := topMount(t, filepath.Join(rootfs, "proc")); ok {
		t.Errorf("/proc still mounted: %+v", e)
	}
}

func mustMountTmpfs(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", p, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
}

func TestMountLog(t *testing.T) {
	log := mountLog{path: filepath.Join(t.TempDir(), "mounts")}
	if got, err := log.list(); got != nil || err != nil {
		t.Fatalf("missing log: got %v, %v; want nil, nil", got, err)
	}
	want := []string{"/a/rootfs/proc", "/a/rootfs/dev", "/a/rootfs/with space"}
	for _, p := range want {
		if err := log.record(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"relative", "/new\nline"} {
		if err := log.record(bad); err == nil {
			t.Errorf("record(%q): no error", bad)
		}
	}
	got, err := log.list()
	if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("list: got %q, %v; want %q", got, err, want)
	}
}

func TestParseMountinfoLine(t *testing.T) {
	line := `41 31 0:38 / /sys/fs/cgroup/with\040space ro,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate`
	e, err := parseMountinfoLine(line)
	if err != nil {
		t.Fatal(err)
	}
	want := mountEntry{id: 41, parent: 31, dev: "0:38", point: "/sys/fs/cgroup/with space", root: "/", opts: "ro,relatime",
		fstype: "cgroup2", source: "cgroup2", superOpts: "rw,nsdelegate"}
	if e != want || !e.readonly() {
		t.Errorf("got %+v, want %+v", e, want)
	}
	if e, err := parseMountinfoLine(`42 31 0:39 / /mnt/u rw master:3 unbindable - tmpfs tmpfs rw`); err != nil || !e.unbindable {
		t.Errorf("an unbindable mount: got %+v, %v", e, err)
	}
	if _, err := parseMountinfoLine("1 2 3"); err == nil {
		t.Error("malformed line: no error")
	}
}

// TestV1MountsOf: the host's own mount of a v1 hierarchy is the one used, not a later mount of
// the same hierarchy (a container's rbind of /sys/fs/cgroup, CRIU's yard), nor a bind of a
// subtree.
func TestV1MountsOf(t *testing.T) {
	var ms []mountEntry
	for _, line := range []string{
		`30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory`,
		`31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct`,
		`90 80 0:27 /sandlock-runtime/x /srv/bind rw,relatime - cgroup cgroup rw,cpu,cpuacct`,
		`91 80 0:30 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids`,
		`200 199 0:26 / /run/c/rootfs/sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory`,
		`201 199 0:30 / /tmp/criu.yard/pids rw,relatime - cgroup cgroup rw,pids`,
	} {
		e, err := parseMountinfoLine(line)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, e)
	}
	got := v1MountsOf(ms)
	want := map[string]string{"memory": "/sys/fs/cgroup/memory", "cpu": "/sys/fs/cgroup/cpu,cpuacct",
		"cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "pids": "/sys/fs/cgroup/pids"}
	if !maps.Equal(got, want) {
		t.Errorf("v1MountsOf = %v, want %v", got, want)
	}
}

func TestConsoleRoundTrip(t *testing.T) {
	master, slave, name, err := openConsole("/", false, &specs.Box{Height: 24, Width: 80})
	if err != nil {
		t.Fatalf("openConsole: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	checkConsole(t, master, slave, name)

	sock := filepath.Join(t.TempDir(), "console.sock")
	gotName, gotFD := receiveConsole(t, sock, func() error { return sendConsole(sock, master, name) })
	got := os.NewFile(uintptr(gotFD), "received")
	defer got.Close()
	if gotName != name {
		t.Errorf("received name %q, want %q", gotName, name)
	}
	// The received fd must be this pty's master: what the slave writes comes out of it.
	if _, err := slave.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := got.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "ping") {
		t.Errorf("read from received master: %q, %v; want ping", buf[:n], err)
	}
}

func checkConsole(t *testing.T, master, slave *os.File, name string) {
	t.Helper()
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil || name != "/dev/pts/"+strconv.FormatUint(uint64(n), 10) {
		t.Errorf("name %q, pty number %d (%v)", name, n, err)
	}
	ws, err := unix.IoctlGetWinsize(int(slave.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Row != 24 || ws.Col != 80 {
		t.Errorf("slave size %+v (%v), want 24x80", ws, err)
	}
}

// receiveConsole listens at sock, runs send, and returns the one message's payload and fd.
func receiveConsole(t *testing.T, sock string, send func() error) (string, int) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	errc := make(chan error, 1)
	go func() { errc <- send() }()
	conn, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("sendConsole: %v", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages: %d, %v; want 1", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("fds: %v, %v; want exactly one", fds, err)
	}
	return string(buf[:n]), fds[0]
}

func TestConsoleContainerDevpts(t *testing.T) {
	requireRoot(t)
	rootfs, log := newRootfs(t)
	s := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
			Options: []string{"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
	}}
	if err := setupAndUndo(t, rootfs, s, log); err != nil {
		t.Fatalf("setupRootfs: %v", err)
	}
	master, slave, name, err := openConsole(rootfs, true, nil)
	if err != nil {
		t.Fatalf("openConsole: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	// The slave must live in the container's devpts instance, under the name returned.
	var inRoot, got unix.Stat_t
	if err := unix.Stat(filepath.Join(rootfs, name), &inRoot); err != nil {
		t.Fatalf("%s in the rootfs: %v", name, err)
	}
	if err := unix.Fstat(int(slave.Fd()), &got); err != nil {
		t.Fatal(err)
	}
	if got.Rdev != inRoot.Rdev || got.Dev != inRoot.Dev {
		t.Errorf("slave is %d/%d, %s in the rootfs is %d/%d", got.Dev, got.Rdev, name, inRoot.Dev, inRoot.Rdev)
	}
}

// A bind of a host directory that is in a shared peer group must not carry mounts made on top
// of it (here a nested destination) back to the host directory: each new mount is made private.
func TestSetupRootfsNoPropagationToHost(t *testing.T) {
	requireRoot(t)
	rootfs, log := newRootfs(t)
	src := filepath.Join(filepath.Dir(rootfs), "shared")
	mustMountTmpfs(t, src)
	t.Cleanup(func() { _ = undoMounts([]string{src}) })
	if err := unix.Mount("", src, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/data", Source: src, Options: []string{"rbind"}},
		{Destination: "/data/sub", Type: "tmpfs", Source: "tmpfs"},
	}}
	if err := setupAndUndo(t, rootfs, s, log); err != nil {
		t.Fatalf("setupRootfs: %v", err)
	}
	if _, ok := topMount(t, filepath.Join(rootfs, "data/sub")); !ok {
		t.Error("/data/sub: not mounted in the rootfs")
	}
	if e, ok := topMount(t, filepath.Join(src, "sub")); ok {
		t.Errorf("mount propagated back to the host source: %+v", e)
	}
}

// privateMqueue: with an ipc namespace the OCI default mqueue mount becomes an empty read-only
// tmpfs (every mqueue mount would show the host's queues); without one, or in host mode, the
// config's mount stays.
func TestPrivateMqueue(t *testing.T) {
	mq := specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid"}}
	for _, c := range []struct {
		isolated bool
		rootfs   string
		want     string
	}{{true, "/rootfs", "tmpfs"}, {false, "/rootfs", "mqueue"}, {true, "/", "mqueue"}} {
		s := &specs.Spec{Mounts: []specs.Mount{mq}}
		if err := privateMqueue(s, c.isolated, c.rootfs); err != nil {
			t.Fatal(err)
		}
		got := s.Mounts[0]
		if got.Type != c.want || got.Destination != "/dev/mqueue" {
			t.Errorf("isolated %v, rootfs %s: got %+v, want type %s", c.isolated, c.rootfs, got, c.want)
		}
		if c.want == "tmpfs" && !slices.Contains(got.Options, "ro") {
			t.Errorf("the stand-in must be read-only: %+v", got)
		}
	}
}

// The root bind's single detach (undoMounts) takes the container's mounts and nothing of the
// caller's, also where the caller has a mount of its own at a path the container mounts over
// (rootfs/proc here): detaching each record after the bind would reach that one.
func TestUndoMountsOneDetachSparesCallerMounts(t *testing.T) {
	requireRoot(t)
	rootfs, log := newRootfs(t)
	callers := []string{rootfs, filepath.Join(rootfs, "proc"), filepath.Join(rootfs, "dev")}
	for _, p := range callers {
		mustMountTmpfs(t, p)
	}
	t.Cleanup(func() {
		for i := len(callers) - 1; i >= 0; i-- {
			_ = unix.Unmount(callers[i], unix.MNT_DETACH)
		}
	})
	s := &specs.Spec{
		Root: &specs.Root{Readonly: true},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm"},
		},
	}
	if err := setupRootfs(rootfs, s, log.record); err != nil {
		t.Fatalf("setupRootfs: %v", err)
	}
	paths, err := log.list()
	if err != nil || len(paths) != 4 || paths[0] != rootfs {
		t.Fatalf("mount log %q (%v), want the rootfs bind first", paths, err)
	}
	if err := undoMounts(paths); err != nil {
		t.Fatalf("undoMounts: %v", err)
	}
	for _, p := range callers {
		if e, ok := topMount(t, p); !ok || e.fstype != "tmpfs" {
			t.Errorf("caller's mount at %s: %+v (mounted %v), want it kept", p, e, ok)
		}
	}
	if e, ok := topMount(t, filepath.Join(rootfs, "dev", "shm")); ok {
		t.Errorf("/dev/shm still mounted: %+v", e)
	}
	left, err := mountsBeneath([]string{rootfs})
	if err != nil || len(left) != 2 {
		t.Errorf("mounts beneath the rootfs after undo: %q (%v), want the caller's /dev and /proc only", left, err)
	}
}
