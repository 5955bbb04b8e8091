package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/cowfs"
	"github.com/sandlock/sandlock-runtime/lifecycle"
	"github.com/sandlock/sandlock-runtime/sandbox"
)

// exitBranchConflict is the exit status of a commit refused because another branch changed
// the same workdir paths first (the seed's BranchConflictError); nothing of the layer landed.
const exitBranchConflict = 75

var cowCommand = &cli.Command{
	Name:      "cow",
	Usage:     "list and act on kept copy-on-write layers (on_exit/on_error KEEP, or a refused commit)",
	ArgsUsage: "list | diff LAYER | commit LAYER | abort LAYER",
	Description: `A layer is a directory of fs_storage (default /var/lib/sandlock-runtime/cow, or
~/.local/share/sandlock-runtime/cow for a user), named by its sandbox's or container's id; the
sandbox and run commands print it when they keep one. LAYER is that directory, or the id alone
(looked up in --fs-storage, else the default). list shows the layers there; diff lists a
layer's changes (A/M/D PATH, --format json); commit lands it in its workdir (all or nothing;
exit 75 on a branch conflict, which --force overrides); abort deletes it. commit and abort
refuse a layer whose sandbox or container still has state (delete it first: delete applies
on_exit/on_error). Flags go before LAYER. See docs/sandbox.md.`,
	Subcommands: []*cli.Command{
		{Name: "list", Usage: "list the layers of fs_storage", Flags: []cli.Flag{storageFlag("the fs_storage to list"), formatFlag()}, Action: cowList},
		{Name: "diff", ArgsUsage: "LAYER", Usage: "list a kept layer's changes (A/M/D PATH)", Flags: []cli.Flag{storageFlag("where to look up a LAYER given by id"), formatFlag()},
			Action: cowAction(false, func(l *cowfs.Layer, c *cli.Context) error {
				cs, err := l.Changes()
				if err != nil {
					return err
				}
				return printChanges(c.App.Writer, c.String("format"), cs)
			})},
		{Name: "commit", ArgsUsage: "LAYER", Usage: "land a kept layer in its workdir", Flags: []cli.Flag{storageFlag("where to look up a LAYER given by id"),
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "land it over a branch conflict: the layer's version of each path it changed wins over what others made of it since"}},
			Action: cowAction(true, func(l *cowfs.Layer, c *cli.Context) error {
				if c.Bool("force") {
					return l.CommitOverwrite(nil)
				}
				return l.Commit(nil)
			})},
		{Name: "abort", ArgsUsage: "LAYER", Usage: "discard a kept layer", Flags: []cli.Flag{storageFlag("where to look up a LAYER given by id")},
			Action: cowAction(true, func(l *cowfs.Layer, _ *cli.Context) error { return l.Remove(nil) })},
	},
}

func storageFlag(what string) cli.Flag {
	return &cli.StringFlag{Name: "fs-storage", Usage: what + " (default: " + lifecycle.DefaultCOWStorage() + ")"}
}

func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"}
}

