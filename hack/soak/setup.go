package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/sandlock/sandlock-runtime/internal/children"
	"github.com/sandlock/sandlock-runtime/internal/mountinfo"
	"golang.org/x/sys/unix"
)

// setup makes the work dir, the private --root and one bundle per worker, and notes the
// runtime processes already alive (other users of the binary are not our leaks).
func setup(c *config) error {
	mnt, err := mountinfo.Cgroup2()
	if err != nil {
		return err
	}
	c.cgroupMnt = mnt
	c.cgParentRl = "/sandlock-soak-" + strconv.Itoa(os.Getpid())
	c.cgParent = filepath.Join(mnt, c.cgParentRl)
	if c.work, err = os.MkdirTemp("", "sandlock-soak-"); err != nil {
		return err
	}
	c.root = filepath.Join(c.work, "root")
	c.baseline = runtimeProcs(c.bin)
	for w := range max(c.parallel, 1) {
		if err := makeBundle(c, bundleDir(c, w)); err != nil {
			return err
		}
	}
	return nil
}

func bundleDir(c *config, w int) string { return filepath.Join(c.work, "b"+strconv.Itoa(w)) }

// makeBundle runs hack/mkbundle.sh (busybox rootfs, config.json from the runtime's `spec`)
// with `sleep 1000` as the container's program.
func makeBundle(c *config, dir string) error {
	cmd := exec.Command(c.mkbundle, dir, "sleep", "1000")
	cmd.Env = append(os.Environ(), "SANDLOCK_RUNTIME="+c.bin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := children.Start(cmd) // owned: the reaper must not take it
	if err == nil {
		err = children.Wait(cmd)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", c.mkbundle, dir, err, out.Bytes())
	}
	return nil
}

// writeConfig sets the bundle's program and places the container's cgroup under the run's
// parent, named by id: the run's cgroups are told apart from everyone else's on the host.
func writeConfig(c *config, bundle, id string, args ...string) error {
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	linux, _ := s["linux"].(map[string]any)
	if linux == nil {
		linux = map[string]any{}
		s["linux"] = linux
	}
	linux["cgroupsPath"] = c.cgParentRl + "/" + id
	if proc, ok := s["process"].(map[string]any); ok && len(args) > 0 {
		proc["args"] = args
	}
	if b, err = json.Marshal(s); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// teardown removes whatever the run left (leaks were counted before) and the work dir.
func teardown(c *config) {
	if c.work == "" {
		return
	}
	sweep(c)
	_ = unix.Rmdir(c.cgParent)
	if len(mountsUnder(c.work)) == 0 {
		_ = os.RemoveAll(c.work)
	} else {
		fmt.Printf("soak: %s kept: still has mounts\n", c.work)
	}
}

// sweep removes what leaked, once counted, so that the next trial starts clean and a leak is
// reported once: state dirs through `delete --force` (then by hand), mounts under the work dir,
// leaked processes, the processes of the run's cgroups and the cgroups themselves.
func sweep(c *config) {
	errFile, err := os.CreateTemp("", "sandlock-soak-sweep-")
	if err == nil {
		defer os.Remove(errFile.Name())
		defer errFile.Close()
		for _, e := range entries(c.root) {
			c.rt(errFile, "delete", "--force", filepath.Base(e))
		}
	}
	mounts := mountsUnder(c.work)
	slices.Reverse(mounts)
	for _, m := range mounts {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
	for _, e := range entries(c.root) {
		_ = os.RemoveAll(e)
	}
	killLeaked(c)
	for _, d := range containerCgroups(c.cgParent) {
		if len(cgroupProcs(d)) > 0 {
			_ = os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0)
			waitEmpty(d, time.Second)
		}
		_ = unix.Rmdir(d)
	}
}

// waitEmpty waits until cgroup dir has no process, up to d.
func waitEmpty(dir string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for len(cgroupProcs(dir)) > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// killLeaked SIGKILLs the processes leakedProcs finds: descendants of the runtime commands
// this run started (the runtime binary, a bundle's program, anything naming our --root), each
// by pid and only while its start time is the one seen.
func killLeaked(c *config) {
	for _, p := range leakedPids(c, c.baseline) {
		if st, ok := children.ReadStat(p.pid); ok && st.Start == p.start {
			_ = unix.Kill(p.pid, unix.SIGKILL)
		}
	}
}
