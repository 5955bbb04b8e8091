/* The reference system's supervisor traps (its tracker's #235 and #249), aimed at ours.
 *
 *   notiftraps eintr HOST FILE CALLS
 *     A thread sends SIGUSR1 to the main thread as fast as it can while the main thread makes
 *     CALLS trapped syscalls (uname answered by the supervisor, chmod performed on behalf). The
 *     handler is installed with SA_RESTART, as a shell's SIGCHLD handler is: an interrupted
 *     notification must be restarted or answered, never turned into EINTR, and every answer
 *     must be right. Prints "eintr=N bad=M signals=S".
 *
 *   notiftraps fifo DIR
 *     A thread opens the FIFO DIR/p for reading, which blocks until a writer comes; meanwhile
 *     the main thread's trapped calls (uname, chmod of DIR/f and of the FIFO itself) must
 *     still be answered: a supervisor that performs such an open on its only thread hangs
 *     the whole container. Then the main thread opens the FIFO for writing, which releases
 *     the reader. alarm(60) turns a hang into "hung" and exit 3. Prints "fifo ok". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static volatile long signals;
static pid_t main_tid;

static void on_usr1(int sig) { (void)sig; signals++; }

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "hung\n";
	if (write(1, msg, sizeof msg - 1) < 0)
		_exit(4);
	_exit(3);
}

static void *storm(void *arg)
{
	(void)arg;
	while (!stop) {
		syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1);
		for (volatile int i = 0; i < 200; i++)
			;
	}
	return NULL;
}

static int eintr(const char *host, const char *file, int calls)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	main_tid = syscall(SYS_gettid);
	pthread_t th;
	pthread_create(&th, NULL, storm, NULL);
	long nintr = 0, bad = 0;
	for (int i = 0; i < calls; i++) {
		struct utsname u;
		memset(&u, 'x', sizeof u);
		if (uname(&u) != 0) {
			if (errno == EINTR)
				nintr++;
			else
				bad++;
		} else if (strcmp(u.nodename, host) != 0)
			bad++;
		if (chmod(file, 0600 | ((i & 1) << 2)) != 0) {
			if (errno == EINTR)
				nintr++;
			else
				bad++;
		}
	}
	stop = 1;
	pthread_join(th, NULL);
	printf("eintr=%ld bad=%ld signals=%s\n", nintr, bad, signals > 0 ? "some" : "none");
	return nintr + bad != 0;
}

static const char *fifo_path;

static void *reader(void *arg)
{
	(void)arg;
	int fd = open(fifo_path, O_RDONLY);
	if (fd < 0) {
		printf("reader open: %s\n", strerror(errno));
		exit(2);
	}
	char c;
	if (read(fd, &c, 1) != 1 || c != 'x') {
		printf("reader read failed\n");
		exit(2);
	}
	close(fd);
	return NULL;
}

static int fifo(const char *dir)
{
	char p[4096], f[4096];
	snprintf(p, sizeof p, "%s/p", dir);
	snprintf(f, sizeof f, "%s/f", dir);
	fifo_path = p;
	signal(SIGALRM, on_alarm);
	alarm(60);
	if (mkfifo(p, 0600) != 0 || close(open(f, O_CREAT | O_WRONLY, 0600)) != 0) {
		printf("setup: %s\n", strerror(errno));
		return 2;
	}
	pthread_t th;
	pthread_create(&th, NULL, reader, NULL);
	usleep(200000); /* let the reader block in its open */
	for (int i = 0; i < 2000; i++) {
		struct utsname u;
		if (uname(&u) != 0 || chmod(f, 0600 | ((i & 1) << 2)) != 0) {
			printf("call %d: %s\n", i, strerror(errno));
			return 1;
		}
	}
	if (chmod(p, 0640) != 0) {
		printf("chmod fifo: %s\n", strerror(errno));
		return 1;
	}
	int fd = open(p, O_WRONLY);
	if (fd < 0 || write(fd, "x", 1) != 1) {
		printf("writer: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	pthread_join(th, NULL);
	printf("fifo ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "eintr") == 0)
		return eintr(argv[2], argv[3], atoi(argv[4]));
	if (argc == 3 && strcmp(argv[1], "fifo") == 0)
		return fifo(argv[2]);
	fprintf(stderr, "usage: notiftraps eintr HOST FILE CALLS | notiftraps fifo DIR\n");
	return 2;
}
