// Command sandlock-runtime is a runc-compatible OCI runtime that confines containers with
// Landlock, seccomp and seccomp user notification instead of namespaces.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func init() {
	// The init subcommand confines the calling thread and execs from it; it must be the main
	// thread, locked before anything else runs. Locking costs nothing for the other commands.
	runtime.LockOSThread()
}

func main() {
	app := newApp()
	if err := app.Run(os.Args); err != nil {
		fail(err)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:                   "sandlock-runtime",
		Usage:                  "OCI runtime confining containers with Landlock and seccomp instead of namespaces",
		Version:                versionString(),
		Flags:                  globalFlags(),
		Before:                 setupLogging,
		Commands:               commands(),
		UseShortOptionHandling: false,
		ExitErrHandler:         func(*cli.Context, error) {},
	}
}

func versionString() string {
	return fmt.Sprintf("%s\nspec: %s\ngo: %s", version, specVersion(), runtime.Version())
}

// fail reports err the way callers read it: the last JSON log line (the shim), the log file
// (podman) and stderr (people), then exits with the code an *exitCode carries, else 1.
func fail(err error) {
	if ec, ok := err.(exitCode); ok {
		os.Exit(int(ec))
	}
	logrus.Error(err)
	if logToFile {
		fmt.Fprintln(os.Stderr, "sandlock-runtime:", err)
	}
	os.Exit(1)
}

// exitCode is returned by run and exec to exit with the container process's code.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func commands() []*cli.Command {
	return []*cli.Command{
		createCommand, startCommand, runCommand, stateCommand, listCommand, killCommand,
		deleteCommand, execCommand, psCommand, pauseCommand, resumeCommand, specCommand,
		featuresCommand, updateCommand, eventsCommand, initCommand, superviseCommand, execProxyCommand, profileCommand, sandboxCommand, checkCommand,
	}
}
