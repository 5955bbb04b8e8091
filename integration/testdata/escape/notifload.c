/* The supervisor under load: THREADS threads each make CALLS trapped syscalls (uname, answered
 * by the supervisor with the sandbox's hostname, and a mediated chmod in a writable
 * directory) and check every answer. A lost reply hangs (the test's timeout), a wrong or
 * duplicated one shows as a bad answer.
 *
 *   notifload HOSTNAME FILE THREADS CALLS   prints "calls=N bad=M" */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

static const char *host, *file;
static int calls;
static long bad_total, done_total;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	long bad = 0, done = 0;
	unsigned mode_bit = (unsigned)(long)arg & 1;
	for (int i = 0; i < calls; i++) {
		struct utsname u;
		memset(&u, 'x', sizeof u);
		if (uname(&u) != 0 || strcmp(u.nodename, host) != 0)
			bad++;
		if (i % 8 == 0 && chmod(file, 0600 | (mode_bit << 2)) != 0)
			bad++;
		done++;
	}
	pthread_mutex_lock(&mu);
	bad_total += bad;
	done_total += done;
	pthread_mutex_unlock(&mu);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: notifload HOSTNAME FILE THREADS CALLS\n");
		return 2;
	}
	host = argv[1];
	file = argv[2];
	int n = atoi(argv[3]);
	calls = atoi(argv[4]);
	pthread_t th[256];
	for (long i = 0; i < n && i < 256; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (int i = 0; i < n && i < 256; i++)
		pthread_join(th[i], NULL);
	printf("calls=%ld bad=%ld\n", done_total, bad_total);
	return bad_total != 0;
}
