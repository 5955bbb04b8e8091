/* net_allow_hosts (docs/policy.md): IP destinations outside the addresses the allowed names
 * resolved to at create are refused (EACCES) at connect and at every send that names an
 * address, whatever the spelling; the allowed ones work.
 *
 *   netallow ALLOWED_IP DENIED_IP PORT [hosts]
 *
 * The test listens on TCP and UDP PORT of both addresses (loopback: all of 127/8 is local) and
 * counts what reaches the denied one: it must be nothing, races included. A TCP listener greets
 * each connection with 'A' (allowed) or 'D' (denied). "hosts": /etc/hosts must show the
 * pinned names (a line ending "localhost", the runtime's header). */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

static const int refusals[] = {EACCES, 0};
static struct in_addr allowed_ip, denied_ip;
static int port;

static struct sockaddr_in sin_of(struct in_addr a)
{
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = a};
	return s;
}

/* a v4-mapped IPv6 address */
static struct sockaddr_in6 sin6_of(struct in_addr a)
{
	struct sockaddr_in6 s = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	s.sin6_addr.s6_addr[10] = 0xff;
	s.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&s.sin6_addr.s6_addr[12], &a, 4);
	return s;
}

static void judge(const char *name, long r, int want_denied)
{
	if (want_denied) {
		if (r >= 0)
			escaped(name, "went through (%ld)", r);
		else if (refused_by(r, refusals))
			ok(name, "%s", en(-r));
		else
			error(name, "unexpected %s", en(-r));
	} else if (r >= 0)
		ok(name, "allowed (%ld)", r);
	else
		error(name, "the allowed destination failed: %s", en(-r));
}

static long ret(long r) { return r < 0 ? -errno : r; }

/* The i386 entry points (pointers below 4 GiB: globals of this non-PIE binary): the supervisor
 * decodes the native ABI only, so these must be refused (EPERM), never performed unchecked. */
static struct sockaddr_in g_denied;
static char g_x[1] = "x";

static void i386_attempts(void)
{
	static const int i386_refusals[] = {EACCES, EPERM, 0};
	const char *names[2] = {"i386:udp_sendto_denied", "i386:tcp_connect_denied"};
	if (!i386_live()) {
		for (int i = 0; i < 2; i++)
			ok(names[i], "no i386 entry point on this host");
		return;
	}
	int u = socket(AF_INET, SOCK_DGRAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
	long r[2] = {int80(369 /* sendto */, u, (long)g_x, 1, 0, (long)&g_denied, sizeof g_denied),
		     int80(362 /* connect */, c, (long)&g_denied, sizeof g_denied, 0, 0, 0)};
	for (int i = 0; i < 2; i++) {
		if (r[i] >= 0)
			escaped(names[i], "went through (%ld)", r[i]);
		else if (refused_by(r[i], i386_refusals))
			ok(names[i], "%s", en(-r[i]));
		else
			error(names[i], "unexpected %s", en(-r[i]));
	}
	close(u);
	close(c);
}

/* TCP: connect and read the greeting (its byte, or -errno) */
static long tcp(int family, const void *sa, socklen_t len)
{
	int s = socket(family, SOCK_STREAM, 0);
	long r = ret(connect(s, sa, len));
	if (r == 0) {
		char c = 0;
		r = read(s, &c, 1) == 1 ? c : -EIO;
	}
	close(s);
	return r;
}

static long udp_sendto(int family, const void *sa, socklen_t len)
{
	int s = socket(family, SOCK_DGRAM, 0);
	long r = ret(sendto(s, "x", 1, 0, sa, len));
	close(s);
	return r;
}

static long udp_sendmsg(const void *sa, socklen_t len)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct iovec iov = {.iov_base = "x", .iov_len = 1};
	struct msghdr m = {.msg_name = (void *)sa, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1};
	long r = ret(sendmsg(s, &m, 0));
	close(s);
	return r;
}

