package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/spec"
)

var profileCommand = &cli.Command{
	Name:  "profile",
	Usage: "list the sandlock policy profiles, or show one merged with the defaults",
	Description: `Profiles are TOML files NAME.toml in /etc/sandlock/profiles and
$XDG_CONFIG_HOME/sandlock/profiles (~/.config/sandlock/profiles), the user's winning on a
name clash. A container selects one with the annotation io.sandlock.profile: NAME.
See docs/policy.md.`,
	Flags: []cli.Flag{profileDirFlag()},
	Subcommands: []*cli.Command{
		{
			Name:      "list",
			Usage:     "print the profile names, one a line",
			ArgsUsage: " ",
			Flags:     []cli.Flag{profileDirFlag()},
			Action: func(c *cli.Context) error {
				if c.Args().Present() {
					return fmt.Errorf("profile list: takes no arguments")
				}
				store := profileStore(c)
				names, err := store.List()
				if err != nil {
					return err
				}
				if len(names) == 0 {
					fmt.Fprintf(c.App.ErrWriter, "sandlock-runtime: no profiles in %s (make install puts the shipped ones in %s)\n",
						strings.Join(store.Dirs, ", "), spec.SystemProfileDir)
				}
				for _, n := range names {
					fmt.Fprintln(c.App.Writer, n)
				}
				return nil
			},
		},
		{
			Name:      "show",
			Usage:     "print profile NAME merged with the defaults, as TOML",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{profileDirFlag()},
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return fmt.Errorf("profile show: needs exactly one profile NAME")
				}
				p, err := profileStore(c).Load(c.Args().First())
				if err != nil {
					return err
				}
				b, err := spec.DefaultPolicy().Merge(p).TOML()
				if err != nil {
					return err
				}
				_, err = c.App.Writer.Write(b)
				return err
			},
		},
	},
}

// profileDirFlag is --dir, on `profile` and on each of its subcommands: `profile list --dir D`
// is how people type it (and how `sandbox --profile N --dir D` reads), `profile --dir D list`
// how the urfave/cli layout would have it; both work.
func profileDirFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "dir", Usage: "search `DIR` instead of the default directories (repeatable; later ones win)"}
}

// profileStore is the store `profile` searches: --dir (given on the subcommand, else on
// `profile`) or the defaults.
func profileStore(c *cli.Context) spec.ProfileStore {
	for _, ctx := range c.Lineage() {
		if dirs := ctx.StringSlice("dir"); len(dirs) > 0 {
			return spec.ProfileStore{Dirs: dirs}
		}
	}
	return spec.DefaultProfileStore()
}
