/* Pathname unix sockets (docs/security.md, "Unix sockets by path"): Landlock (ABI 7) does not
 * govern connect(2) to a named socket, so a sandbox with the host's file system reached every
 * listening host socket (containerd's, docker's, another container's control socket).
 *
 *   unixconn DENIED_SOCK ALLOWED_SOCK WRITABLE_DIR [DENIED_DGRAM ALLOWED_DGRAM]
 *
 * The test listens on both sockets; each greets with one line naming itself. Every way to
 * DENIED_SOCK must fail; the same ways to ALLOWED_SOCK must work (proving the attempts). The
 * race: a thread flips the address between the two paths while the main thread connects.
 * With the datagram sockets: the same for sendto, sendmsg and sendmmsg by path (the test
 * counts what reaches DENIED_DGRAM: it must be nothing, races included). */
#include "common.h"
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <libgen.h>

static const int refusals[] = {EACCES, EPERM, 0};

/* returns the greeting's first byte (D or A), 0 on failure with errno set */
static char reach(const struct sockaddr_un *sa, socklen_t len)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0)
		return 0;
	char c = 0;
	if (connect(s, (const struct sockaddr *)sa, len) == 0) {
		if (read(s, &c, 1) != 1)
			c = '?';
	}
	int e = errno;
	close(s);
	errno = e;
	return c;
}

static void attempt_path(const char *name, const char *path, int want_denied)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
	char c = reach(&sa, sizeof sa);
	if (want_denied) {
		if (c)
			escaped(name, "reached the socket (greeting %c)", c);
		else if (refused_by(-errno, refusals))
			ok(name, "%s", en(errno));
		else
			error(name, "unexpected %s", en(errno));
	} else {
		if (c == 'A')
			ok(name, "reached the allowed socket");
		else
			error(name, "the allowed socket was not reached: %s", en(errno));
	}
}

static struct sockaddr_un flip;
static volatile int stop;

static void *flipper(void *arg)
{
	const char **paths = arg;
	for (unsigned i = 0; !stop; i++)
		strncpy(flip.sun_path, paths[i & 1], sizeof flip.sun_path - 1);
	return NULL;
}

/* datagrams: send one by path with the syscall named how (0 sendto, 1 sendmsg, 2 sendmmsg) */
static long dsend(const struct sockaddr_un *sa, int how)
{
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct iovec iov = {.iov_base = "d", .iov_len = 1};
	struct mmsghdr mm = {.msg_hdr = {.msg_name = (void *)sa, .msg_namelen = sizeof *sa, .msg_iov = &iov, .msg_iovlen = 1}};
	long r;
	if (how == 0)
		r = sendto(s, "d", 1, 0, (const struct sockaddr *)sa, sizeof *sa);
	else if (how == 1)
		r = sendmsg(s, &mm.msg_hdr, 0);
	else
		r = sendmmsg(s, &mm, 1, 0);
	int e = errno;
	close(s);
	errno = e;
	return r;
}

static void dgram_path(const char *name, const char *path, int how, int want_denied)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
	long r = dsend(&sa, how);
	if (!want_denied) {
		if (r >= 1)
			ok(name, "sent to the allowed socket");
		else
			error(name, "the allowed socket was not reached: %s", en(errno));
	} else if (r >= 0)
		escaped(name, "sent (%ld)", r);
	else if (refused_by(-errno, refusals))
		ok(name, "%s", en(errno));
	else
		error(name, "unexpected %s", en(errno));
}

static struct msghdr flip_msg;
static struct sockaddr_un flip_a, flip_d;

static void *msg_flipper(void *arg)
{
	(void)arg;
	void *volatile *name = &flip_msg.msg_name; /* every flip reaches memory */
	for (unsigned i = 0; !stop; i++)
		*name = (i & 1) ? (void *)&flip_d : (void *)&flip_a;
	return NULL;
}

