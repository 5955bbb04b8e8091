/* timers: a timerfd ticking every 20 ms drives a counter; a signalfd receives SIGUSR1.
 * After a restore the ticks go on and a SIGUSR1 sent to the restored process is read from the
 * signalfd (printed as "usr1"). */
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

int main(void) {
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigprocmask(SIG_BLOCK, &m, NULL);
	int sfd = signalfd(-1, &m, SFD_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec its = {{0, 20000000}, {0, 20000000}};
	timerfd_settime(tfd, 0, &its, NULL);
	long n = 0;
	for (;;) {
		struct pollfd p[2] = {{tfd, POLLIN, 0}, {sfd, POLLIN, 0}};
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[0].revents & POLLIN) {
			uint64_t t;
			if (read(tfd, &t, sizeof t) == sizeof t) {
				printf("%ld\n", n++);
				fflush(stdout);
			}
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR1) {
				printf("%ld usr1\n", n);
				fflush(stdout);
			}
		}
	}
}
