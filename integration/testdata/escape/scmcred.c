/* SCM_CREDENTIALS of datagrams the supervisor sends on the process's behalf (net_allow_hosts,
 * or the host's root: sendto/sendmsg to a pathname socket are performed by a worker holding
 * the process's credentials). The receiver, this program's own socket with SO_PASSCRED, must
 * see the process's ids, never the supervisor's: a uid-0 claim from a process that is not
 * root must be refused, and a datagram without a claim must carry the sender's real ids.
 * argv[1] is a directory the program may create a socket in. */
#include "common.h"
#include <sys/socket.h>
#include <sys/un.h>

static int rx = -1;
static struct sockaddr_un addr = {.sun_family = AF_UNIX};

/* send_one sends one byte to addr, with an SCM_CREDENTIALS claim of (uid, gid) when claim is
 * set; it returns 0 or -errno. */
static long send_one(int claim, uid_t uid, gid_t gid)
{
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	char data[] = "x";
	struct iovec iov = {data, 1};
	union {
		char b[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr m = {.msg_name = &addr, .msg_namelen = sizeof addr, .msg_iov = &iov, .msg_iovlen = 1};
	if (claim) {
		m.msg_control = u.b;
		m.msg_controllen = sizeof u.b;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
		struct ucred uc = {getpid(), uid, gid};
		memcpy(CMSG_DATA(c), &uc, sizeof uc);
	}
	long r = sendmsg(s, &m, 0) < 0 ? -errno : 0;
	close(s);
	return r;
}

/* receive takes the next datagram's credentials; -1 when none came. */
static int receive(struct ucred *uc)
{
	char b[8];
	struct iovec iov = {b, sizeof b};
	union {
		char b[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
	if (recvmsg(rx, &m, MSG_DONTWAIT) < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			memcpy(uc, CMSG_DATA(c), sizeof *uc);
			return 0;
		}
	return -1;
}

/* claim: a datagram claiming (uid, gid); refused (EPERM) or received with the sender's own ids
 * is ok. */
static void claim(const char *name, uid_t uid, gid_t gid)
{
	long r = send_one(1, uid, gid);
	struct ucred uc;
	if (r == -EPERM)
		ok(name, "claim %d/%d: EPERM", uid, gid);
	else if (r < 0)
		error(name, "sendmsg: %s", en(-r));
	else if (receive(&uc) < 0)
		error(name, "sent, nothing received");
	else if (uc.uid == getuid() && uc.gid == getgid())
		ok(name, "received as %d/%d", uc.uid, uc.gid);
	else
		escaped(name, "claimed %d/%d, received as uid %d gid %d (the sender is %d/%d)", uid, gid, uc.uid, uc.gid,
			getuid(), getgid());
}

int main(int argc, char **argv)
{
	dup2(1, 2);
	if (argc < 2 || getuid() == 0) {
		error("setup", "usage: scmcred DIR, as a uid other than 0");
		return finish();
	}
	snprintf(addr.sun_path, sizeof addr.sun_path, "%s/scmcred.sock", argv[1]);
	unlink(addr.sun_path);
	rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (rx < 0 || setsockopt(rx, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 ||
	    bind(rx, (struct sockaddr *)&addr, sizeof addr) < 0) {
		error("setup", "receiver %s: %s", addr.sun_path, en(errno));
		return finish();
	}

	/* no claim: the kernel adds the sending thread's real ids */
	struct ucred uc;
	long r = send_one(0, 0, 0);
	if (r < 0)
		error("scm_implicit", "sendmsg: %s", en(-r));
	else if (receive(&uc) < 0)
		error("scm_implicit", "sent, no credentials received");
	else if (uc.uid == getuid() && uc.gid == getgid())
		ok("scm_implicit", "received as %d/%d", uc.uid, uc.gid);
	else
		escaped("scm_implicit", "received as uid %d gid %d (the sender is %d/%d)", uc.uid, uc.gid, getuid(),
			getgid());

	claim("scm_claim_uid0", 0, getgid());
	claim("scm_claim_gid0", getuid(), 0);
	claim("scm_claim_root", 0, 0);
	/* the process's own ids: a claim the kernel accepts (works) */
	r = send_one(1, getuid(), getgid());
	if (r == 0 && receive(&uc) == 0 && uc.uid == getuid() && uc.gid == getgid())
		ok("scm_claim_own_works", "received as %d/%d", uc.uid, uc.gid);
	else
		error("scm_claim_own_works", "sendmsg %s, received %d/%d", r < 0 ? en(-r) : "ok", uc.uid, uc.gid);
	unlink(addr.sun_path);
	return finish();
}
