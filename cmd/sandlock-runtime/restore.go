package main

import (
	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

var restoreCommand = &cli.Command{
	Name:      "restore",
	Usage:     "create a container from its bundle and restore a checkpoint image into it",
	ArgsUsage: "<container-id>",
	Flags: append(append(createFlags(), criuOnlyFlags()...),
		&cli.StringFlag{Name: "image-path", Usage: "directory holding the image"},
		&cli.StringFlag{Name: "work-path", Usage: "accepted: criu-lite writes no work files or logs"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the restored processes run"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "accepted, no meaning: restore never makes itself a subreaper"},
	),
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		if err := refuseCriuOnly(c); err != nil {
			return err
		}
		code, err := lifecycle.Restore(options(c), createOpts(c, id), lifecycle.RestoreOpts{
			ImagePath: c.String("image-path"), Detach: c.Bool("detach"),
		})
		if err != nil {
			return err
		}
		if code != 0 {
			return exitCode(code)
		}
		return nil
	},
}