// cowAction runs f on the layer named by the one argument; live: f changes the layer, which
// must not belong to a sandbox or container that still has state.
func cowAction(live bool, f func(*cowfs.Layer, *cli.Context) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		name := "cow " + c.Command.Name
		if err := oneArg(c, name, "LAYER", "LAYER"); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		l, err := cowfs.Open(layerDir(c, c.Args().First()))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if l.Tmpfs {
			return fmt.Errorf("%s: %s is on its sandbox's tmpfs (max_disk): the sandbox still runs, or delete --force it first", name, l.Dir)
		}
		if live {
			if owner := layerOwner(c, l); owner != "" {
				return fmt.Errorf("%s: %s belongs to %s, which still has state (it runs, or a crash left it): `sandlock-runtime --root %s delete --force %s` applies its on_exit/on_error",
					name, l.Dir, owner, filepath.Dir(owner), l.ID)
			}
		}
		err = f(l, c)
		if errors.Is(err, cowfs.ErrBranchConflict) {
			return &codedError{code: exitBranchConflict, err: fmt.Errorf("%s: %w", name, err)}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
}

// layerDir is LAYER as a directory: a path as given, or an id (no '/', not a directory here)
// in --fs-storage or the default storage.
func layerDir(c *cli.Context, arg string) string {
	if strings.Contains(arg, "/") || arg == "." || arg == ".." {
		return arg
	}
	if fi, err := os.Stat(arg); err == nil && fi.IsDir() {
		return arg
	}
	return filepath.Join(cowStorage(c), arg)
}

func cowStorage(c *cli.Context) string {
	if s := c.String("fs-storage"); s != "" {
		return s
	}
	return lifecycle.DefaultCOWStorage()
}

// layerOwner is the state directory of the sandbox or container the layer belongs to, if it
// still exists: under the runtime's --root (containers, sandbox --name) or the sandboxes' state
// root. A layer is kept only once its owner is gone; while the owner runs (or its state
// awaits delete --force after a crash), the layer is not the user's to commit or discard.
func layerOwner(c *cli.Context, l *cowfs.Layer) string {
	for _, root := range []string{c.String("root"), sandbox.DefaultStateRoot()} {
		if root == "" || l.ID == "" || strings.Contains(l.ID, "/") {
			continue
		}
		d := filepath.Join(root, l.ID)
		if fi, err := os.Stat(filepath.Join(d, "state.json")); err == nil && fi.Mode().IsRegular() {
			return d
		}
		if _, err := os.Stat(filepath.Join(d, "cow.json")); err == nil {
			return d
		}
	}
	return ""
}

// layerEntry is one line of cow list.
type layerEntry struct {
	ID      string    `json:"id"`
	Dir     string    `json:"dir"`
	Created time.Time `json:"created"`
	Workdir string    `json:"workdir"`
	Owner   string    `json:"owner,omitempty"` // the state dir of its sandbox or container, while there is one
}

func cowList(c *cli.Context) error {
	if c.NArg() != 0 {
		return fmt.Errorf("cow list: takes no arguments (got %q); --fs-storage DIR chooses where", c.Args().First())
	}
	format := c.String("format")
	if format != "text" && format != "json" {
		return fmt.Errorf("cow list: --format %q: want text or json", format)
	}
	storage := cowStorage(c)
	ents, err := os.ReadDir(storage)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cow list: %w", err)
	}
	list := []layerEntry{}
	for _, e := range ents {
		if !e.IsDir() {
			continue // not a layer
		}
		l, err := cowfs.Open(filepath.Join(storage, e.Name()))
		if err != nil {
			continue // not a layer
		}
		list = append(list, layerEntry{ID: l.ID, Dir: l.Dir, Created: time.Unix(0, l.Start).UTC(), Workdir: l.Workdir, Owner: layerOwner(c, l)})
	}
	if format == "json" {
		return json.NewEncoder(c.App.Writer).Encode(list)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCREATED\tSTATUS\tWORKDIR")
	for _, e := range list {
		status := "kept"
		if e.Owner != "" {
			status = "in use (" + e.Owner + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", e.ID, e.Created.Format(time.RFC3339), status, e.Workdir)
	}
	return w.Flush()
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
		// The command never ran (not found, refused): still one JSON object for the caller
		// that parses stdout, with the exit code the error line on stderr goes with.
		err = withExecCode(flagNamed(err))
		res = &sandbox.DryRunResult{Result: sandbox.Result{ExitCode: 1}}
		var ce *codedError
		if errors.As(err, &ce) {
			res.ExitCode = ce.code
		}
		if werr := writeDryRunJSON(c.App.Writer, res, err); werr != nil {
			return werr
		}
		return err
	}
	if err := writeDryRunJSON(c.App.Writer, res, err); err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return exitCode(res.ExitCode)
	}
	return nil
}

// writeDryRunJSON is --format json's report: the seed's DryRunResult.
func writeDryRunJSON(w io.Writer, res *sandbox.DryRunResult, err error) error {
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
	}{ExitCode: res.ExitCode, Success: res.Success() && err == nil, Stdout: string(res.Stdout), Stderr: string(res.Stderr), Changes: changes}
	if err != nil {
		out.Error = err.Error()
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
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
