/* The supervisor's memory for sends that wait (the direct mode performs sendmsg on behalf):
 * argv[1] threads each block in a sendmsg of 4 MiB (one buffer, shared: the sandbox's own memory
 * stays small) on a socketpair whose other end is never read. Once every thread is in
 * sendmsg (/proc/self/task/TID/syscall), it prints "blocked N" and waits for stdin to close
 * while the test reads the supervisor's resident memory. */
#include "common.h"
#include <dirent.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define SIZE (4 << 20)

static char *buf;
static int sv[2];

static void *sender(void *arg)
{
	(void)arg;
	struct iovec iov = {buf, SIZE};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	sendmsg(sv[0], &m, 0);
	return NULL;
}

/* in_sendmsg counts this process's threads whose syscall in progress is sendmsg. */
static int in_sendmsg(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[64], s[64];
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "/proc/self/task/%s/syscall", e->d_name);
		if (slurp(p, s, sizeof s) > 0 && atoi(s) == SYS_sendmsg)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	buf = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 2;
	memset(buf, 'a', SIZE);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 << 10);
	for (int i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, &at, sender, NULL) != 0)
			return 2;
	}
	while (in_sendmsg() < n)
		usleep(10000);
	char line[64];
	int m = snprintf(line, sizeof line, "blocked %d\n", n);
	if (write(1, line, m) < 0)
		return 3;
	while (read(0, line, sizeof line) > 0)
		;
	_exit(0); /* the senders are still blocked */
}
