package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/spec"
)

var specCommand = &cli.Command{
	Name:  "spec",
	Usage: "write a starter config.json (its annotations show the sandlock keys)",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "where to write config.json"},
		&cli.BoolFlag{Name: "rootless", Usage: "a config as runc spec --rootless writes it, without the user namespace (the process runs as the caller; creating a container still needs root here)"},
	},
	Action: func(c *cli.Context) error {
		path := filepath.Join(c.String("bundle"), "config.json")
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("file %s exists: remove it first", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		b, err := json.MarshalIndent(spec.Example(c.Bool("rootless")), "", "\t")
		if err != nil {
			return err
		}
		return os.WriteFile(path, append(b, '\n'), 0o644)
	},
}
