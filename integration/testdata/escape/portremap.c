/* port_remap (docs/policy.md): the sandbox binds TCP PORT while the host already listens on
 * 127.0.0.1:PORT (greeting 'H'). The bind must work (the supervisor binds a free real port),
 * and inside the sandbox everything must show the virtual port: getsockname, getpeername of a
 * loopback connection, /proc/net/tcp; a loopback connect to PORT reaches the sandbox's own
 * listener (greeting 'I'), not the host's.
 *
 *   portremap PORT [denied]
 *
 * "denied": the policy's net_bind does not list PORT: the bind must be refused (EACCES). */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

static int port;

static void *server(void *arg)
{
	int ln = *(int *)arg;
	for (;;) {
		int c = accept(ln, NULL, NULL);
		if (c < 0)
			return NULL;
		if (write(c, "I", 1) < 0) {
		}
		close(c);
	}
}

/* a LISTEN line of /proc/net/tcp with local address 0.0.0.0:PORT */
static int proc_shows(void)
{
	char want[32], line[512];
	snprintf(want, sizeof want, "00000000:%04X", port);
	FILE *f = fopen("/proc/net/tcp", "r");
	if (!f)
		return -1;
	int found = 0;
	while (fgets(line, sizeof line, f)) {
		char local[64], remote[64], st[8];
		if (sscanf(line, "%*s %63s %63s %7s", local, remote, st) == 3 && strcmp(local, want) == 0 &&
		    strcmp(st, "0A") == 0)
			found = 1;
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	dup2(1, 2);
	if (argc < 2) {
		error("usage", "portremap PORT [denied]");
		return finish();
	}
	port = atoi(argv[1]);
	int ln = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int r = bind(ln, (struct sockaddr *)&sa, sizeof sa);
	if (argc > 2 && strcmp(argv[2], "denied") == 0) {
		if (r == 0)
			escaped("bind_denied", "net_bind does not list %d, the bind worked", port);
		else if (errno == EACCES)
			ok("bind_denied", "%s", en(errno));
		else
			error("bind_denied", "unexpected %s", en(errno));
		return finish();
	}
	if (r < 0 || listen(ln, 16) < 0) {
		error("bind", "bind %d: %s", port, en(errno));
		return finish();
	}
	ok("bind", "bound %d while the host listens on it", port);
	struct sockaddr_in got;
	socklen_t len = sizeof got;
	if (getsockname(ln, (struct sockaddr *)&got, &len) == 0 && ntohs(got.sin_port) == port)
		ok("getsockname", "%d", port);
	else
		error("getsockname", "shows %d, want %d", ntohs(got.sin_port), port);
	pthread_t th;
	pthread_create(&th, NULL, server, &ln);

	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char g = 0;
	if (connect(c, (struct sockaddr *)&lo, sizeof lo) == 0 && read(c, &g, 1) == 1 && g == 'I')
		ok("loopback_connect", "reached the sandbox's own listener");
	else
		error("loopback_connect", "greeting %c (%s): want the sandbox's own listener", g ? g : '-', en(errno));
	len = sizeof got;
	if (getpeername(c, (struct sockaddr *)&got, &len) == 0 && ntohs(got.sin_port) == port)
		ok("getpeername", "%d", port);
	else
		error("getpeername", "shows %d, want %d", ntohs(got.sin_port), port);
	close(c);
	int shown = proc_shows();
	if (shown == 1)
		ok("proc_net_tcp", "lists 0.0.0.0:%d listening", port);
	else
		error("proc_net_tcp", "no listening 0.0.0.0:%d (%d)", port, shown);
	return finish();
}
