/* threads: one thread spins (running), one waits on a condition variable (futex), one
 * sleeps; the main thread prints a counter built from all three. After a restore all of them
 * go on: the main thread's numbers continue, and the futex waiter wakes when signalled. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static volatile long spins;
static long wakes;
static long sleeps;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static __thread long tls_marker;

static void *spinner(void *a) {
	tls_marker = 7;
	for (;;) {
		spins++;
		if (tls_marker != 7)
			return NULL;
	}
}

static void *waiter(void *a) {
	pthread_mutex_lock(&mu);
	for (;;) {
		pthread_cond_wait(&cv, &mu);
		wakes++;
	}
}

static void *sleeper(void *a) {
	for (;;) {
		usleep(10000);
		__atomic_add_fetch(&sleeps, 1, __ATOMIC_SEQ_CST);
	}
}

int main(void) {
	pthread_t t1, t2, t3;
	pthread_create(&t1, NULL, spinner, NULL);
	pthread_create(&t2, NULL, waiter, NULL);
	pthread_create(&t3, NULL, sleeper, NULL);
	for (long i = 0;; i++) {
		pthread_mutex_lock(&mu);
		pthread_cond_signal(&cv);
		long w = wakes;
		pthread_mutex_unlock(&mu);
		long s = __atomic_load_n(&sleeps, __ATOMIC_SEQ_CST);
		printf("%ld wakes=%ld sleeps=%ld spinning=%d\n", i, w, s, spins > 0);
		fflush(stdout);
		usleep(20000);
	}
}
