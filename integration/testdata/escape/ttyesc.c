/* ttyesc: reach the operator's terminal from a container whose stdio is not a terminal.
 * Without its own session, a container process still has the caller's controlling terminal:
 * /dev/tty opens it, TIOCSPGRP makes the container the terminal's foreground group, and a read
 * then takes what the operator types next (the test has typed a line in advance).
 * Harmless if it succeeds: the previous foreground group is put back before exiting. */
#include "common.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>

static void foreground_and_read(int fd)
{
	pid_t old = tcgetpgrp(fd), me = getpgrp();
	if (ioctl(fd, TIOCSPGRP, &me) < 0) {
		ok("tty_foreground", "TIOCSPGRP: %s", en(errno));
		return;
	}
	escaped("tty_foreground", "made pgrp %d the terminal's foreground group (was %d)", me, old);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[128];
	long n = -1;
	if (poll(&p, 1, 3000) == 1)
		n = read(fd, buf, sizeof buf - 1);
	if (n > 0) {
		buf[n] = 0;
		buf[strcspn(buf, "\r\n")] = 0;
		escaped("tty_read", "read the operator's input: %s", buf);
	} else {
		ok("tty_read", "nothing read: %s", n < 0 ? en(errno) : "EOF");
	}
	if (old > 0)
		ioctl(fd, TIOCSPGRP, &old);
}

int main(void)
{
	/* a background group that touches the terminal gets these: ignored, the calls go through */
	signal(SIGTTOU, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		ok("tty_open", "/dev/tty: %s (no controlling terminal)", en(errno));
		return finish();
	}
	escaped("tty_open", "/dev/tty opened the caller's terminal");
	foreground_and_read(fd);
	close(fd);
	return finish();
}
