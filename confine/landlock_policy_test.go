package confine

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/spec"
)

// The policy tests build a small image under dir/root:
//
//	etc/secret (denied file)  etc/other  etc/sub/  secretdir/f (denied dir)  tmp/ (writable)
//	tmp/prelink: a hard link to etc/secret made before confinement
//	tmp/rel -> ../etc/secret   lnk -> / (absolute: must stay inside the root)
func policyTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, d := range []string{"etc/sub", "secretdir", "tmp", "usr"} {
		mustDo(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	for _, f := range []string{"etc/secret", "etc/other", "secretdir/f", "usr/f"} {
		mustDo(t, os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644))
	}
	mustDo(t, os.Link(filepath.Join(root, "etc/secret"), filepath.Join(root, "tmp/prelink")))
	mustDo(t, os.Symlink("../etc/secret", filepath.Join(root, "tmp/rel")))
	mustDo(t, os.Symlink("/", filepath.Join(root, "lnk")))
	return dir
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rootRW is the base an OCI bundle with a writable root gets from lifecycle.
func rootRW(root string) LandlockConfig {
	return LandlockConfig{Paths: []PathRule{{Path: root, Write: true, Exec: true}}}
}

// denying plans fs_denied = [/etc/secret, /secretdir] over a writable root and runs act(root).
func denying(act func(root string) error) func(string) (LandlockConfig, func() error) {
	return withPolicy(spec.Policy{FSDenied: []string{"/etc/secret", "/secretdir"}}, act)
}

func withPolicy(p spec.Policy, act func(root string) error) func(string) (LandlockConfig, func() error) {
	return func(dir string) (LandlockConfig, func() error) {
		root := filepath.Join(dir, "root")
		c, err := landlockPlan(p, rootRW(root), root)
		if err != nil {
			panic(err)
		}
		return c, func() error { return act(root) }
	}
}

func readAt(rel string) func(string) error {
	return func(root string) error { return readFile(filepath.Join(root, rel)) }
}

func listDir(path string) error {
	_, err := os.ReadDir(path)
	return err
}

// openAtDir opens dir as an O_PATH fd (allowed: O_PATH needs no right) and opens name from it.
func openAtDir(dir, name string, how *unix.OpenHow) error {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	var fd int
	if how == nil {
		fd, err = unix.Openat(dfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	} else {
		fd, err = unix.Openat2(dfd, name, how)
	}
	if err == nil {
		unix.Close(fd)
	}
	return err
}

var policyCases = []llCase{
	// fs_denied: the rest of the tree keeps its rights.
	{name: "denied: sibling file readable", want: "ok", setup: denying(readAt("etc/other"))},
	{name: "denied: sibling dir writable", want: "ok", setup: denying(func(r string) error {
		return createFile(filepath.Join(r, "etc/sub/new"))
	})},
	{name: "denied: ancestor listable", want: "ok", setup: denying(func(r string) error {
		return listDir(filepath.Join(r, "etc"))
	})},
	{name: "denied: file refused", want: "EACCES", setup: denying(readAt("etc/secret"))},
	{name: "denied: write refused", want: "EACCES", setup: denying(func(r string) error {
		return createFile(filepath.Join(r, "etc/secret"))
	})},
	{name: "denied: truncate refused", abi: abiTruncate, want: "EACCES", setup: denying(func(r string) error {
		return unix.Truncate(filepath.Join(r, "etc/secret"), 0)
	})},
	{name: "denied: dir contents refused", want: "EACCES", setup: denying(readAt("secretdir/f"))},
	{name: "denied: dir listing refused", want: "EACCES", setup: denying(func(r string) error {
		return listDir(filepath.Join(r, "secretdir"))
	})},
	{name: "denied: parent of a denied dir not listable", want: "EACCES", setup: denying(listDir)},
	{name: "denied: dotdot spelling refused", want: "EACCES", setup: denying(readAt("etc/sub/../secret"))},
	{name: "denied: image symlink refused", want: "EACCES", setup: denying(readAt("tmp/rel"))},
	{name: "denied: symlink made inside refused", want: "EACCES", setup: denying(func(r string) error {
		if err := unix.Symlink("../etc/secret", filepath.Join(r, "tmp/mine")); err != nil {
			return err
		}
		return readFile(filepath.Join(r, "tmp/mine"))
	})},
	{name: "denied: hard link made inside refused", abi: abiRefer, want: "EXDEV", setup: denying(func(r string) error {
		return unix.Link(filepath.Join(r, "etc/secret"), filepath.Join(r, "usr/hard"))
	})},
	{name: "denied: rename of the parent refused", want: "EACCES", setup: denying(func(r string) error {
		return unix.Rename(filepath.Join(r, "etc"), filepath.Join(r, "tmp/etc"))
	})},
	{name: "denied: rename of the file refused", want: "EACCES", setup: denying(func(r string) error {
		return unix.Rename(filepath.Join(r, "etc/secret"), filepath.Join(r, "tmp/s"))
	})},
	{name: "denied: openat from a dir fd refused", want: "EACCES", setup: denying(func(r string) error {
		return openAtDir(filepath.Join(r, "etc"), "secret", nil)
	})},
	{name: "denied: openat from a dir fd allows a sibling", want: "ok", setup: denying(func(r string) error {
		return openAtDir(filepath.Join(r, "etc"), "other", nil)
	})},
	{name: "denied: openat2 beneath refused", want: "EACCES", setup: denying(func(r string) error {
		how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH}
		return openAtDir(filepath.Join(r, "etc"), "sub/../secret", how)
	})},
	{name: "denied: /proc/self/root refused", want: "EACCES", setup: denying(func(r string) error {
		return readFile("/proc/self/root" + filepath.Join(r, "etc/secret"))
	})},
	{name: "denied: /proc/self/cwd refused", want: "EACCES", setup: denying(func(r string) error {
		if err := unix.Chdir(filepath.Join(r, "etc")); err != nil {
			return err
		}
		return readFile("/proc/self/cwd/secret")
	})},
	{name: "denied: new file in an ancestor refused (documented limit)", want: "EACCES", setup: denying(func(r string) error {
		return createFile(filepath.Join(r, "etc/new"))
	})},
	{name: "denied: earlier hard link is denied too", want: "EACCES", setup: denying(readAt("tmp/prelink"))},
	{name: "denied: missing path stays uncreatable", want: "EACCES", setup: withPolicy(
		spec.Policy{FSDenied: []string{"/etc/later"}}, func(r string) error {
			return createFile(filepath.Join(r, "etc/later"))
		})},

	// fs_readable / fs_writable replace the rootfs rule.
	{name: "allowlist: readable path readable", want: "ok", setup: withPolicy(allowEtcTmp, readAt("etc/other"))},
	{name: "allowlist: readable path not writable", want: "EACCES", setup: withPolicy(allowEtcTmp, func(r string) error {
		return createFile(filepath.Join(r, "etc/new"))
	})},
	{name: "allowlist: writable path writable", want: "ok", setup: withPolicy(allowEtcTmp, func(r string) error {
		return createFile(filepath.Join(r, "tmp/new"))
	})},
	{name: "allowlist: unlisted path refused", want: "EACCES", setup: withPolicy(allowEtcTmp, readAt("usr/f"))},
	{name: "allowlist: absolute image symlink stays in the root", want: "ok", setup: withPolicy(
		spec.Policy{FSReadable: []string{"/lnk"}}, readAt("usr/f"))},
	{name: "allowlist: absolute image symlink grants no host path", want: "EACCES", setup: withPolicy(
		spec.Policy{FSReadable: []string{"/lnk"}}, func(string) error { return readFile("/proc/self/status") })},
	{name: "allowlist: denied wins over readable", want: "EACCES", setup: withPolicy(
		spec.Policy{FSReadable: []string{"/etc"}, FSDenied: []string{"/etc/secret"}}, readAt("etc/secret"))},

	// net_bind / net_connect.
	{name: "net_bind: listed port binds", abi: abiNetTCP, want: "ok", setup: bindCase(true)},
	{name: "net_bind: other port refused", abi: abiNetTCP, want: "EACCES", setup: bindCase(false)},
	{name: "net_bind: ephemeral port (0) refused", abi: abiNetTCP, want: "EACCES", setup: bindZero},
	{name: "net_connect: listed port connects", abi: abiNetTCP, want: "ok", setup: connectCase(true)},
	{name: "net_connect: other port refused", abi: abiNetTCP, want: "EACCES", setup: connectCase(false)},
	{name: "net_connect: bind stays unrestricted", abi: abiNetTCP, want: "ok", setup: connectListBind},
}

var allowEtcTmp = spec.Policy{FSReadable: []string{"/etc", "/lib64"}, FSWritable: []string{"/tmp"}}

// freePort returns a TCP port nothing listens on now.
func freePort() int {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tcpSocket(act func(fd int) error) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return act(fd)
}

func loopback(port int) *unix.SockaddrInet4 {
	return &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
}

// bindCase allows binding one free port and binds it (listed) or another free port.
func bindCase(listed bool) func(string) (LandlockConfig, func() error) {
	return func(string) (LandlockConfig, func() error) {
		allowed, other := freePort(), freePort()
		p := spec.Policy{NetBind: []spec.Port{{Lo: uint16(allowed), Hi: uint16(allowed)}}}
		c, err := landlockPlan(p, LandlockConfig{}, "/")
		if err != nil {
			panic(err)
		}
		target := other
		if listed {
			target = allowed
		}
		return c, func() error {
			return tcpSocket(func(fd int) error { return unix.Bind(fd, loopback(target)) })
		}
	}
}

// bindZero: a net_bind list has no way to allow port 0, so asking for an ephemeral port fails.
func bindZero(string) (LandlockConfig, func() error) {
	c, err := landlockPlan(spec.Policy{NetBind: []spec.Port{{Lo: 8080, Hi: 8080}}}, LandlockConfig{}, "/")
	if err != nil {
		panic(err)
	}
	return c, func() error {
		return tcpSocket(func(fd int) error { return unix.Bind(fd, loopback(0)) })
	}
}

// connectCase listens on two ports before confinement and allows connecting to one.
func connectCase(listed bool) func(string) (LandlockConfig, func() error) {
	return func(string) (LandlockConfig, func() error) {
		allowed, other := listenPort(), listenPort()
		p := spec.Policy{NetConnect: []spec.Port{{Lo: uint16(allowed), Hi: uint16(allowed)}}}
		c, err := landlockPlan(p, LandlockConfig{}, "/")
		if err != nil {
			panic(err)
		}
		target := other
		if listed {
			target = allowed
		}
		return c, func() error {
			return tcpSocket(func(fd int) error { return unix.Connect(fd, loopback(target)) })
		}
	}
}

// connectListBind: a connect list leaves bind unhandled, so any port still binds.
func connectListBind(string) (LandlockConfig, func() error) {
	p := spec.Policy{NetConnect: []spec.Port{{Lo: 1, Hi: 1}}}
	c, err := landlockPlan(p, LandlockConfig{}, "/")
	if err != nil {
		panic(err)
	}
	port := freePort()
	return c, func() error {
		return tcpSocket(func(fd int) error { return unix.Bind(fd, loopback(port)) })
	}
}

// listenPort listens on a loopback port for the life of the helper process.
func listenPort() int {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return ln.Addr().(*net.TCPAddr).Port
}

func TestLandlockPolicy(t *testing.T) {
	requireRoot(t)
	requireABI(t, 1)
	for _, c := range policyCases {
		t.Run(c.name, func(t *testing.T) {
			requireABI(t, c.abi)
			res, out := runHelper(t, "TestHelperLandlockPolicy", c.name, policyTree(t))
			if got := res["result"]; got != c.want {
				t.Errorf("got %q, want %q\n%s", got, c.want, out)
			}
		})
	}
}

// TestHelperLandlockPolicy is the subprocess side of TestLandlockPolicy.
func TestHelperLandlockPolicy(t *testing.T) {
	name, dir := helperCase(t)
	runtime.LockOSThread() // confinement is per thread; never unlocked, the process exits
	i := slices.IndexFunc(policyCases, func(c llCase) bool { return c.name == name })
	if i < 0 {
		t.Fatalf("no case %q", name)
	}
	cfg, act := policyCases[i].setup(dir)
	rs, err := PrepareLandlock(cfg)
	if err != nil {
		t.Fatalf("PrepareLandlock: %v", err)
	}
	if err := SetNoNewPrivs(); err != nil {
		t.Fatal(err)
	}
	if err := rs.RestrictSelf(); err != nil {
		t.Fatal(err)
	}
	rs.Close()
	report("result", act())
}

// ---- plan derivation, no kernel needed ----

func TestCarvePlan(t *testing.T) {
	root := filepath.Join(policyTree(t), "root")
	c, err := landlockPlan(spec.Policy{FSDenied: []string{"/etc/secret"}}, rootRW(root), root)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]PathRule{}
	for _, r := range c.Paths {
		got[strings.TrimPrefix(r.Path, canonical(root))] = r
	}
	for _, covering := range []string{"", "/etc", "/etc/secret"} {
		if r, ok := got[covering]; ok && !r.ListOnly {
			t.Errorf("rule on %q grants the denied file: %+v", covering, r)
		}
	}
	if !got["/etc"].ListOnly || !got[""].ListOnly {
		t.Errorf("ancestors of a denied file should be ListOnly: %+v", c.Paths)
	}
	for _, sib := range []string{"/etc/other", "/etc/sub", "/secretdir", "/usr"} {
		if r := got[sib]; !r.Write || !r.Exec || !r.NoSymlinks {
			t.Errorf("sibling %s: got %+v, want the root rule's rights", sib, r)
		}
	}
	if _, ok := got["/lnk"]; ok {
		t.Error("a symlink got a rule")
	}
	// tmp/prelink, a hard link to the secret made before, is carved out like the secret.
	if r, ok := got["/tmp/prelink"]; ok || !got["/tmp"].ListOnly {
		t.Errorf("hard link to the denied file: got %+v (and /tmp %+v), want no rule", r, got["/tmp"])
	}
	if c.Carved == nil || !slices.Contains(c.Carved.Dirs, canonical(root)+"/etc") || len(c.Carved.Inodes) == 0 {
		t.Errorf("carving for the supervisor: got %+v, want /etc among the carved directories and the secret's inode", c.Carved)
	}
}

