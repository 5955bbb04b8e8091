/* Host mode (root.path "/"): the container reaches <state>/sup.sock by path, so the
 * supervisor's peer check is all that stands between it and `exec` with other credentials.
 * argv[1]: the socket path. Each request is a harmless unknown operation: a served peer gets
 * "unknown operation", a refused one "does not serve". */
#include "common.h"
#include <sys/socket.h>
#include <sys/un.h>

static int dial(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strncpy(a.sun_path, path, sizeof a.sun_path - 1);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		if (s >= 0)
			close(s);
		return -e;
	}
	return s;
}

/* ask returns 0 if the peer check refused us, 1 if we were served, -1 otherwise. A refused
 * peer gets the error at once, before it says anything; only if nothing comes does it send a
 * probe (an unknown operation: a served peer gets "unknown operation" and nothing happens). */
static int ask(int s, char *reply, size_t n)
{
	struct timeval tv = {1, 0};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	long k = recv(s, reply, n - 1, 0);
	if (k <= 0) {
		const char *req = "{\"op\":\"sandlock-escape-probe\"}";
		send(s, req, strlen(req), MSG_NOSIGNAL);
		tv.tv_sec = 3;
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		k = recv(s, reply, n - 1, 0);
	}
	reply[k > 0 ? k : 0] = 0;
	if (strstr(reply, "does not serve"))
		return 0;
	if (strstr(reply, "unknown operation"))
		return 1;
	return -1;
}

int main(int argc, char **argv)
{
	dup2(1, 2);
	if (argc < 2)
		return 2;
	char reply[512];
	int s = dial(argv[1]);
	if (s < 0)
		ok("supsock_peer_check", "connect %s: %s (unreachable)", argv[1], en(-s));
	else {
		int v = ask(s, reply, sizeof reply);
		if (v == 0)
			ok("supsock_peer_check", "refused: %s", reply);
		else if (v == 1)
			escaped("supsock_peer_check", "served a container process: %s", reply);
		else
			error("supsock_peer_check", "no verdict: reply %s", reply);
		close(s);
	}

	/* The peer check reads /proc/<SO_PEERCRED pid>/cgroup, the pid of the process that
	 * called connect. Race it: queue connections from this process so the supervisor is busy,
	 * then connect from a child that exits and is reaped at once, leaving the socket to a
	 * grandchild. If the supervisor then cannot read /proc/<pid>/cgroup, does it serve? */
	int served = 0, refused = 0, other = 0;
	for (int round = 0; round < 20 && !served; round++) {
		int q[64], nq = 0;
		for (int i = 0; i < 64; i++)
			if ((q[nq] = dial(argv[1])) >= 0)
				nq++;
		int pp[2];
		if (pipe(pp) < 0)
			break;
		pid_t p = fork();
		if (p == 0) {
			int c = dial(argv[1]);
			if (c < 0)
				_exit(0);
			if (fork() == 0) {
				close(pp[0]);
				/* wait until our parent is gone (and reaped) */
				while (getppid() == p)
					usleep(100);
				usleep(2000);
				char r2[512];
				int v = ask(c, r2, sizeof r2);
				char ch = v == 1 ? 'S' : v == 0 ? 'R' : 'O';
				if (write(pp[1], &ch, 1) < 0)
					_exit(1);
				_exit(0);
			}
			_exit(0);
		}
		close(pp[1]);
		waitpid(p, NULL, 0);
		char ch = 'O';
		if (read(pp[0], &ch, 1) != 1)
			ch = 'O';
		close(pp[0]);
		served += ch == 'S', refused += ch == 'R', other += ch == 'O';
		for (int i = 0; i < nq; i++)
			close(q[i]);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
	if (served)
		escaped("supsock_peer_exit_race", "served a socket whose connecting process had exited "
						  "(the peer check fails open)");
	else
		ok("supsock_peer_exit_race", "%d refused, %d without a verdict", refused, other);
	return finish();
}
