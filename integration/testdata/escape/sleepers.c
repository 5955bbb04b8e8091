/* time_start's on-behalf sleeps en masse (TestEscapeSleepersCPU): N threads each in an
 * absolute clock_nanosleep on CLOCK_REALTIME a long way off, which the supervisor sleeps on
 * their behalf. The threads cost the sandbox no CPU; the supervisor's checks of them must not
 * cost the host more than a few.
 *
 *   sleepers N   prints "sleeping N" once the threads are started, then waits to be killed
 */
#include "common.h"
#include <pthread.h>
#include <time.h>

static void *sleeper(void *arg)
{
	struct timespec ts;
	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1000000;
	for (;;)
		clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0, i;
	pthread_attr_t at;
	pthread_t th;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 << 10);
	for (i = 0; i < n; i++)
		if (pthread_create(&th, &at, sleeper, NULL) != 0)
			break;
	printf("sleeping %d\n", i);
	fflush(stdout);
	for (;;)
		pause();
}
