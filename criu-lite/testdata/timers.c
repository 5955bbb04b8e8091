/* timers: a timerfd ticking every 20 ms drives a counter; a signalfd receives SIGUSR1; a
 * blocked real-time signal carrying the value 42 stays pending from the start. After a restore
 * the ticks go on, and a SIGUSR1 sent to the restored process is read from the signalfd, after
 * which the program takes the pending signal and prints its value ("usr1 rt=42"). */
#define _GNU_SOURCE
#include <poll.h>
#include <time.h>
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
	sigset_t all = m;
	sigaddset(&all, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &all, NULL);
	union sigval v = {.sival_int = 42};
	sigqueue(getpid(), SIGRTMIN + 1, v);
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
				sigset_t rt;
				sigemptyset(&rt);
				sigaddset(&rt, SIGRTMIN + 1);
				siginfo_t info;
				struct timespec zero = {0, 0};
				int got = sigtimedwait(&rt, &info, &zero);
				printf("%ld usr1 rt=%d\n", n, got == SIGRTMIN + 1 ? info.si_value.sival_int : -1);
				fflush(stdout);
			}
		}
	}
}
