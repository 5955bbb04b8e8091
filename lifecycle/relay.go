package lifecycle

import (
	"io"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// relayConsole connects our own stdin/stdout to a container pty master, for `run` and `exec -t`
// in the foreground without a console socket. If stdin is a terminal it is put in raw mode (the
// container's pty does the line discipline) and window size changes are passed on. The returned
// func restores the terminal.
func relayConsole(master *os.File) (stop func()) {
	in := int(os.Stdin.Fd())
	old, err := unix.IoctlGetTermios(in, unix.TCGETS)
	isTTY := err == nil
	if isTTY {
		raw := *old
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		_ = unix.IoctlSetTermios(in, unix.TCSETS, &raw)
		copyWinsize(in, int(master.Fd()))
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	go func() {
		for range winch {
			copyWinsize(in, int(master.Fd()))
		}
	}()
	go func() { _, _ = io.Copy(master, os.Stdin) }()
	done := make(chan struct{})
	go func() { _, _ = io.Copy(os.Stdout, master); close(done) }()
	return func() {
		signal.Stop(winch)
		<-done // the output side ends with EIO once the last slave fd is closed
		if isTTY {
			_ = unix.IoctlSetTermios(in, unix.TCSETS, old)
		}
	}
}

func copyWinsize(from, to int) {
	if ws, err := unix.IoctlGetWinsize(from, unix.TIOCGWINSZ); err == nil {
		_ = unix.IoctlSetWinsize(to, unix.TIOCSWINSZ, ws)
	}
}
