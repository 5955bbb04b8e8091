package main

import (
	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/spec"
)

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print the OCI features document (only what really works)",
	Action: func(c *cli.Context) error {
		return printJSON(spec.Features())
	},
}