/* sendmmsg of two messages; returns how many were sent */
static long udp_sendmmsg(const void *a, const void *b)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct iovec iov = {.iov_base = "x", .iov_len = 1};
	struct mmsghdr mm[2] = {
	    {.msg_hdr = {.msg_name = (void *)a, .msg_namelen = sizeof(struct sockaddr_in), .msg_iov = &iov, .msg_iovlen = 1}},
	    {.msg_hdr = {.msg_name = (void *)b, .msg_namelen = sizeof(struct sockaddr_in), .msg_iov = &iov, .msg_iovlen = 1}},
	};
	long r = ret(sendmmsg(s, mm, 2, 0));
	close(s);
	return r;
}

static long udp_connect_send(const void *sa, socklen_t len)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	long r = ret(connect(s, sa, len));
	if (r == 0)
		r = ret(send(s, "x", 1, 0));
	close(s);
	return r;
}

/* The races: a thread flips a shared address (and sendmsg's name pointer) between the allowed
 * and the denied destination while the main thread connects or sends. */
static struct sockaddr_in flip, flip_a, flip_d;
static struct msghdr flip_msg;
static volatile int stop;

static void *flipper(void *arg)
{
	(void)arg;
	/* volatile stores: every flip must reach memory, none may be folded into the last */
	volatile struct in_addr *addr = &flip.sin_addr;
	void *volatile *name = &flip_msg.msg_name;
	for (unsigned i = 0; !stop; i++) {
		addr->s_addr = (i & 1) ? denied_ip.s_addr : allowed_ip.s_addr;
		*name = (i & 1) ? (void *)&flip_d : (void *)&flip_a;
	}
	return NULL;
}

static void races(void)
{
	flip = flip_a = sin_of(allowed_ip);
	flip_d = sin_of(denied_ip);
	struct iovec iov = {.iov_base = "r", .iov_len = 1};
	flip_msg = (struct msghdr){.msg_name = &flip_a, .msg_namelen = sizeof flip_a, .msg_iov = &iov, .msg_iovlen = 1};
	pthread_t th;
	pthread_create(&th, NULL, flipper, NULL);
	int n = 1500, tcp_a = 0, tcp_d = 0, udp_ok = 0, msg_ok = 0;
	for (int i = 0; i < n; i++) {
		long c = tcp(AF_INET, &flip, sizeof flip);
		tcp_a += c == 'A';
		tcp_d += c == 'D';
		udp_ok += udp_sendto(AF_INET, &flip, sizeof flip) == 1;
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		msg_ok += sendmsg(s, &flip_msg, 0) == 1;
		close(s);
	}
	stop = 1;
	pthread_join(th, NULL);
	if (tcp_d)
		escaped("race_tcp_connect", "reached the denied listener %d times (allowed %d)", tcp_d, tcp_a);
	else
		ok("race_tcp_connect", "%d connects while the address flipped: denied 0, allowed %d", n, tcp_a);
	/* what reached the denied UDP port is counted by the test */
	ok("race_udp_sent", "%d sendto and %d sendmsg went out of %d each", udp_ok, msg_ok, n);
}