static void dgrams(const char *denied, const char *allowed, const char *w)
{
	char buf[512], dirbuf[512];
	for (int how = 0; how < 3; how++) {
		static const char *names[3][2] = {{"dgram_sendto_allowed", "dgram_sendto_denied"},
						  {"dgram_sendmsg_allowed", "dgram_sendmsg_denied"},
						  {"dgram_sendmmsg_allowed", "dgram_sendmmsg_denied"}};
		dgram_path(names[how][0], allowed, how, 0);
		dgram_path(names[how][1], denied, how, 1);
	}
	strncpy(dirbuf, denied, sizeof dirbuf - 1);
	if (chdir(dirname(dirbuf)) == 0) {
		strncpy(buf, denied, sizeof buf - 1);
		dgram_path("dgram_denied_relative", basename(buf), 0, 1);
		chdir("/");
	} else
		error("dgram_denied_relative", "chdir: %s", en(errno));
	snprintf(buf, sizeof buf, "%s/dlink.sock", w);
	unlink(buf);
	if (symlink(denied, buf) == 0)
		dgram_path("dgram_denied_symlink", buf, 1, 1);
	else
		error("dgram_denied_symlink", "symlink: %s", en(errno));
	strncpy(dirbuf, denied, sizeof dirbuf - 1);
	int dfd = open(dirname(dirbuf), O_PATH | O_DIRECTORY);
	strncpy(buf, denied, sizeof buf - 1);
	char p2[512];
	snprintf(p2, sizeof p2, "/proc/self/fd/%d/%s", dfd, basename(buf));
	dgram_path("dgram_denied_proc_fd_dir", p2, 0, 1);

	/* the races: sendto with a flipping path, sendmsg with a flipping name pointer */
	const char *paths[2] = {allowed, denied};
	stop = 0;
	flip.sun_family = AF_UNIX;
	strncpy(flip.sun_path, allowed, sizeof flip.sun_path - 1);
	pthread_t th;
	pthread_create(&th, NULL, flipper, paths);
	int sent = 0;
	for (int i = 0; i < 3000; i++)
		sent += dsend(&flip, 0) == 1;
	stop = 1;
	pthread_join(th, NULL);
	flip_a.sun_family = flip_d.sun_family = AF_UNIX;
	strncpy(flip_a.sun_path, allowed, sizeof flip_a.sun_path - 1);
	strncpy(flip_d.sun_path, denied, sizeof flip_d.sun_path - 1);
	struct iovec iov = {.iov_base = "r", .iov_len = 1};
	flip_msg = (struct msghdr){.msg_name = &flip_a, .msg_namelen = sizeof flip_a, .msg_iov = &iov, .msg_iovlen = 1};
	stop = 0;
	pthread_create(&th, NULL, msg_flipper, NULL);
	int msent = 0;
	for (int i = 0; i < 3000; i++) {
		int s = socket(AF_UNIX, SOCK_DGRAM, 0);
		msent += sendmsg(s, &flip_msg, 0) == 1;
		close(s);
	}
	stop = 1;
	pthread_join(th, NULL);
	/* what reached DENIED_DGRAM is counted by the test */
	ok("dgram_race", "3000 sendto (%d sent) and 3000 sendmsg (%d sent) while the path flipped", sent, msent);
}

int main(int argc, char **argv)
{
	dup2(1, 2);
	if (argc != 4 && argc != 6) {
		error("usage", "unixconn DENIED_SOCK ALLOWED_SOCK WRITABLE_DIR [DENIED_DGRAM ALLOWED_DGRAM]");
		return finish();
	}
	const char *denied = argv[1], *allowed = argv[2], *w = argv[3];
	char buf[512], dirbuf[512];

	attempt_path("unix_allowed_direct", allowed, 0);
	attempt_path("unix_denied_direct", denied, 1);

	/* relative, from the socket's own directory */
	strncpy(dirbuf, denied, sizeof dirbuf - 1);
	if (chdir(dirname(dirbuf)) == 0) {
		strncpy(buf, denied, sizeof buf - 1);
		attempt_path("unix_denied_relative", basename(buf), 1);
		chdir("/");
	} else
		error("unix_denied_relative", "chdir: %s", en(errno));

	/* a symlink in the writable directory pointing at the denied socket */
	snprintf(buf, sizeof buf, "%s/link.sock", w);
	unlink(buf);
	if (symlink(denied, buf) == 0)
		attempt_path("unix_denied_symlink", buf, 1);
	else
		error("unix_denied_symlink", "symlink: %s", en(errno));

	/* through the magic links of /proc */
	strncpy(dirbuf, denied, sizeof dirbuf - 1);
	int dfd = open(dirname(dirbuf), O_PATH | O_DIRECTORY);
	strncpy(buf, denied, sizeof buf - 1);
	char *base = basename(buf);
	char p2[512];
	snprintf(p2, sizeof p2, "/proc/self/fd/%d/%s", dfd, base);
	attempt_path("unix_denied_proc_fd_dir", p2, 1);
	if (fchdir(dfd) == 0) {
		snprintf(p2, sizeof p2, "/proc/self/cwd/%s", base);
		attempt_path("unix_denied_proc_cwd", p2, 1);
		chdir("/");
	}

	/* the race: a thread flips the path between allowed and denied */
	const char *paths[2] = {allowed, denied};
	flip.sun_family = AF_UNIX;
	strncpy(flip.sun_path, allowed, sizeof flip.sun_path - 1);
	pthread_t th;
	pthread_create(&th, NULL, flipper, paths);
	int got_a = 0, got_d = 0;
	for (int i = 0; i < 3000; i++) {
		char c = reach(&flip, sizeof flip);
		if (c == 'D')
			got_d++;
		else if (c == 'A')
			got_a++;
	}
	stop = 1;
	pthread_join(th, NULL);
	if (got_d)
		escaped("unix_denied_race", "reached the denied socket %d times (allowed %d)", got_d, got_a);
	else
		ok("unix_denied_race", "3000 connects while the path flipped: denied 0, allowed %d", got_a);
	if (argc == 6)
		dgrams(argv[4], argv[5], w);
	return finish();
}
