package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
	"github.com/sandlock/sandlock-runtime/spec"
)

// update changes a container's resource limits, as runc's does: either a linux.resources JSON
// object (--resources FILE, or - for stdin: what containerd's shim and podman send), or runc's
// flags, one per field.
var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "change the resource limits of a created, running or paused container",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "linux.resources JSON from `FILE` (- for stdin); the other flags are then ignored"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit (bytes, or with a k/m/g suffix; -1: none)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory+swap limit (-1: none)"},
		&cli.StringFlag{Name: "kernel-memory-tcp", Usage: "kernel TCP buffer limit (cgroup v1)"},
		&cli.StringFlag{Name: "kernel-memory", Usage: "ignored, as by runc: the kernel no longer limits kernel memory separately"},
		&cli.Int64Flag{Name: "pids-limit", Usage: "maximum processes (and threads) alive at once; 0 or -1: none"},
		&cli.Uint64Flag{Name: "cpu-period", Usage: "CPU CFS period (microseconds)"},
		&cli.Int64Flag{Name: "cpu-quota", Usage: "CPU CFS quota (microseconds per period; -1: none)"},
		&cli.Uint64Flag{Name: "cpu-burst", Usage: "CPU CFS burst (microseconds)"},
		&cli.Uint64Flag{Name: "cpu-share", Usage: "CPU shares (relative weight)"},
		&cli.Uint64Flag{Name: "cpu-rt-period", Usage: "CPU realtime period (microseconds)"},
		&cli.Int64Flag{Name: "cpu-rt-runtime", Usage: "CPU realtime runtime (microseconds)"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to run on (0-3, 0,1)"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to allocate from (0-3, 0,1)"},
		&cli.UintFlag{Name: "blkio-weight", Usage: "block IO weight (10-1000)"},
		&cli.StringFlag{Name: "l3-cache-schema", Usage: "refused: Intel RDT is not supported"},
		&cli.StringFlag{Name: "mem-bw-schema", Usage: "refused: Intel RDT is not supported"},
	},
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		if _, err := lifecycle.Load(options(c).Root, id); err != nil {
			return err // before reading stdin: a missing container is the answer
		}
		r, err := updateResources(c)
		if err != nil {
			return err
		}
		return lifecycle.Update(options(c), id, r)
	},
}

func updateResources(c *cli.Context) (*specs.LinuxResources, error) {
	if f := c.String("resources"); f != "" {
		return readResources(f)
	}
	for _, n := range []string{"l3-cache-schema", "mem-bw-schema"} {
		if c.IsSet(n) {
			return nil, fmt.Errorf("update --%s: Intel RDT is not supported by this runtime", n)
		}
	}
	var r specs.LinuxResources
	if err := memoryFlags(c, &r); err != nil {
		return nil, err
	}
	cpuFlags(c, &r)
	if c.IsSet("pids-limit") {
		r.Pids = &specs.LinuxPids{Limit: ptr(c.Int64("pids-limit"))}
	}
	if c.IsSet("blkio-weight") {
		r.BlockIO = &specs.LinuxBlockIO{Weight: ptr(uint16(c.Uint("blkio-weight")))}
	}
	return &r, nil
}

func readResources(f string) (*specs.LinuxResources, error) {
	in := io.Reader(os.Stdin)
	if f != "-" {
		fh, err := os.Open(f)
		if err != nil {
			return nil, fmt.Errorf("update --resources: %w", err)
		}
		defer fh.Close()
		in = fh
	}
	var r specs.LinuxResources
	if err := json.NewDecoder(in).Decode(&r); err != nil {
		return nil, fmt.Errorf("update --resources %s: not a linux.resources JSON object: %w", f, err)
	}
	return &r, nil
}

func memoryFlags(c *cli.Context, r *specs.LinuxResources) error {
	var m specs.LinuxMemory
	set := false
	for _, f := range []struct {
		name string
		dst  **int64
	}{{"memory", &m.Limit}, {"memory-reservation", &m.Reservation}, {"memory-swap", &m.Swap}, {"kernel-memory-tcp", &m.KernelTCP}} {
		if !c.IsSet(f.name) {
			continue
		}
		v, err := parseBytes(c.String(f.name))
		if err != nil {
			return fmt.Errorf("update --%s: %w", f.name, err)
		}
		*f.dst, set = &v, true
	}
	if set {
		r.Memory = &m
	}
	return nil
}

// parseBytes reads a byte count: -1 (no limit), a number, or a size with a suffix ("64m").
func parseBytes(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	sz, err := spec.ParseSize(s)
	return sz.Bytes(), err
}

func cpuFlags(c *cli.Context, r *specs.LinuxResources) {
	var p specs.LinuxCPU
	set := false
	u := func(name string, dst **uint64) {
		if c.IsSet(name) {
			*dst, set = ptr(c.Uint64(name)), true
		}
	}
	i := func(name string, dst **int64) {
		if c.IsSet(name) {
			*dst, set = ptr(c.Int64(name)), true
		}
	}
	s := func(name string, dst *string) {
		if c.IsSet(name) {
			*dst, set = c.String(name), true
		}
	}
	u("cpu-period", &p.Period)
	i("cpu-quota", &p.Quota)
	u("cpu-burst", &p.Burst)
	u("cpu-share", &p.Shares)
	u("cpu-rt-period", &p.RealtimePeriod)
	i("cpu-rt-runtime", &p.RealtimeRuntime)
	s("cpuset-cpus", &p.Cpus)
	s("cpuset-mems", &p.Mems)
	if set {
		r.CPU = &p
	}
}

func ptr[T any](v T) *T { return &v }
