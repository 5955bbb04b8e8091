/* make bench, section "supervisor": the cost of one syscall, bare and under `sandbox`.
 *
 *   trapped DIR OUTSIDE_FILE   prints "NAME<TAB>ns per call" for each kind of call:
 *
 *   getppid        never trapped: what the BPF filter alone costs
 *   open_close     openat+close of DIR/f: Landlock's check, no supervisor
 *   uname          trapped and answered by the supervisor (the engine's round trip)
 *   chmod_allowed  chmod of DIR/f: performed on behalf (the metadata path)
 *   chmod_refused  chmod of OUTSIDE_FILE: refused by the supervisor (bare: really done)
 *   readlink       readlink of DIR/l: mediated when the readable set is narrowed
 *   udp_send       send(2) on a connected UDP socket (+ recv): no address, passed on (NotMine)
 *   udp_sendto     sendto(2) with an address (+ recv): performed on behalf
 *   udp_sendmsg    sendmsg(2) on the connected socket (+ recv): performed on behalf */
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

#define MEASURE(name, n, body)                                                 \
	do {                                                                   \
		double t0 = now();                                             \
		for (int i_ = 0; i_ < (n); i_++) {                             \
			body;                                                  \
		}                                                              \
		printf("%s\t%.0f\n", name, (now() - t0) / (n));                \
	} while (0)

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: trapped DIR OUTSIDE_FILE\n");
		return 2;
	}
	char f[4096], l[4096], buf[256];
	snprintf(f, sizeof f, "%s/f", argv[1]);
	snprintf(l, sizeof l, "%s/l", argv[1]);
	close(open(f, O_CREAT | O_WRONLY, 0644));
	unlink(l);
	if (symlink("f", l) != 0)
		perror("symlink");
	struct utsname u;
	int n = atoi(getenv("TRAPPED_N") ? getenv("TRAPPED_N") : "20000");
	MEASURE("getppid", n * 10, syscall(SYS_getppid));
	MEASURE("open_close", n, close(open(f, O_RDONLY)));
	MEASURE("uname", n, uname(&u));
	MEASURE("chmod_allowed", n, chmod(f, 0644));
	MEASURE("chmod_refused", n, chmod(argv[2], 0644));
	MEASURE("readlink", n, readlink(l, buf, sizeof buf));
	int r = socket(AF_INET, SOCK_DGRAM, 0), c = socket(AF_INET, SOCK_DGRAM, 0), d = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (bind(r, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(r, (struct sockaddr *)&a, &al) != 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof a) != 0)
		perror("udp setup");
	struct iovec iov = {.iov_base = "x", .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	MEASURE("udp_send", n, (send(c, "x", 1, 0), recv(r, buf, sizeof buf, 0)));
	MEASURE("udp_sendto", n, (sendto(d, "x", 1, 0, (struct sockaddr *)&a, sizeof a), recv(r, buf, sizeof buf, 0)));
	MEASURE("udp_sendmsg", n, (sendmsg(c, &m, 0), recv(r, buf, sizeof buf, 0)));
	return 0;
}
