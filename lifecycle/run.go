package lifecycle

import (
	"time"

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
	cr, err := launch(o, c, !detach)
	if err != nil {
		return -1, err
	}
	if detach {
		return 0, nil
	}
	cr.keep = c.Keep
	code, err := cr.wait()
	if k := cr.cont.keptLayer; k != "" && c.OnKept != nil && err == nil { // an error names it
		c.OnKept(k)
	}
	return code, err
}

// wait is Run's foreground wait: signals sent to the runtime go to init meanwhile.
func (cr *creation) wait() (int, error) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwarded...)
	go forwardSignals(sigs, cr.init.Process)
	code, err := cr.waitExit()
	signal.Stop(sigs)
	close(sigs)
	t := time.Now()
	err = errors.Join(err, cr.cleanup())
	cr.log.Debugf("run %s: cleanup took %s", cr.cont.ID(), time.Since(t))
	return code, err
}

// waitExit relays the console (if run relays it) until init exits and returns its exit code.
func (cr *creation) waitExit() (int, error) {
	var stopRelay func()
	if cr.master != nil {
		stopRelay = relayConsole(cr.master)
	}
	err := cr.init.Wait()
	if cr.master != nil {
		cr.master.Close()
		stopRelay()
	}
	if err == nil {
		cr.cont.recordExit(0)
		return 0, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return -1, err
	}
	code := exitCode(unix.WaitStatus(ee.Sys().(syscall.WaitStatus)))
	cr.cont.recordExit(code)
	return code, nil
}

// cleanup destroys what is left of the container once init has exited and reaps the
// supervisor (our child while create's process lives on as the foreground caller).
func (cr *creation) cleanup() error {
	if cr.keep {
		// `delete` undoes the rest; the supervisor exits by itself once the container is
		// empty (it is then reparented to the caller's subreaper, as after create).
		return nil
	}
	derr := cr.cont.destroy()
	if cr.sup != nil {
		_, _ = cr.sup.Process.Wait()
	}
	return derr
}

func forwardSignals(sigs chan os.Signal, p *os.Process) {
	for s := range sigs {
		if s == unix.SIGCHLD || s == unix.SIGURG || s == unix.SIGWINCH {
			continue
		}
		_ = p.Signal(s)
	}
}
