package main

import (
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "root", Value: lifecycle.DefaultRoot(), Usage: "root directory for container state"},
		&cli.StringFlag{Name: "log", Usage: "log file (default: stderr)"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
		&cli.BoolFlag{Name: "debug", Usage: "debug logging"},
		&cli.BoolFlag{Name: "systemd-cgroup", Usage: "systemd cgroup driver: cgroupsPath is slice:prefix:name, the container is a scope in that slice (registered with systemd over D-Bus when systemd runs)"},
		&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "accepted for compatibility (true|false|auto)"},
		&cli.StringFlag{Name: "criu", Hidden: true, Usage: "accepted, no meaning: checkpoint and restore use criu-lite, no CRIU binary"},
	}
}

// logToFile and logJSON say where report writes an error (--log FILE, --log-format json).
var logToFile, logJSON bool

func setupLogging(c *cli.Context) error {
	logrus.SetOutput(os.Stderr)
	logrus.SetLevel(logrus.WarnLevel)
	if c.Bool("debug") {
		logrus.SetLevel(logrus.DebugLevel)
	}
	switch c.String("log-format") {
	case "json":
		logrus.SetFormatter(&logrus.JSONFormatter{})
		logJSON = true
	case "text", "":
		logrus.SetFormatter(plainFormatter{})
		if c.String("log") != "" {
			logrus.SetFormatter(&logrus.TextFormatter{DisableColors: true})
		}
	default:
		return fmt.Errorf("unknown --log-format %q: want text or json", c.String("log-format"))
	}
	if c.String("log") == "" && !c.Bool("debug") && stdioIsContainers(c.Args().First()) {
		// create, run and exec hand their own stdio to the container: without a log file,
		// nothing but a failure may be written there.
		logrus.SetLevel(logrus.ErrorLevel)
	}
	if p := c.String("log"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("open log %s: %w", p, err)
		}
		logrus.SetOutput(f)
		logToFile = true
	}
	return nil
}

func options(c *cli.Context) *lifecycle.Options {
	return &lifecycle.Options{
		Root:      c.String("root"),
		LogPath:   c.String("log"),
		LogFormat: c.String("log-format"),
		Debug:     c.Bool("debug"),

		SystemdCgroup: c.Bool("systemd-cgroup"),
	}
}

// oneID returns the single container ID argument.
func oneID(c *cli.Context) (string, error) {
	if err := oneArg(c, c.Command.Name, "container ID", "ID"); err != nil {
		return "", fmt.Errorf("%s: %w", c.Command.Name, err)
	}
	return c.Args().First(), nil
}

// oneArg checks for exactly one positional argument, naming a flag given after it (the
// command line parser stops at the first argument: `cow diff L --format json` would take
// --format for a second LAYER).
func oneArg(c *cli.Context, cmd, what, token string) error {
	args := c.Args().Slice()
	for _, a := range args[min(1, len(args)):] {
		if strings.HasPrefix(a, "-") {
			return fmt.Errorf("%s after the %s: flags go before it (%s %s [flags] %s)", a, what, c.App.Name, cmd, token)
		}
	}
	if len(args) != 1 {
		return fmt.Errorf("needs exactly one %s, got %d arguments", what, len(args))
	}
	return nil
}

func specVersion() string { return specs.Version }

func stdioIsContainers(cmd string) bool {
	return cmd == "create" || cmd == "run" || cmd == "exec"
}

// plainFormatter writes log lines for people on stderr, as the command line tools beside us
// do: "sandlock-runtime: warning: ...", without timestamps or quoting.
type plainFormatter struct{}

func (plainFormatter) Format(e *logrus.Entry) ([]byte, error) {
	level := e.Level.String() + ": "
	if e.Level <= logrus.ErrorLevel {
		level = ""
	}
	return fmt.Appendf(nil, "sandlock-runtime: %s%s\n", level, strings.ReplaceAll(e.Message, "\n", "; ")), nil
}
