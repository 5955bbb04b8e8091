/* counter: prints an incrementing number forever; after a restore the numbers continue.
 * With an argument it first opens that path and tries unshare(CLONE_NEWNS), and prints the
 * errno of each attempt, so a test can see the restored program is still confined (Landlock
 * and seccomp). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	char *heap = malloc(64);
	for (long i = 0;; i++) {
		snprintf(heap, 64, "%ld", i);
		if (argc > 1) {
			int fd = open(argv[1], O_RDONLY);
			int oe = fd < 0 ? errno : 0;
			int ue = unshare(CLONE_NEWNS) < 0 ? errno : 0; /* seccomp denies it in a container */
			printf("%s open=%d unshare=%d\n", heap, oe, ue);
			if (fd >= 0)
				close(fd);
		} else {
			printf("%s\n", heap);
		}
		fflush(stdout);
		usleep(20000);
		char *more = malloc(1000); /* brk grows across the restore */
		more[0] = 1;
	}
}
