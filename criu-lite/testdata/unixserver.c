/* unixserver: listens on the unix socket path argv[1] and answers each connection with the
 * number of connections it served so far; it prints a counter meanwhile. After a restore a
 * client connects to the same path and the count goes on. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
	unlink(argv[1]);
	if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0)
		return 1;
	long served = 0;
	for (long i = 0;; i++) {
		struct pollfd p = {l, POLLIN, 0};
		if (poll(&p, 1, 20) > 0) {
			int c = accept(l, NULL, NULL);
			if (c >= 0) {
				char b[32];
				int n = snprintf(b, sizeof b, "served %ld\n", ++served);
				write(c, b, n);
				close(c);
			}
		}
		printf("%ld\n", i);
		fflush(stdout);
	}
}
