package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
	"github.com/sandlock/sandlock-runtime/spec"
)

var killCommand = &cli.Command{
	Name:      "kill",
	Usage:     "send a signal (default SIGTERM) to a container's init, or with --all to every process",
	ArgsUsage: "<container-id> [signal]",
	Flags:     []cli.Flag{&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process of the container"}},
	Action: func(c *cli.Context) error {
		if c.NArg() < 1 || c.NArg() > 2 {
			return fmt.Errorf("kill: expects <container-id> [signal], got %d arguments", c.NArg())
		}
		sigName := "SIGTERM"
		if c.NArg() == 2 {
			sigName = c.Args().Get(1)
		}
		sig, err := spec.ParseSignal(sigName)
		if err != nil {
			return err
		}
		return lifecycle.Kill(options(c), c.Args().First(), sig, c.Bool("all"))
	},
}
