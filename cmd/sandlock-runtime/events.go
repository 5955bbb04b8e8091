package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

// printDenied prints one "denied" event a line for every refusal recorded so far.
func printDenied(c *cli.Context, enc *json.Encoder, id string) error {
	ct, err := lifecycle.Load(options(c).Root, id)
	if err != nil {
		return err
	}
	records, err := ct.Audit()
	if err != nil {
		return err
	}
	for _, r := range records {
		if err := enc.Encode(lifecycle.Event{Type: "denied", ID: id, Data: r}); err != nil {
			return err
		}
	}
	return nil
}

// events prints what runc's does: with --stats one stats event, otherwise a stream of stats
// events every --interval and an oom event each time the OOM killer acts in the container, one
// JSON object a line, until the container stops.
var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "print a container's resource statistics, OOM events and policy refusals (JSON, one object a line)",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "stats", Usage: "print the statistics once and exit"},
		&cli.BoolFlag{Name: "denied", Usage: "print the refusals the supervisor has made for the policy (the audit log) and exit"},
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
		if c.Bool("denied") {
			return printDenied(c, enc, id)
		}
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
