package lifecycle

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// Run creates and starts a container. Detached, it returns once the program runs; in the
// foreground it forwards signals to init, relays the terminal when there is no console socket,
// waits for init, cleans everything up and returns the exit code (128+N for signal N).
func Run(o *Options, c CreateOpts, detach bool) (int, error) {
	cr, err := create(o, c, !detach)
	if err != nil {
		return -1, err
	}
	cont := cr.cont
	if err := cont.start(); err != nil {
		cr.closeFiles()
		_ = cont.destroy()
		return -1, err
	}
	cr.closeFiles()
	if detach {
		return 0, nil
	}
	return cr.wait()
}

func (cr *creation) wait() (int, error) {
	var stopRelay func()
	if cr.master != nil {
		stopRelay = relayConsole(cr.master)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	go forwardSignals(sigs, cr.init.Process)
	err := cr.init.Wait()
	signal.Stop(sigs)
	close(sigs)
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return -1, err
		}
		code = exitCode(unix.WaitStatus(ee.Sys().(syscall.WaitStatus)))
	}
	if cr.master != nil {
		cr.master.Close()
		stopRelay()
	}
	derr := cr.cont.destroy()
	if cr.sup != nil {
		_, _ = cr.sup.Process.Wait()
	}
	return code, derr
}

func forwardSignals(sigs chan os.Signal, p *os.Process) {
	for s := range sigs {
		if s == unix.SIGCHLD || s == unix.SIGURG || s == unix.SIGWINCH {
			continue
		}
		_ = p.Signal(s)
	}
}
