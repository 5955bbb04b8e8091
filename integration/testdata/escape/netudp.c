/* UDP with io.sandlock.no_udp: argv[1] "deny" (every UDP socket refused) or "allow" (a UDP
 * socket binds on 127.0.0.1). Run with the host network (no network namespace). */
#include "common.h"
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>

static unsigned int sockcall_args[3];

static void deny(const char *name, long r, const char *what)
{
	if (r >= 0) {
		close(r);
		escaped(name, "%s: got a UDP socket", what);
	} else if (r == -EPERM || r == -EAFNOSUPPORT || r == -EACCES || r == -EPROTONOSUPPORT)
		ok(name, "%s: %s", what, en(-r));
	else
		error(name, "%s: %s", what, en(-r));
}

int main(int argc, char **argv)
{
	dup2(1, 2);
	if (argc > 1 && strcmp(argv[1], "allow") == 0) {
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t al = sizeof a;
		if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
		    getsockname(s, (struct sockaddr *)&a, &al) == 0 &&
		    sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a) == 1)
			ok("udp_allowed", "UDP socket bound and sent on 127.0.0.1");
		else
			error("udp_allowed", "UDP without no_udp: %s", en(errno));
		return finish();
	}
	deny("udp_inet", RAW(SYS_socket, AF_INET, SOCK_DGRAM, 0), "AF_INET SOCK_DGRAM");
	deny("udp_inet_proto", RAW(SYS_socket, AF_INET, SOCK_DGRAM, IPPROTO_UDP), "AF_INET SOCK_DGRAM IPPROTO_UDP");
	deny("udp_inet_flags", RAW(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0),
	     "AF_INET SOCK_DGRAM|CLOEXEC|NONBLOCK");
	deny("udp_inet6", RAW(SYS_socket, AF_INET6, SOCK_DGRAM, 0), "AF_INET6 SOCK_DGRAM");
	deny("udplite", RAW(SYS_socket, AF_INET, SOCK_DGRAM, 136 /* IPPROTO_UDPLITE */), "AF_INET UDP-Lite");
	deny("udp_upper_bits", RAW(SYS_socket, (1UL << 32) | AF_INET, (1UL << 32) | SOCK_DGRAM, 0),
	     "AF_INET SOCK_DGRAM with bit 32 set");
	deny("i386:udp_inet", int80(359, AF_INET, SOCK_DGRAM, 0, 0, 0, 0), "i386 socket AF_INET SOCK_DGRAM");
	sockcall_args[0] = AF_INET, sockcall_args[1] = SOCK_DGRAM, sockcall_args[2] = 0;
	deny("i386:socketcall_udp", int80(102, 1 /* SYS_SOCKET */, (long)sockcall_args, 0, 0, 0, 0),
	     "i386 socketcall(SYS_SOCKET, AF_INET, SOCK_DGRAM)");
	/* TCP still works: no_udp is not no_network */
	long t = RAW(SYS_socket, AF_INET, SOCK_STREAM, 0);
	if (t >= 0) {
		close(t);
		ok("tcp_still_allowed", "AF_INET SOCK_STREAM");
	} else
		error("tcp_still_allowed", "%s (no_udp must not deny TCP)", en(-t));
	return finish();
}