func TestCarveDeniedDirDropsListing(t *testing.T) {
	root := filepath.Join(policyTree(t), "root")
	base := LandlockConfig{Paths: []PathRule{{Path: root, Write: true}, {Path: filepath.Join(root, "secretdir/f")}}}
	c, err := landlockPlan(spec.Policy{FSDenied: []string{"/lnk/secretdir"}}, base, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Paths {
		if within(r.Path, canonical(filepath.Join(root, "secretdir"))) || within(filepath.Join(root, "secretdir"), r.Path) {
			t.Errorf("rule %+v covers the denied dir (a rule beneath it must be dropped, no READ_DIR above it)", r)
		}
	}
}

func TestAllowlistPlan(t *testing.T) {
	root := filepath.Join(policyTree(t), "root")
	mount := PathRule{Path: filepath.Join(root, "tmp"), Write: true, Exec: true}
	base := LandlockConfig{Paths: []PathRule{{Path: root, Exec: true}, mount}}
	c, err := landlockPlan(spec.Policy{FSReadable: []string{"/etc", "/missing"}}, base, root)
	if err != nil {
		t.Fatal(err)
	}
	want := []PathRule{mount, {Path: canonical(filepath.Join(root, "etc")), Exec: true, NoSymlinks: true}}
	if !slices.Equal(c.Paths, want) {
		t.Errorf("got %+v, want %+v (root rule dropped, mount kept, /missing skipped)", c.Paths, want)
	}
	c, err = landlockPlan(spec.Policy{FSWritable: []string{"/lnk"}}, base, root)
	if err != nil || len(c.Paths) != 2 || c.Paths[1].Path != canonical(root) || !c.Paths[1].Write {
		t.Errorf("/lnk -> / must resolve to the rootfs: %+v, %v", c.Paths, err)
	}
}

func TestAllowlistKeepsRuntimeDevices(t *testing.T) {
	root := t.TempDir()
	mustDo(t, os.MkdirAll(filepath.Join(root, "dev/pts"), 0o755))
	mustDo(t, os.WriteFile(filepath.Join(root, "dev/null"), nil, 0o666))
	mustDo(t, os.WriteFile(filepath.Join(root, "dev/sda"), nil, 0o666))
	c, err := landlockPlan(spec.Policy{FSReadable: []string{"/bin"}}, rootRW(root), root)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range c.Paths {
		paths = append(paths, strings.TrimPrefix(r.Path, canonical(root)))
	}
	if !slices.Equal(paths, []string{"/dev/null", "/dev/pts"}) {
		t.Errorf("got %v, want the runtime devices only", paths)
	}
}

func TestGPURules(t *testing.T) {
	dev := t.TempDir()
	for _, n := range []string{"nvidia0", "nvidia1", "nvidia2", "nvidiactl", "nvidia-uvm", "nvidia-caps/nvidia-cap1", "sda"} {
		mustDo(t, os.MkdirAll(filepath.Dir(filepath.Join(dev, n)), 0o755))
		mustDo(t, os.WriteFile(filepath.Join(dev, n), nil, 0o666))
	}
	control := []string{"nvidia-caps/nvidia-cap1", "nvidia-uvm", "nvidiactl"}
	cases := []struct {
		name string
		gpus []int
		want []string
	}{
		{"unset: none", nil, nil},
		{"[]: all", []int{}, append([]string{"nvidia0", "nvidia1", "nvidia2"}, control...)},
		{"[0,2]", []int{0, 2}, append([]string{"nvidia0", "nvidia2"}, control...)},
		{"missing index: control only", []int{7}, control},
	}
	for _, c := range cases {
		var got []string
		for _, r := range gpuRules(spec.Policy{GPUDevices: c.gpus}, dev) {
			if !r.Write || r.Exec {
				t.Errorf("%s: %s: want read+write, no exec", c.name, r.Path)
			}
			got = append(got, strings.TrimPrefix(r.Path, dev+"/"))
		}
		slices.Sort(got)
		slices.Sort(c.want)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestUnselectedGPUsDenied(t *testing.T) {
	root := t.TempDir()
	dev := filepath.Join(root, "dev")
	for _, n := range []string{"nvidia0", "nvidia1", "nvidia2", "nvidiactl", "null"} {
		mustDo(t, os.MkdirAll(dev, 0o755))
		mustDo(t, os.WriteFile(filepath.Join(dev, n), nil, 0o666))
	}
	if got := unselectedGPUs(spec.Policy{GPUDevices: []int{0, 2}}, dev); !slices.Equal(got, []string{"/dev/nvidia1"}) {
		t.Errorf("[0,2]: got %v", got)
	}
	for _, gpus := range [][]int{nil, {}} {
		if got := unselectedGPUs(spec.Policy{GPUDevices: gpus}, dev); got != nil {
			t.Errorf("%v: got %v, want nothing denied", gpus, got)
		}
	}
	c, err := landlockPlan(spec.Policy{GPUDevices: []int{0}}, rootRW(root), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Paths {
		rel := strings.TrimPrefix(r.Path, canonical(root))
		if !r.ListOnly && (rel == "" || rel == "/dev" || strings.HasPrefix(rel, "/dev/nvidia1") || strings.HasPrefix(rel, "/dev/nvidia2")) {
			t.Errorf("rule %+v grants an unselected GPU", r)
		}
	}
}

func TestGPUEnv(t *testing.T) {
	if env := GPUEnv(spec.Policy{}); env != nil {
		t.Errorf("unset: %v", env)
	}
	if env := GPUEnv(spec.Policy{GPUDevices: []int{}}); env != nil {
		t.Errorf("all: %v", env)
	}
	want := []string{"CUDA_DEVICE_ORDER=PCI_BUS_ID", "CUDA_VISIBLE_DEVICES=0,2"}
	if env := GPUEnv(spec.Policy{GPUDevices: []int{0, 2}}); !slices.Equal(env, want) {
		t.Errorf("[0,2]: got %v, want %v", env, want)
	}
}

func TestExpandPorts(t *testing.T) {
	got, err := expandPorts("net_bind", []spec.Port{{Lo: 8080, Hi: 8082}, {Lo: 80, Hi: 80}, {Lo: 8081, Hi: 8081}})
	if err != nil || !slices.Equal(got, []uint16{80, 8080, 8081, 8082}) {
		t.Errorf("got %v, %v", got, err)
	}
	if got, err := expandPorts("net_bind", nil); got != nil || err != nil {
		t.Errorf("unset: got %v, %v; want nil (unrestricted)", got, err)
	}
	_, err = expandPorts("net_connect", []spec.Port{{Lo: 1, Hi: 65535}})
	if err == nil || !strings.HasPrefix(err.Error(), "net_connect: more than 4096 ports") {
		t.Errorf("whole range: got %v", err)
	}
	_, err = expandPorts("net_bind", []spec.Port{{Lo: 1, Hi: 3000}, {Lo: 4000, Hi: 7000}})
	if err == nil {
		t.Error("two ranges over the cap together: want an error")
	}
}

func TestPolicyNeedsABI(t *testing.T) {
	p := spec.Policy{NetConnect: []spec.Port{{Lo: 443, Hi: 443}}}
	err := checkPolicyABI(p, 3)
	if err == nil || err.Error() != "net_connect needs Landlock ABI 4, kernel has 3" {
		t.Errorf("got %v", err)
	}
	if err := checkPolicyABI(p, 4); err != nil {
		t.Errorf("ABI 4: %v", err)
	}
	_, err = rulesetAttr(LandlockConfig{BindTCP: []uint16{80}}, 3)
	if err == nil || !strings.Contains(err.Error(), "TCP port rules needs ABI 4") {
		t.Errorf("rulesetAttr: got %v", err)
	}
}
