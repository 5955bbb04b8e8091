package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

// events prints what runc's does: with --stats one stats event, otherwise a stream of stats
// events every --interval and an oom event each time the OOM killer acts in the container, one
// JSON object a line, until the container stops.
var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "print a container's resource statistics and OOM events (JSON, one object a line)",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "stats", Usage: "print the statistics once and exit"},
		&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "time between stats events"},
	},
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		if c.Duration("interval") <= 0 {
			return fmt.Errorf("events --interval %s: accepted: a duration above 0", c.Duration("interval"))
		}
		enc := json.NewEncoder(c.App.Writer)
		if c.Bool("stats") {
			s, err := lifecycle.ContainerStats(options(c), id)
			if err != nil {
				return err
			}
			return enc.Encode(lifecycle.Event{Type: "stats", ID: id, Data: s})
		}
		return lifecycle.Events(options(c), id, c.Duration("interval"), func(e lifecycle.Event) error {
			return enc.Encode(e)
		})
	},
}
