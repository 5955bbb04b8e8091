// Command sandlock-runtime is a runc-compatible OCI runtime that confines containers with
// Landlock, seccomp and seccomp user notification instead of namespaces.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/sandbox"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func init() { cli.VersionPrinter = printVersion }

func main() {
	if sandbox.Reexec() { // the runtime's own init, supervisor and exec proxy: served there
		return
	}
	// The main thread is locked only for the re-executed commands (package sandbox's init):
	// the CLI's commands need no particular thread, and a locked main goroutine is expensive:
	// each time it blocks (a wait, a channel, a blocking syscall) the scheduler hands its P to
	// another thread and wakes this one back with futexes, about 0.8 ms of CPU per `run`.
	app := newApp()
	if err := app.Run(os.Args); err != nil {
		fail(err)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:                   "sandlock-runtime",
		Usage:                  "OCI runtime confining containers with Landlock and seccomp instead of namespaces",
		Version:                version,
		Flags:                  globalFlags(),
		Before:                 setupLogging,
		Commands:               commands(),
		UseShortOptionHandling: false,
		ExitErrHandler:         func(*cli.Context, error) {},
	}
}

// printVersion is --version: the block runc prints, once (the help shows the version alone).
func printVersion(c *cli.Context) {
	fmt.Fprintf(c.App.Writer, "%s version %s\nspec: %s\ngo: %s\n", c.App.Name, version, specVersion(), runtime.Version())
}

// fail reports err the way callers read it, then exits with the code an *exitCode or
// *codedError carries, else 1 (report says where the message goes).
func fail(err error) {
	var ec exitCode
	if errors.As(err, &ec) {
		os.Exit(int(ec))
	}
	report(err)
	var ce *codedError
	if errors.As(err, &ce) {
		os.Exit(ce.code)
	}
	os.Exit(1)
}

// report writes err as one line: a JSON log line where one is read (the last line of the
// --log file for containerd's shim, the file for podman, stderr with --log-format json and no
// file), and a plain "sandlock-runtime: ..." line on stderr for people, unless stderr already
// carries the JSON line.
func report(err error) {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	if logToFile || logJSON {
		logrus.Error(msg)
	}
	if logToFile || !logJSON {
		fmt.Fprintln(os.Stderr, "sandlock-runtime:", msg)
	}
}

// exitCode is returned by run and exec to exit with the container process's code.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// codedError is an error reported like any other, with an exit code of its own (127 for a
// command that does not exist, as shells and podman exit).
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func commands() []*cli.Command {
	return []*cli.Command{
		createCommand, startCommand, runCommand, stateCommand, listCommand, killCommand,
		deleteCommand, execCommand, psCommand, pauseCommand, resumeCommand, specCommand,
		featuresCommand, updateCommand, eventsCommand, profileCommand, sandboxCommand, cowCommand, checkCommand,
		checkpointCommand, restoreCommand,
	}
}
