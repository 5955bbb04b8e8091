/* sockpair: a parent and its child joined by a socketpair: the child sends numbers, the
 * parent prints them and answers; after a restore both go on over the same pair. */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 1;
	if (fork() == 0) {
		close(sv[0]);
		for (long i = 0;; i++) {
			long ack;
			if (write(sv[1], &i, sizeof i) != sizeof i || read(sv[1], &ack, sizeof ack) != sizeof ack || ack != i)
				return 2;
			usleep(20000);
		}
	}
	close(sv[1]);
	for (;;) {
		long v;
		if (read(sv[0], &v, sizeof v) != sizeof v)
			return 3;
		printf("%ld\n", v);
		fflush(stdout);
		if (write(sv[0], &v, sizeof v) != sizeof v)
			return 4;
	}
}
