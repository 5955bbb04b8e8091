/* clocks.c: every way a program reads the wall clock, for the time_start tests
 * (integration/timeshift_test.go). Built static with gcc at test time.
 *
 *   clocks read    one line per spelling: "NAME SECONDS", or "NAME refused ERRNO" when the
 *                  call failed, or "NAME n/a" (an i386 call on a host without an i386 entry,
 *                  the vsyscall page where the kernel does not map it)
 *   clocks family  read, then the same from a forked child and from an exec of itself
 *   clocks sleep   absolute deadlines one second ahead on CLOCK_REALTIME: clock_nanosleep,
 *                  timerfd_settime, timer_settime, pthread_cond_timedwait and sem_timedwait
 *                  (futex); "NAME waited MS" (monotonic milliseconds); a caught signal
 *                  during an absolute sleep 30 s ahead: "nanosleep_signal interrupted MS";
 *                  then the condition
 *                  variable waited on again with the same, past, deadline: "cond_retry
 *                  timedout" (a deadline translated twice would wait for years: alarm(60)
 *                  ends the program then)
 *   clocks tick    forever, every 50 ms: "N SECONDS" (clock_gettime(CLOCK_REALTIME), the vDSO),
 *                  for the checkpoint and restore test */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void out(const char *name, long r, long sec)
{
	if (r < 0)
		printf("%s refused %ld\n", name, -r);
	else
		printf("%s %ld\n", name, sec);
}

static long sys_ret(long r)
{
	return r < 0 ? -errno : r;
}

/* int80 makes an i386 syscall from 64-bit code. The arguments point below 4 GiB (static
 * buffers of a non-PIE static binary). */
static long int80(long nr, long a, long b)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

/* has_i386: int 0x80 reaches the i386 table here (some hosts kill the caller with SIGSEGV). */
static int has_i386(void)
{
	pid_t p = fork();
	int st;
	if (p == 0) {
		int80(20, 0, 0); /* getpid */
		_exit(0);
	}
	if (p < 0 || waitpid(p, &st, 0) < 0)
		return 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static struct { int32_t sec, nsec; } ts32;
static struct { int64_t sec, nsec; } ts64;
static struct { int32_t sec, usec; } tv32;
static int32_t t32;

static void read_i386(void)
{
	if (!has_i386()) {
		printf("i386_clock_gettime n/a\ni386_clock_gettime64 n/a\ni386_gettimeofday n/a\ni386_time n/a\n");
		return;
	}
	long r = int80(265, CLOCK_REALTIME, (long)&ts32); /* read before printing: argument order */
	out("i386_clock_gettime", r, ts32.sec);
	r = int80(403, CLOCK_REALTIME, (long)&ts64);
	out("i386_clock_gettime64", r, ts64.sec);
	r = int80(78, (long)&tv32, 0);
	out("i386_gettimeofday", r, tv32.sec);
	r = int80(13, (long)&t32, 0);
	out("i386_time", r, t32);
}

/* read_vsyscall calls the legacy vsyscall page's time and gettimeofday at their fixed
 * addresses, when the kernel maps it executable (vsyscall=xonly or emulate: the kernel
 * emulates the call, seccomp included). */
static void read_vsyscall(void)
{
	char line[256];
	int mapped = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof line, f))
		if (strstr(line, "[vsyscall]") && strstr(line, "x"))
			mapped = 1;
	if (f)
		fclose(f);
	if (!mapped) {
		printf("vsyscall_time n/a\nvsyscall_gettimeofday n/a\n");
		return;
	}
	time_t (*vtime)(time_t *) = (time_t (*)(time_t *))0xffffffffff600400UL;
	int (*vgtod)(struct timeval *, void *) = (int (*)(struct timeval *, void *))0xffffffffff600000UL;
	struct timeval tv = {0};
	long t = vtime(NULL);
	out("vsyscall_time", t < 0 ? t : 0, t);
	long r = vgtod(&tv, NULL);
	out("vsyscall_gettimeofday", r, tv.tv_sec);
}

static void read_all(void)
{
	struct timespec ts;
	struct timeval tv;
	time_t t = 0;
	long r;

	r = clock_gettime(CLOCK_REALTIME, &ts); /* the vDSO */
	out("vdso_clock_gettime", r < 0 ? -errno : 0, ts.tv_sec);
	r = clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	out("vdso_clock_gettime_coarse", r < 0 ? -errno : 0, ts.tv_sec);
	r = clock_gettime(CLOCK_TAI, &ts);
	out("vdso_clock_gettime_tai", r < 0 ? -errno : 0, ts.tv_sec);
	r = gettimeofday(&tv, NULL);
	out("vdso_gettimeofday", r < 0 ? -errno : 0, tv.tv_sec);
	out("vdso_time", 0, time(NULL));
	r = sys_ret(syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts));
	out("sys_clock_gettime", r, ts.tv_sec);
	r = sys_ret(syscall(SYS_clock_gettime, CLOCK_REALTIME_COARSE, &ts));
	out("sys_clock_gettime_coarse", r, ts.tv_sec);
	r = sys_ret(syscall(SYS_clock_gettime, CLOCK_TAI, &ts));
	out("sys_clock_gettime_tai", r, ts.tv_sec);
	/* the kernel reads a clockid_t (an int): high bits set are still CLOCK_REALTIME */
	r = sys_ret(syscall(SYS_clock_gettime, 0x100000000L | CLOCK_REALTIME, &ts));
	out("sys_clock_gettime_highbits", r, ts.tv_sec);
	r = sys_ret(syscall(SYS_gettimeofday, &tv, NULL));
	out("sys_gettimeofday", r, tv.tv_sec);
	r = sys_ret(syscall(SYS_time, &t));
	out("sys_time", r < 0 ? r : 0, t);
	read_vsyscall();
	read_i386();
	fflush(stdout);
}

