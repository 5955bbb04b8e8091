package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/cowfs"
	"github.com/sandlock/sandlock-runtime/sandbox"
)

// exitBranchConflict is the exit status of a commit refused because another branch changed
// the same workdir paths first (the seed's BranchConflictError); nothing of the layer landed.
const exitBranchConflict = 75

var cowCommand = &cli.Command{
	Name:  "cow",
	Usage: "act on a kept copy-on-write layer (on_exit/on_error KEEP, or a refused commit)",
	Description: `A layer is a directory of fs_storage (default /var/lib/sandlock-runtime/cow, or
~/.local/share/sandlock-runtime/cow for a user), named by the sandbox's id. commit lands it in
its workdir (all or nothing; exit 75 on a branch conflict), abort deletes it, diff lists its
changes (A/M/D PATH, --format json). See docs/sandbox.md.`,
	Subcommands: []*cli.Command{
		{Name: "commit", ArgsUsage: "LAYER-DIR", Usage: "land a kept layer in its workdir", Action: cowAction(func(l *cowfs.Layer, _ *cli.Context) error { return l.Commit(nil) })},
		{Name: "abort", ArgsUsage: "LAYER-DIR", Usage: "discard a kept layer", Action: cowAction(func(l *cowfs.Layer, _ *cli.Context) error { return l.Remove(nil) })},
		{Name: "diff", ArgsUsage: "LAYER-DIR", Usage: "list a kept layer's changes",
			Flags: []cli.Flag{&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"}},
			Action: cowAction(func(l *cowfs.Layer, c *cli.Context) error {
				cs, err := l.Changes()
				if err != nil {
					return err
				}
				return printChanges(c.App.Writer, c.String("format"), cs)
			})},
	},
}

func cowAction(f func(*cowfs.Layer, *cli.Context) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() != 1 {
			return fmt.Errorf("cow %s: needs one LAYER-DIR", c.Command.Name)
		}
		l, err := cowfs.Open(c.Args().First())
		if err != nil {
			return fmt.Errorf("cow %s: %w", c.Command.Name, err)
		}
		if l.Tmpfs {
			return fmt.Errorf("cow %s: %s is on its sandbox's tmpfs (max_disk): the sandbox still runs, or delete --force it first", c.Command.Name, l.Dir)
		}
		err = f(l, c)
		if errors.Is(err, cowfs.ErrBranchConflict) {
			return &codedError{code: exitBranchConflict, err: fmt.Errorf("cow commit: %w", err)}
		}
		return err
	}
}

// dryRun runs the sandbox's command as a dry run and reports its changes.
func dryRun(c *cli.Context, sb *sandbox.Sandbox) error {
	format := c.String("format")
	if format != "text" && format != "json" {
		return fmt.Errorf("sandbox: --format %q: want text or json", format)
	}
	if format == "text" {
		code, changes, err := sb.DryRunInteractive(context.Background(), c.Args().Slice())
		if err != nil {
			return withExecCode(flagNamed(err))
		}
		if err := printChanges(c.App.Writer, format, changes); err != nil {
			return err
		}
		if code != 0 {
			return exitCode(code)
		}
		return nil
	}
	res, err := sb.DryRun(context.Background(), c.Args().Slice())
	if res == nil {
		return withExecCode(flagNamed(err))
	}
	changes := res.Changes
	if changes == nil {
		changes = []sandbox.Change{}
	}
	out := struct {
		ExitCode int              `json:"exit_code"`
		Success  bool             `json:"success"`
		Stdout   string           `json:"stdout"`
		Stderr   string           `json:"stderr"`
		Error    string           `json:"error,omitempty"`
		Changes  []sandbox.Change `json:"changes"`
	}{ExitCode: res.ExitCode, Success: res.Success(), Stdout: string(res.Stdout), Stderr: string(res.Stderr), Changes: changes}
	if err != nil {
		out.Error = err.Error()
	}
	enc := json.NewEncoder(c.App.Writer)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return exitCode(res.ExitCode)
	}
	return nil
}

func printChanges(w io.Writer, format string, cs []cowfs.Change) error {
	if format == "json" {
		if cs == nil {
			cs = []cowfs.Change{}
		}
		return json.NewEncoder(w).Encode(cs)
	}
	if format != "text" {
		return fmt.Errorf("--format %q: want text or json", format)
	}
	for _, ch := range cs {
		if _, err := fmt.Fprintf(w, "%s %s\n", ch.Kind, cowfs.DisplayPath(ch.Path)); err != nil { // the sandbox names them
			return err
		}
	}
	return nil
}
