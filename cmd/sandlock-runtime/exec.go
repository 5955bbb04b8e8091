package main

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

var execCommand = &cli.Command{
	Name:      "exec",
	Usage:     "run a new process inside a container, under the same confinement as init",
	ArgsUsage: "<container-id> [command args...]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "process.json to run"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once it runs"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the pid to reap here"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pty"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "KEY=VALUE to add"},
		&cli.StringFlag{Name: "cwd", Usage: "working directory"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "uid[:gid]"},
		&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add a capability to the bounding, effective and permitted sets (within the container's bounding set)"},
		&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs for the process"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() < 1 {
			return fmt.Errorf("exec: expects <container-id> [command args...]")
		}
		user, err := parseUser(c.String("user"))
		if err != nil {
			return err
		}
		e := lifecycle.ExecOpts{
			ID: c.Args().First(), ProcessFile: c.String("process"), Args: c.Args().Slice()[1:],
			Env: c.StringSlice("env"), Cwd: c.String("cwd"), User: user, Tty: c.Bool("tty"),
			Detach: c.Bool("detach"), PidFile: c.String("pid-file"), ConsoleSocket: c.String("console-socket"),
			Caps: c.StringSlice("cap"), NoNewPrivs: c.Bool("no-new-privs"),
		}
		code, err := lifecycle.Exec(options(c), e)
		if err != nil {
			return err
		}
		if code != 0 {
			return exitCode(code)
		}
		return nil
	},
}

func parseUser(s string) (*specs.User, error) {
	if s == "" {
		return nil, nil
	}
	uid, gid, hasGID := strings.Cut(s, ":")
	u, err := strconv.ParseUint(uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("--user %q: want uid[:gid] as numbers", s)
	}
	user := &specs.User{UID: uint32(u)}
	if hasGID {
		g, err := strconv.ParseUint(gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user %q: want uid[:gid] as numbers", s)
		}
		user.GID = uint32(g)
	}
	return user, nil
}
