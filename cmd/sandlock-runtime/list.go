package main

import (
	"fmt"
	"os"
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
		switch c.String("format") {
		case "json":
			docs := []containerState{}
			for _, cont := range cs {
				docs = append(docs, stateDoc(cont))
			}
			return printJSON(docs)
		case "table":
			return listTable(cs)
		}
		return fmt.Errorf("list: unknown --format %q: want table or json", c.String("format"))
	},
}

func listTable(cs []*lifecycle.Container) error {
	w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
	fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
	for _, cont := range cs {
		d := stateDoc(cont)
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", d.ID, d.Pid, d.Status, d.Bundle, d.Created, d.Owner)
	}
	return w.Flush()
}
