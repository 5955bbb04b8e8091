package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

// update exists so that `ctr task update` and similar callers get a clear answer: resources are
// accepted at create but not applied (the container's cgroup is used for membership only), so
// changing them cannot be honoured either, and the runtime says so instead of pretending.
var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "refused: resource limits are not applied by this runtime (docs/design.md)",
	ArgsUsage: "<container-id>",
	Flags:     []cli.Flag{&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "accepted for compatibility"}},
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		if _, err := lifecycle.Load(options(c).Root, id); err != nil {
			return err
		}
		return fmt.Errorf("update %s: resource updates are not supported: sandlock-runtime uses the container's cgroup for membership only and applies no resource limits", id)
	},
}
