/* no_network (a network namespace without a path, --no-network, spec.Policy.NoNetwork): no
 * network at all. Every socket family but AF_UNIX, every type, socketpair, the i386 socket
 * syscall and socketcall; and the host's abstract unix sockets, which a network namespace
 * would hide (they live in the network namespace), even without an ipc namespace or
 * isolate_ipc. Usage: nonet ABSTRACT [own] (the test listens on @ABSTRACT and @ABSTRACT-dgram).
 * Unix socketpairs still work, and with "own" the process's own abstract sockets (not in the
 * direct mode, where the supervisor performs connects and refuses every abstract address). */
#include "common.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

static int abstract_addr(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	size_t n = strlen(name);
	memcpy(a->sun_path + 1, name, n);
	return offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

/* every family but AF_UNIX, every type 1-10, with and without a protocol */
static void families(void)
{
	char opened[512] = "";
	size_t used = 0;
	for (int f = 0; f <= 45; f++) {
		if (f == AF_UNIX)
			continue;
		for (int t = 1; t <= 10; t++) {
			int protos[] = {0, IPPROTO_TCP, IPPROTO_UDP, 262 /* MPTCP */, IPPROTO_SCTP};
			for (size_t p = 0; p < sizeof protos / sizeof *protos; p++) {
				int fd = socket(f, t | SOCK_CLOEXEC, protos[p]);
				if (fd >= 0) {
					close(fd);
					if (used < sizeof opened - 32)
						used += snprintf(opened + used, sizeof opened - used, " %d/%d/%d", f, t, protos[p]);
				}
			}
		}
	}
	if (used)
		escaped("nonet_families", "opened family/type/proto:%s", opened);
	else
		ok("nonet_families", "every family but AF_UNIX refused");
}

static void pairs(void)
{
	int sv[2], got = 0;
	for (int f = 0; f <= 45; f++)
		for (int t = 1; t <= 5; t++)
			if (f != AF_UNIX && socketpair(f, t, 0, sv) == 0) {
				got = f;
				close(sv[0]);
				close(sv[1]);
			}
	if (got)
		escaped("nonet_socketpair", "socketpair family %d", got);
	else
		ok("nonet_socketpair", "refused");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0)
		ok("nonet_unix_socketpair_works", "AF_UNIX socketpair");
	else
		error("nonet_unix_socketpair_works", "%s (AF_UNIX must still work)", en(errno));
}

static unsigned int sockargs[3]; /* below 4 GiB: -no-pie */

static void i386_sockets(void)
{
	if (!i386_live() && !no_i386) {
		error("i386:nonet_socket", "no i386 entry point but ESC_NO_I386 unset");
		return;
	}
	long r = int80(359 /* socket */, AF_INET, SOCK_STREAM, 0, 0, 0, 0);
	if (r >= 0)
		escaped("i386:nonet_socket", "socket(AF_INET) through int 0x80: fd %ld", r);
	else
		ok("i386:nonet_socket", "%s", en(-r));
	sockargs[0] = AF_INET6;
	sockargs[1] = SOCK_DGRAM;
	sockargs[2] = 0;
	r = int80(102 /* socketcall */, 1 /* SYS_SOCKET */, (long)sockargs, 0, 0, 0, 0);
	if (r >= 0)
		escaped("i386:nonet_socketcall", "socketcall(SYS_SOCKET, AF_INET6): fd %ld", r);
	else
		ok("i386:nonet_socketcall", "%s", en(-r));
	r = int80(360 /* socketpair */, AF_INET, SOCK_STREAM, 0, (long)sockargs, 0, 0);
	if (r >= 0)
		escaped("i386:nonet_socketpair", "socketpair(AF_INET) through int 0x80");
	else
		ok("i386:nonet_socketpair", "%s", en(-r));
}

/* the host's abstract sockets: connect, sendto, sendmsg, sendmmsg */
static void abstract(const char *name)
{
	struct sockaddr_un a;
	socklen_t len = abstract_addr(&a, name);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(s, (struct sockaddr *)&a, len) == 0)
		escaped("nonet_abstract_connect", "connected to the host's @%s", name);
	else if (errno == EPERM)
		ok("nonet_abstract_connect", "@%s: EPERM", name);
	else
		error("nonet_abstract_connect", "@%s: %s (the test listens there: EPERM expected)", name, en(errno));
	close(s);

	char dg[120];
	snprintf(dg, sizeof dg, "%s-dgram", name);
	len = abstract_addr(&a, dg);
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct iovec iov = {.iov_base = "escaped", .iov_len = 7};
	struct msghdr mh = {.msg_name = &a, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1};
	struct mmsghdr mm = {.msg_hdr = mh};
	struct {
		const char *name;
		long r;
	} sends[] = {
		{"nonet_abstract_sendto", sendto(s, "escaped", 7, 0, (struct sockaddr *)&a, len)},
		{"nonet_abstract_sendmsg", sendmsg(s, &mh, 0)},
		{"nonet_abstract_sendmmsg", sendmmsg(s, &mm, 1, 0)},
	};
	for (size_t i = 0; i < sizeof sends / sizeof *sends; i++) {
		if (sends[i].r >= 0)
			escaped(sends[i].name, "sent a datagram to the host's @%s", dg);
		else if (errno == EPERM)
			ok(sends[i].name, "@%s: EPERM", dg);
		else
			error(sends[i].name, "@%s: %s (EPERM expected)", dg, en(errno));
	}
	close(s);
}

/* an abstract socket of the sandbox's own still works */
static void own_abstract(void)
{
	char name[64];
	snprintf(name, sizeof name, "sandlock-nonet-own-%d", getpid());
	struct sockaddr_un a;
	socklen_t len = abstract_addr(&a, name);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(l, (struct sockaddr *)&a, len) < 0 || listen(l, 1) < 0) {
		error("nonet_own_abstract_works", "bind/listen: %s", en(errno));
		return;
	}
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(c, (struct sockaddr *)&a, len) == 0)
		ok("nonet_own_abstract_works", "connected to its own @%s", name);
	else
		error("nonet_own_abstract_works", "%s (its own abstract socket must work)", en(errno));
	close(c);
	close(l);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: nonet ABSTRACT\n");
		return 2;
	}
	families();
	pairs();
	i386_sockets();
	abstract(argv[1]);
	if (argc > 2 && strcmp(argv[2], "own") == 0)
		own_abstract();
	long r = RAW(SYS_io_uring_setup, 1, NULL);
	if (r == -EPERM || r == -ENOSYS)
		ok("nonet_io_uring", "%s", en(-r));
	else
		escaped("nonet_io_uring", "io_uring_setup: %ld (a ring's sockets skip seccomp)", r);
	return finish();
}
