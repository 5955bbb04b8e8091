package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

func createFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the OCI bundle"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the init pid here"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass this many fds after 2 into the container"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "accepted, no meaning: init always chroots (there is no mount namespace to pivot_root in)"},
		&cli.BoolFlag{Name: "no-new-keyring", Usage: "accepted, no meaning: the keyring syscalls are denied inside the container"},
	}
}

func createOpts(c *cli.Context, id string) lifecycle.CreateOpts {
	return lifecycle.CreateOpts{
		ID: id, Bundle: c.String("bundle"), PidFile: c.String("pid-file"),
		ConsoleSocket: c.String("console-socket"), PreserveFDs: c.Int("preserve-fds"),
		NoPivot: c.Bool("no-pivot"), NoNewKeyring: c.Bool("no-new-keyring"),
	}
}

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container: confined init waiting for start",
	ArgsUsage: "<container-id>",
	Flags:     createFlags(),
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		return needsRootHint(lifecycle.Create(options(c), createOpts(c, id)))
	},
}

// needsRootHint says why a user's create failed with EPERM (a mount, chroot): a container
// needs root here (no user namespace is made for it), and what a user can do instead.
func needsRootHint(err error) error {
	if err == nil || os.Geteuid() == 0 || !errors.Is(err, unix.EPERM) {
		return err
	}
	return fmt.Errorf("%w (a container needs root: its mounts and chroot(2) need CAP_SYS_ADMIN and CAP_SYS_CHROOT; as a user, confine a command with `sandlock-runtime sandbox`, docs/sandbox.md)", err)
}
