/* Supervisor threads held by sends whose callers are gone. Where the root is the host's, the
 * supervisor performs sendmsg for the process; a send that would block continues on a thread
 * of the supervisor, which is outside the container's cgroup: one kept for a caller that was
 * killed in the send is past max_processes.
 *
 *   sendleak SOCKET N
 *     listens on the unix socket SOCKET (and never reads), then N times: a child connects and
 *     sends 4 MiB with sendmsg (it blocks: the peer reads nothing) and is killed. Prints
 *     "killed N" and waits for stdin to close, keeping every connection open; the test counts
 *     the supervisor's threads meanwhile (before the fix: one more per child). */
#include "common.h"
#include <sys/socket.h>
#include <sys/un.h>

static char big[4 << 20];

int main(int argc, char **argv)
{
	if (argc != 3) {
		error("usage", "sendleak SOCKET N");
		return finish();
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strncpy(sa.sun_path, argv[1], sizeof sa.sun_path - 1);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 128) < 0) {
		error("sendleak", "listen on %s: %s", argv[1], en(errno));
		return finish();
	}
	int n = atoi(argv[2]);
	for (int i = 0; i < n; i++) {
		pid_t p = fork();
		if (p == 0) {
			int s = socket(AF_UNIX, SOCK_STREAM, 0);
			if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
				_exit(1);
			struct iovec iov = {big, sizeof big};
			struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
			sendmsg(s, &m, 0);
			_exit(0);
		}
		int c = accept(l, NULL, NULL); /* kept open, never read */
		(void)c;
		usleep(50000); /* the send is waiting by then, mostly; the rest count less */
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
	}
	return killed_and_hold(n);
}
