package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

// criuOnlyFlags are runc's checkpoint/restore flags for CRIU features criu-lite does not
// have: accepted so that callers that always pass them work, refused when they ask for
// something (a non-empty value or true), except where noted.
func criuOnlyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "tcp-established", Usage: "refused: established TCP connections are never saved (checkpoint fails naming them)"},
		&cli.BoolFlag{Name: "ext-unix-sk", Usage: "refused: external unix sockets are not saved"},
		&cli.BoolFlag{Name: "shell-job", Usage: "accepted: a terminal the container inherited is the restoring caller's"},
		&cli.BoolFlag{Name: "file-locks", Usage: "accepted (containerd always passes it): a process holding a file lock fails the checkpoint, naming it"},
		&cli.StringFlag{Name: "manage-cgroups-mode", Usage: "accepted, no meaning: the restored container gets its own cgroup"},
		&cli.StringSliceFlag{Name: "empty-ns", Usage: "accepted, no meaning: there are no namespaces"},
		&cli.BoolFlag{Name: "auto-dedup", Usage: "accepted, no meaning"},
		&cli.BoolFlag{Name: "lazy-pages", Usage: "refused: lazy migration needs CRIU's page server"},
		&cli.StringFlag{Name: "lsm-profile", Usage: "accepted, no meaning"},
		&cli.StringFlag{Name: "lsm-mount-context", Usage: "accepted, no meaning"},
	}
}

// refuseCriuOnly fails when a CRIU-only feature is asked for.
func refuseCriuOnly(c *cli.Context) error {
	for _, f := range []string{"tcp-established", "ext-unix-sk", "lazy-pages", "pre-dump"} {
		if c.Bool(f) {
			return errors.New("--" + f + " is a CRIU feature that criu-lite does not provide (docs/checkpoint.md)")
		}
	}
	for _, f := range []string{"parent-path", "page-server", "status-fd"} {
		if c.IsSet(f) && c.String(f) != "" {
			return errors.New("--" + f + " is a CRIU feature that criu-lite does not provide (docs/checkpoint.md)")
		}
	}
	return nil
}

var checkpointCommand = &cli.Command{
	Name:      "checkpoint",
	Usage:     "save a running container's processes to an image (criu-lite, no CRIU needed) and stop it",
	ArgsUsage: "<container-id>",
	Flags: append(criuOnlyFlags(),
		&cli.StringFlag{Name: "image-path", Usage: "directory the image is written to"},
		&cli.StringFlag{Name: "work-path", Usage: "accepted: criu-lite writes no work files or logs"},
		&cli.BoolFlag{Name: "leave-running", Usage: "leave the container running after the checkpoint"},
		&cli.StringFlag{Name: "parent-path", Usage: "refused: incremental (pre-dump) images are not supported"},
		&cli.BoolFlag{Name: "pre-dump", Usage: "refused: incremental (pre-dump) images are not supported"},
		&cli.StringFlag{Name: "page-server", Usage: "refused: CRIU's page server"},
		&cli.StringFlag{Name: "status-fd", Usage: "refused: CRIU's lazy-pages status"},
	),
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		if err := refuseCriuOnly(c); err != nil {
			return err
		}
		return lifecycle.Checkpoint(options(c), id, lifecycle.CheckpointOpts{
			ImagePath: c.String("image-path"), WorkPath: c.String("work-path"), LeaveRunning: c.Bool("leave-running"),
		})
	},
}
