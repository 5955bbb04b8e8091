/* net_connect / net_bind (Landlock TCP port rules) through every spelling: connect by IPv4,
 * by an IPv4-mapped IPv6 address, TCP fast open (sendto/sendmsg with MSG_FASTOPEN, which
 * connects without connect(2)), MPTCP (a TCP socket of another protocol number); bind to a
 * denied port, to port 0, through MPTCP and IPv6; listen on a socket never bound (the kernel
 * would bind an ephemeral port).
 * Usage: netports DENIED_PORT (a port the test listens on at 127.0.0.1, outside both lists).
 * The lists must not contain DENIED_PORT; net_bind must not be empty. */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static socklen_t addr(struct sockaddr_storage *ss, int fam, int port)
{
	memset(ss, 0, sizeof *ss);
	if (fam == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof *a;
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &a->sin6_addr);
	return sizeof *a;
}

enum how { CONNECT, SENDTO_FASTOPEN, SENDMSG_FASTOPEN, BIND };

static void one(const char *name, int fam, int proto, int port, enum how how)
{
	int s = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, proto);
	if (s < 0) {
		if (proto == IPPROTO_MPTCP && (errno == EPROTONOSUPPORT || errno == EINVAL || errno == ENOPROTOOPT))
			ok(name, "no MPTCP on this host (%s)", en(errno));
		else
			error(name, "socket: %s", en(errno));
		return;
	}
	struct sockaddr_storage ss;
	socklen_t l = addr(&ss, fam, port);
	long r;
	struct iovec iov = {.iov_base = "x", .iov_len = 1};
	struct msghdr mh = {.msg_name = &ss, .msg_namelen = l, .msg_iov = &iov, .msg_iovlen = 1};
	switch (how) {
	case CONNECT:
		r = connect(s, (struct sockaddr *)&ss, l);
		break;
	case SENDTO_FASTOPEN:
		r = sendto(s, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&ss, l);
		break;
	case SENDMSG_FASTOPEN:
		r = sendmsg(s, &mh, MSG_FASTOPEN);
		break;
	default:
		r = bind(s, (struct sockaddr *)&ss, l);
	}
	if (r >= 0)
		escaped(name, "port %d: done", port);
	else if (errno == EACCES || errno == EPERM)
		ok(name, "port %d: %s", port, en(errno));
	else
		error(name, "port %d: %s (EACCES expected)", port, en(errno));
	close(s);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: netports DENIED_PORT\n");
		return 2;
	}
	int p = atoi(argv[1]);
	one("ports_connect4", AF_INET, 0, p, CONNECT);
	one("ports_connect_mapped6", AF_INET6, 0, p, CONNECT);
	one("ports_fastopen_sendto4", AF_INET, 0, p, SENDTO_FASTOPEN);
	one("ports_fastopen_sendto6", AF_INET6, 0, p, SENDTO_FASTOPEN);
	one("ports_fastopen_sendmsg4", AF_INET, 0, p, SENDMSG_FASTOPEN);
	one("ports_mptcp_connect4", AF_INET, IPPROTO_MPTCP, p, CONNECT);
	one("ports_mptcp_connect6", AF_INET6, IPPROTO_MPTCP, p, CONNECT);
	one("ports_mptcp_fastopen", AF_INET, IPPROTO_MPTCP, p, SENDTO_FASTOPEN);
	one("ports_bind4", AF_INET, 0, p + 1, BIND);
	one("ports_bind_mapped6", AF_INET6, 0, p + 1, BIND);
	one("ports_bind_zero", AF_INET, 0, 0, BIND);
	one("ports_bind_zero6", AF_INET6, 0, 0, BIND);
	one("ports_mptcp_bind", AF_INET, IPPROTO_MPTCP, p + 1, BIND);
	/* AF_UNSPEC with INADDR_ANY is an AF_INET bind to the kernel (a compatibility path) */
	int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in ua = {.sin_family = AF_UNSPEC, .sin_port = htons(p + 1), .sin_addr.s_addr = htonl(INADDR_ANY)};
	if (bind(u, (struct sockaddr *)&ua, sizeof ua) == 0)
		escaped("ports_bind_unspec", "port %d bound through AF_UNSPEC", p + 1);
	else if (errno == EACCES || errno == EPERM)
		ok("ports_bind_unspec", "%s", en(errno));
	else
		error("ports_bind_unspec", "%s (EACCES expected)", en(errno));
	close(u);
	/* listen(2) on a socket never bound binds an ephemeral port and serves on it */
	int fams[] = {AF_INET, AF_INET6};
	const char *names[] = {"ports_listen_unbound4", "ports_listen_unbound6"};
	for (int i = 0; i < 2; i++) {
		int s = socket(fams[i], SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) {
			error(names[i], "socket: %s", en(errno));
			continue;
		}
		struct sockaddr_storage ss;
		socklen_t l = sizeof ss;
		if (listen(s, 1) == 0) {
			getsockname(s, (struct sockaddr *)&ss, &l);
			escaped(names[i], "listening on ephemeral port %d", ntohs(((struct sockaddr_in *)&ss)->sin_port));
		} else if (errno == EACCES || errno == EPERM)
			ok(names[i], "%s", en(errno));
		else
			error(names[i], "%s (EACCES expected)", en(errno));
		close(s);
	}
	return finish();
}
