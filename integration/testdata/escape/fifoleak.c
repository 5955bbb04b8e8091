/* Supervisor threads held by FIFO opens whose callers are gone (docs/security.md, "fs_denied
 * in a writable directory"). In a carved directory the supervisor opens a FIFO for the process
 * on a thread of its own, since the open waits for the other end; the supervisor is outside
 * the container's cgroup, so a thread it keeps for a caller that was killed in the open is
 * past max_processes.
 *
 *   fifoleak FIFO N
 *     makes the FIFO, then N times: a child opens it for reading (it waits: no writer ever
 *     comes) and is killed. Prints "killed N" and waits for stdin to close; the test counts
 *     the supervisor's threads meanwhile (before the fix: one more per child, for ever). */
#include "common.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		error("usage", "fifoleak FIFO N");
		return finish();
	}
	if (mkfifo(argv[1], 0600) < 0) {
		error("fifoleak", "mkfifo %s: %s", argv[1], en(errno));
		return finish();
	}
	int n = atoi(argv[2]);
	for (int i = 0; i < n; i++) {
		pid_t p = fork();
		if (p == 0) {
			open(argv[1], O_RDONLY);
			_exit(0);
		}
		usleep(20000); /* most children are waiting in the open by then; the rest count less */
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
	}
	return killed_and_hold(n);
}
