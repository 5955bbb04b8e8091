package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

var listCommand = &cli.Command{
	Name:  "list",
	Usage: "list containers",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only IDs"},
	},
	Action: func(c *cli.Context) error {
		cs, err := lifecycle.List(options(c).Root)
		if err != nil {
			return err
		}
		if c.Bool("quiet") {
			for _, cont := range cs {
				fmt.Println(cont.ID())
			}
			return nil
		}
		root := options(c).Root
		switch c.String("format") {
		case "json":
			docs := []containerState{}
			for _, cont := range cs {
				docs = append(docs, listDoc(root, cont))
			}
			return printJSON(docs)
		case "table":
			return listTable(root, cs)
		}
		return fmt.Errorf("list: unknown --format %q: want table or json", c.String("format"))
	},
}

func listTable(root string, cs []*lifecycle.Container) error {
	w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
	fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
	for _, cont := range cs {
		d := listDoc(root, cont)
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", d.ID, d.Pid, d.Status, d.Bundle, d.Created, d.Owner)
	}
	return w.Flush()
}

// listDoc is a container as list shows it: its state, with the owner runc's list gives (the
// user owning the container's state dir; "#UID" when that uid has no name).
func listDoc(root string, cont *lifecycle.Container) containerState {
	d := stateDoc(cont)
	if d.Owner != "" {
		return d
	}
	fi, err := os.Stat(filepath.Join(root, cont.ID()))
	if err != nil {
		return d
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return d
	}
	uid := strconv.FormatUint(uint64(st.Uid), 10)
	d.Owner = "#" + uid
	if u, err := user.LookupId(uid); err == nil {
		d.Owner = u.Username
	}
	return d
}
