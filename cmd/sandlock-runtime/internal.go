package main

import (
	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

// The commands below are the runtime's own processes, started by create and exec with their
// fds named by flags. They are hidden: nobody calls them by hand.

var initCommand = &cli.Command{
	Name:   "init",
	Hidden: true,
	Flags:  fdFlags("fd-init", "fd-xs", "fd-zs", "fd-kill"),
	Action: func(c *cli.Context) error {
		return lifecycle.Init(lifecycle.InitFDs{
			Init: c.Int("fd-init"), XS: c.Int("fd-xs"), ZS: c.Int("fd-zs"), Kill: c.Int("fd-kill"),
		})
	},
}

var superviseCommand = &cli.Command{
	Name:   "supervise",
	Hidden: true,
	Flags: append(fdFlags("fd-xs", "fd-zs", "fd-ctl", "fd-pidfd", "fd-ready"),
		&cli.StringFlag{Name: "state-dir"}, &cli.IntFlag{Name: "init-pid"},
		&cli.StringFlag{Name: "cgroup"}, &cli.StringFlag{Name: "hostname"},
		&cli.BoolFlag{Name: "kill-on-init-exit"}),
	Action: func(c *cli.Context) error {
		return lifecycle.Supervise(lifecycle.SuperviseArgs{
			StateDir: c.String("state-dir"), InitPid: c.Int("init-pid"), Cgroup: c.String("cgroup"),
			Hostname: c.String("hostname"), XS: c.Int("fd-xs"), ZS: c.Int("fd-zs"), Ctl: c.Int("fd-ctl"),
			InitPidfd: c.Int("fd-pidfd"), Ready: c.Int("fd-ready"), KillOnInitExit: c.Bool("kill-on-init-exit"),
		})
	},
}

var execProxyCommand = &cli.Command{
	Name:   "exec-proxy",
	Hidden: true,
	Flags:  fdFlags("fd-conn", "fd-pidfd"),
	Action: func(c *cli.Context) error {
		lifecycle.ExecProxy(c.Int("fd-conn"), c.Int("fd-pidfd"))
		return nil
	},
}

func fdFlags(names ...string) []cli.Flag {
	var fs []cli.Flag
	for _, n := range names {
		fs = append(fs, &cli.IntFlag{Name: n, Value: -1})
	}
	return fs
}
