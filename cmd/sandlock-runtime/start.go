package main

import (
	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "run the user program of a created container",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		return lifecycle.Start(options(c), id)
	},
}