static void hosts(void)
{
	char buf[4096] = {0};
	int fd = open("/etc/hosts", O_RDONLY);
	if (fd < 0) {
		error("etc_hosts", "open: %s", en(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n > 0 && strstr(buf, "sandlock-runtime") && strstr(buf, "localhost"))
		ok("etc_hosts", "the pinned names");
	else
		error("etc_hosts", "not the runtime's: %s", buf);
	/* openat2 spelling */
	struct {
		unsigned long long flags, mode, resolve;
	} how = {O_RDONLY, 0, 0};
	fd = syscall(SYS_openat2, AT_FDCWD, "/etc/hosts", &how, sizeof how);
	memset(buf, 0, sizeof buf);
	n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0 && strstr(buf, "sandlock-runtime"))
		ok("etc_hosts_openat2", "the pinned names");
	else
		error("etc_hosts_openat2", "not the runtime's: %s", fd < 0 ? en(errno) : buf);
}

int main(int argc, char **argv)
{
	dup2(1, 2);
	if (argc < 4 || !inet_aton(argv[1], &allowed_ip) || !inet_aton(argv[2], &denied_ip)) {
		error("usage", "netallow ALLOWED_IP DENIED_IP PORT [hosts]");
		return finish();
	}
	port = atoi(argv[3]);
	struct sockaddr_in a = sin_of(allowed_ip), d = sin_of(denied_ip);
	struct sockaddr_in6 a6 = sin6_of(allowed_ip), d6 = sin6_of(denied_ip);

	long c = tcp(AF_INET, &a, sizeof a);
	if (c == 'A')
		ok("tcp_allowed", "greeted");
	else
		error("tcp_allowed", "the allowed listener was not reached: %ld", c);
	judge("tcp_denied", tcp(AF_INET, &d, sizeof d), 1);
	c = tcp(AF_INET6, &a6, sizeof a6);
	if (c == 'A')
		ok("tcp6_mapped_allowed", "greeted");
	else
		error("tcp6_mapped_allowed", "the allowed listener was not reached: %ld", c);
	judge("tcp6_mapped_denied", tcp(AF_INET6, &d6, sizeof d6), 1);

	judge("udp_sendto_allowed", udp_sendto(AF_INET, &a, sizeof a), 0);
	judge("udp_sendto_denied", udp_sendto(AF_INET, &d, sizeof d), 1);
	struct sockaddr_in du = d;
	du.sin_family = AF_UNSPEC; /* UDP reads it as AF_INET */
	judge("udp_sendto_unspec_family", udp_sendto(AF_INET, &du, sizeof du), 1);
	judge("udp6_sendto_v4_denied", udp_sendto(AF_INET6, &d, sizeof d), 1);
	judge("udp6_sendto_mapped_denied", udp_sendto(AF_INET6, &d6, sizeof d6), 1);
	judge("udp_sendmsg_allowed", udp_sendmsg(&a, sizeof a), 0);
	judge("udp_sendmsg_denied", udp_sendmsg(&d, sizeof d), 1);
	judge("udp_sendmmsg_denied", udp_sendmmsg(&d, &a), 1);
	long r = udp_sendmmsg(&a, &d);
	if (r == 1)
		ok("udp_sendmmsg_mixed", "the allowed message only");
	else if (r == 2)
		escaped("udp_sendmmsg_mixed", "both messages went");
	else
		error("udp_sendmmsg_mixed", "unexpected %ld", r);
	judge("udp_connect_denied", udp_connect_send(&d, sizeof d), 1);
	judge("udp_connect_allowed", udp_connect_send(&a, sizeof a), 0);

	/* SCTP reaches addresses without connect (setsockopt CONNECTX): refused outright */
	struct {
		const char *name;
		int family, type, proto;
	} sctp[] = {{"sctp_stream", AF_INET, SOCK_STREAM, IPPROTO_SCTP},
		    {"sctp_seqpacket", AF_INET, SOCK_SEQPACKET, 0},
		    {"sctp6_seqpacket", AF_INET6, SOCK_SEQPACKET, IPPROTO_SCTP}};
	for (unsigned i = 0; i < sizeof sctp / sizeof sctp[0]; i++) {
		int s = socket(sctp[i].family, sctp[i].type, sctp[i].proto);
		if (s >= 0) {
			escaped(sctp[i].name, "socket created");
			close(s);
		} else if (errno == EPERM)
			ok(sctp[i].name, "EPERM");
		else
			error(sctp[i].name, "%s, want EPERM (seccomp)", en(errno));
	}

	g_denied = d;
	i386_attempts();
	races();
	if (argc > 4 && strcmp(argv[4], "hosts") == 0)
		hosts();
	return finish();
}
