package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/lifecycle"
	"github.com/sandlock/sandlock-runtime/sandbox"
)

var checkCommand = &cli.Command{
	Name:      "check",
	Usage:     "report what this host supports: Landlock, seccomp, cgroup2, and which policy fields it can enforce",
	ArgsUsage: " ",
	Action: func(c *cli.Context) error {
		if c.Args().Present() {
			return fmt.Errorf("check: takes no arguments")
		}
		h := sandbox.Probe()
		printHost(c.App.Writer, h)
		return printFields(c.App.Writer, sandbox.FieldSupport(h))
	},
}

func printHost(w io.Writer, h sandbox.Host) {
	abi := "unavailable"
	if h.LandlockABI >= 0 {
		abi = fmt.Sprint(h.LandlockABI)
	}
	fmt.Fprintf(w, "landlock ABI:          %s (sandlock needs >= %d)\n", abi, sandbox.MinLandlockABI())
	fmt.Fprintf(w, "seccomp:               %s\n", yesNo(h.Seccomp))
	fmt.Fprintf(w, "user notification:     %s\n", yesNo(h.UserNotif))
	cg := "none (processes tracked without a cgroup; pause falls back to SIGSTOP)"
	switch {
	case h.CgroupWrite:
		cg = "writable at " + h.Cgroup2
	case h.Cgroup2 != "":
		cg = "at " + h.Cgroup2 + ", not writable by us (needs root; pause falls back to SIGSTOP)"
	}
	fmt.Fprintf(w, "cgroup2:               %s\n", cg)
	fmt.Fprintf(w, "resource limits:       %s\n", lifecycle.LimitSupport())
	i386 := "yes (sandlock's filter covers its syscall numbers)"
	if !h.Compat.I386 {
		i386 = "no: " + h.Compat.I386Note + " (nothing to confine there)"
	}
	fmt.Fprintf(w, "i386 entry (int 0x80): %s\n", i386)
	fmt.Fprintf(w, "x32 syscalls:          %s\n", yesNo(h.Compat.X32))
	fmt.Fprintf(w, "overlayfs (COW):       %s\n", yesNo(h.Overlay))
	fmt.Fprintf(w, "user ns (COW, user):   %s\n", yesNo(h.UserNS))
	fmt.Fprintf(w, "running as root:       %s\n", yesNo(h.Root))
	fmt.Fprintf(w, "no_new_privs:          %s\n\n", nnpMode())
}

// nnpMode says when a container gets no_new_privs. Landlock and seccomp load without it only
// for a caller holding CAP_SYS_ADMIN; then process.noNewPrivileges decides, as under runc.
func nnpMode() string {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err == nil && data[0].Effective&(1<<unix.CAP_SYS_ADMIN) != 0 {
		return "as process.noNewPrivileges asks (false: setuid and file capabilities work, within the bounding set; Landlock and seccomp still bind)"
	}
	return "always on (without CAP_SYS_ADMIN Landlock and seccomp need it; setuid and file capabilities grant nothing)"
}

func printFields(w io.Writer, fs []sandbox.Support) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY FIELD\tENFORCED BY\tON THIS HOST")
	for _, f := range fs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Key, f.Mechanism, f.Status)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
