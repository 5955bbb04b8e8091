/* deterministic_dirs' snapshots and the reader's credentials (TestEscapeSortedDirsSnapshotCreds):
 * procfs decides a listing of /proc/PID/map_files at each read by the reader's ptrace access.
 * As root, the program opens its own /proc/PID/map_files and lists it (a snapshot; d_off gives its
 * position); a child that dropped to uid 65534 seeks the shared open file to that position
 * and lists again: it must be refused (EACCES), as the kernel refuses it, not served the
 * snapshot root read.
 *
 *   snapcreds
 */
#include "common.h"
#include <grp.h>
#include <sys/syscall.h>

struct d64 {
	unsigned long long ino;
	long long off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

int main(void)
{
	static char buf[4096];
	char path[64];
	long n;
	int fd;
	snprintf(path, sizeof path, "/proc/%d/map_files", getpid());
	fd = open(path, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		error("snap_creds", "open %s as root: %s", path, en(errno));
		return finish();
	}
	n = syscall(SYS_getdents64, fd, buf, sizeof buf);
	if (n <= 0) {
		error("snap_creds", "list %s as root: %s", path, n < 0 ? en(errno) : "empty");
		return finish();
	}
	long long first = ((struct d64 *)buf)->off; /* the position after the first entry */
	pid_t c = fork();
	if (c == 0) {
		int e1 = setgroups(0, NULL) < 0 ? errno : 0;
		int e2 = setresgid(65534, 65534, 65534) < 0 ? errno : 0;
		int e3 = setresuid(65534, 65534, 65534) < 0 ? errno : 0;
		if (e3 || getuid() != 65534) {
			error("snap_creds", "drop to 65534: setgroups %s setresgid %s setresuid %s", en(e1), en(e2), en(e3));
			_exit(finish());
		}
		/* the kernel itself refuses uid 65534 (no ptrace access to its root parent) */
		lseek(fd, first, SEEK_SET);
		n = syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (n > 0)
			escaped("snap_creds", "uid 65534 listed %ld bytes of %s from root's snapshot", n, path);
		else if (n < 0 && (errno == EACCES || errno == EPERM))
			ok("snap_creds", "%s", en(errno));
		else
			error("snap_creds", "getdents64: %ld %s", n, n < 0 ? en(errno) : "");
		_exit(finish());
	}
	int st;
	waitpid(c, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
