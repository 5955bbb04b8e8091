package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

var psCommand = &cli.Command{
	Name:      "ps",
	Usage:     "list the processes of a container",
	ArgsUsage: "<container-id> [ps options]",
	Flags:     []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"}},
	Action: func(c *cli.Context) error {
		if c.NArg() < 1 {
			return fmt.Errorf("ps: expects <container-id> [ps options]")
		}
		o, id := options(c), c.Args().First()
		switch c.String("format") {
		case "json":
			pids, err := lifecycle.Pids(o, id)
			if err != nil {
				return err
			}
			return printJSON(pids)
		case "table":
			out, err := lifecycle.PsTable(o, id, c.Args().Slice()[1:])
			if err != nil {
				return err
			}
			fmt.Print(out)
			return nil
		}
		return fmt.Errorf("ps: unknown --format %q: want table or json", c.String("format"))
	},
}