static long now_ms(void)
{
	struct timespec m;
	clock_gettime(CLOCK_MONOTONIC, &m);
	return m.tv_sec * 1000 + m.tv_nsec / 1000000;
}

static struct timespec one_second_ahead(void)
{
	struct timespec d;
	clock_gettime(CLOCK_REALTIME, &d);
	d.tv_sec += 1;
	return d;
}

static void on_signal(int sig)
{
	(void)sig;
}

static void sleeps(void)
{
	long t0 = now_ms();
	struct timespec d = one_second_ahead();
	int r;
	while ((r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &d, NULL)) == EINTR)
		;
	printf("clock_nanosleep %s %ld\n", r ? "refused" : "waited", r ? r : now_ms() - t0);

	/* a caught signal ends an absolute sleep with EINTR, as in the kernel */
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	sigaction(SIGUSR2, &sa, NULL);
	pid_t kid = fork();
	if (kid == 0) {
		sleep(1);
		kill(getppid(), SIGUSR2);
		_exit(0);
	}
	t0 = now_ms();
	d = one_second_ahead();
	d.tv_sec += 29;
	r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &d, NULL);
	printf("nanosleep_signal %s %ld\n", r == EINTR ? "interrupted" : "completed", now_ms() - t0);
	waitpid(kid, NULL, 0);

	t0 = now_ms();
	int fd = timerfd_create(CLOCK_REALTIME, 0);
	struct itimerspec its = {.it_value = one_second_ahead()};
	uint64_t n;
	if (fd < 0 || timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0 || read(fd, &n, 8) != 8)
		printf("timerfd_settime refused %d\n", errno);
	else
		printf("timerfd_settime waited %ld\n", now_ms() - t0);

	t0 = now_ms();
	timer_t tid;
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	its.it_value = one_second_ahead();
	int sig;
	if (timer_create(CLOCK_REALTIME, &ev, &tid) < 0 || timer_settime(tid, TIMER_ABSTIME, &its, NULL) < 0 || sigwait(&set, &sig) != 0)
		printf("timer_settime refused %d\n", errno);
	else
		printf("timer_settime waited %ld\n", now_ms() - t0);

	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER; /* CLOCK_REALTIME: futex WAIT_BITSET|CLOCK_REALTIME */
	pthread_mutex_lock(&mu);
	t0 = now_ms();
	d = one_second_ahead();
	while ((r = pthread_cond_timedwait(&cv, &mu, &d)) == 0)
		;
	printf("cond_timedwait %s %ld\n", r == ETIMEDOUT ? "waited" : "refused", r == ETIMEDOUT ? now_ms() - t0 : r);
	r = pthread_cond_timedwait(&cv, &mu, &d);
	printf("cond_retry %s\n", r == ETIMEDOUT ? "timedout" : "refused");
	pthread_mutex_unlock(&mu);

	sem_t sem;
	sem_init(&sem, 0, 0);
	t0 = now_ms();
	d = one_second_ahead();
	while ((r = sem_timedwait(&sem, &d)) < 0 && errno == EINTR)
		;
	printf("sem_timedwait %s %ld\n", r < 0 && errno == ETIMEDOUT ? "waited" : "refused", now_ms() - t0);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* every line out before a hang or a kill */
	if (argc < 2) {
		fprintf(stderr, "usage: clocks read|family|sleep|tick\n");
		return 2;
	}
	if (!strcmp(argv[1], "read")) {
		read_all();
		return 0;
	}
	if (!strcmp(argv[1], "tick")) {
		for (long i = 0;; i++) {
			struct timespec t, nap = {0, 50000000};
			clock_gettime(CLOCK_REALTIME, &t);
			printf("%ld %ld\n", i, (long)t.tv_sec);
			fflush(stdout);
			nanosleep(&nap, NULL);
		}
	}
	if (!strcmp(argv[1], "sleep")) {
		alarm(60);
		sleeps();
		return 0;
	}
	if (strcmp(argv[1], "family"))
		return 2;
	printf("# self\n");
	read_all();
	pid_t p = fork();
	if (p == 0) {
		printf("# fork\n");
		read_all();
		_exit(0);
	}
	waitpid(p, NULL, 0);
	printf("# exec\n");
	fflush(stdout);
	execl("/proc/self/exe", argv[0], "read", (char *)NULL);
	printf("exec refused %d\n", errno);
	return 1;
}
