/* pipes: a parent and its child joined by a pipe: the child writes numbers into the pipe,
 * the parent reads them and prints them. After a restore both continue and the numbers read
 * go on from where they were (nothing lost in the pipe, nothing repeated). */
#include <stdio.h>
#include <unistd.h>

int main(void) {
	int p[2];
	if (pipe(p) < 0)
		return 1;
	pid_t c = fork();
	if (c == 0) {
		close(p[0]);
		for (long i = 0;; i++) {
			if (write(p[1], &i, sizeof i) != sizeof i)
				return 2;
			usleep(20000);
		}
	}
	close(p[1]);
	for (;;) {
		long v;
		if (read(p[0], &v, sizeof v) != sizeof v)
			return 3;
		printf("%ld ppid-child=%d\n", v, getppid() != 0);
		fflush(stdout);
	}
}
