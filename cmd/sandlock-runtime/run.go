package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/cowfs"
	"github.com/sandlock/sandlock-runtime/lifecycle"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "create and start a container, wait for it and exit with its code",
	ArgsUsage: "<container-id> | <bundle-dir>",
	Flags: append(createFlags(),
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the program runs"},
		&cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "accepted, no meaning: run never makes itself a subreaper (the container's processes are ended through its cgroup)"},
	),
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		o := createOpts(c, id)
		o.Keep = c.Bool("keep")
		o.OnKept = func(l string) { reportKept(c, l) }
		bundleShortcut(&o, c)
		code, err := lifecycle.Run(options(c), o, c.Bool("detach"))
		if errors.Is(err, cowfs.ErrBranchConflict) { // as sandbox and cow commit
			return &codedError{code: exitBranchConflict, err: err}
		}
		if err != nil {
			return needsRootHint(err)
		}
		if code != 0 {
			return exitCode(code)
		}
		return nil
	},
}

// bundleShortcut makes `run DIR` work when DIR holds a config.json and no --bundle was given:
// the bundle is DIR and the container is named after it.
func bundleShortcut(o *lifecycle.CreateOpts, c *cli.Context) {
	if c.IsSet("bundle") {
		return
	}
	if _, err := os.Stat(filepath.Join(o.ID, "config.json")); err != nil {
		return
	}
	abs, err := filepath.Abs(o.ID)
	if err != nil {
		return
	}
	o.Bundle = abs
	o.ID = filepath.Base(abs)
}
