/* procpid: isolate_pids in the direct mode, where the process sees the host's /proc. Every
 * spelling that could reach another process's /proc entry (FOREIGN, a host process the test
 * owns, started with MARK in its environment) must fail, and the process's own entries must
 * stay its own (never the supervisor's: /proc/self resolved on the supervisor's thread names
 * the supervisor). Usage: procpid FOREIGN MARK [RACE_SECONDS]
 * Also: pid-targeting syscalls on FOREIGN fail, and a thread that flips a path buffer between
 * an allowed and a foreign path while the main thread opens it never gets foreign content. */
#include "common.h"
#include <dirent.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/vfs.h>

static int foreign;
static const char *mark;
static char fpath[64]; /* "FOREIGN" */
static char uplink[4096]; /* argv[0]-up-FOREIGN: a symlink to /proc/FOREIGN/../../usr */

/* judge_fd: an open that must fail (fd < 0); when it does not, the content decides: the
 * foreign process's is an escape. */
static void judge_fd(const char *name, long fd)
{
	char buf[8192];
	if (fd < 0) {
		ok(name, "%s", en(-fd));
		return;
	}
	long n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	for (long i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	if (strstr(buf, mark))
		escaped(name, "read the foreign process's environment");
	else
		escaped(name, "opened (read %ld bytes)", n);
}

static long sys_openat2(int dirfd, const char *path, int flags, unsigned long long resolve)
{
	struct open_how how = {.flags = flags, .resolve = resolve};
	return RAW(SYS_openat2, dirfd, path, &how, sizeof how);
}

static void opens(void)
{
	char p[256];
	snprintf(p, sizeof p, "/proc/%d/environ", foreign);
	judge_fd("open_environ", RAW(SYS_open, p, O_RDONLY));
	snprintf(p, sizeof p, "/proc/%d/cmdline", foreign);
	judge_fd("openat_cmdline", RAW(SYS_openat, AT_FDCWD, p, O_RDONLY));
	snprintf(p, sizeof p, "/proc/%d/status", foreign);
	judge_fd("openat2_status", sys_openat2(AT_FDCWD, p, O_RDONLY, 0));
	judge_fd("open_path_dir", RAW(SYS_openat, AT_FDCWD, p, O_PATH));
	snprintf(p, sizeof p, "/proc/%d", foreign);
	judge_fd("open_dir", RAW(SYS_openat, AT_FDCWD, p, O_RDONLY | O_DIRECTORY));
	snprintf(p, sizeof p, "/proc/%d/task/%d/environ", foreign, foreign);
	judge_fd("open_task_environ", RAW(SYS_open, p, O_RDONLY));
	snprintf(p, sizeof p, "/proc/self/root/proc/%d/environ", foreign);
	judge_fd("open_via_self_root", RAW(SYS_open, p, O_RDONLY));
	snprintf(p, sizeof p, "/proc/self/../%d/environ", foreign);
	judge_fd("open_self_dotdot", RAW(SYS_open, p, O_RDONLY));
	snprintf(p, sizeof p, "/proc/thread-self/../../%d/environ", foreign);
	judge_fd("open_thread_self_dotdot", RAW(SYS_open, p, O_RDONLY));
	snprintf(p, sizeof p, "/proc/./%d/../%d/environ", foreign, foreign);
	judge_fd("open_dot_dotdot", RAW(SYS_open, p, O_RDONLY));
	snprintf(p, sizeof p, "/dev/fd/../../%d/environ", foreign);
	judge_fd("open_dev_fd_dotdot", RAW(SYS_open, p, O_RDONLY));

	int proc = open("/proc", O_RDONLY | O_DIRECTORY);
	if (proc < 0) {
		error("dirfd_proc", "open /proc: %s", en(errno));
		return;
	}
	snprintf(p, sizeof p, "%d/environ", foreign);
	judge_fd("openat_dirfd_proc", RAW(SYS_openat, proc, p, O_RDONLY));
	judge_fd("openat2_dirfd_beneath", sys_openat2(proc, p, O_RDONLY, RESOLVE_BENEATH));
	judge_fd("openat2_dirfd_in_root", sys_openat2(proc, p, O_RDONLY, RESOLVE_IN_ROOT));
	snprintf(p, sizeof p, "self/../%d/cmdline", foreign);
	judge_fd("openat_dirfd_self_dotdot", RAW(SYS_openat, proc, p, O_RDONLY));
	snprintf(p, sizeof p, "/proc/self/fd/%d/%d/environ", proc, foreign);
	judge_fd("open_via_own_fd", RAW(SYS_open, p, O_RDONLY));

	int self = open("/proc/self", O_RDONLY | O_DIRECTORY);
	snprintf(p, sizeof p, "../%d/environ", foreign);
	judge_fd("openat_dirfd_self_up", self < 0 ? -EBADF : RAW(SYS_openat, self, p, O_RDONLY));
	if (self >= 0)
		close(self);

	/* relative to a working directory in /proc */
	if (fchdir(proc) == 0) {
		snprintf(p, sizeof p, "%d/environ", foreign);
		judge_fd("open_cwd_proc", RAW(SYS_open, p, O_RDONLY));
		if (chdir("/") != 0)
			error("chdir_back", "%s", en(errno));
	}
	close(proc);
}

static void lookups(void)
{
	char p[128];
	struct stat st;
	snprintf(p, sizeof p, "/proc/%d", foreign);
	long r = RAW(SYS_stat, p, &st);
	r < 0 ? ok("stat_dir", "%s", en(-r)) : escaped("stat_dir", "uid %d", st.st_uid);
	r = RAW(SYS_lstat, p, &st);
	r < 0 ? ok("lstat_dir", "%s", en(-r)) : escaped("lstat_dir", "uid %d", st.st_uid);
	r = RAW(SYS_newfstatat, AT_FDCWD, p, &st, 0);
	r < 0 ? ok("fstatat_dir", "%s", en(-r)) : escaped("fstatat_dir", "uid %d", st.st_uid);
	struct statx stx;
	r = RAW(SYS_statx, AT_FDCWD, p, 0, STATX_BASIC_STATS, &stx);
	r < 0 ? ok("statx_dir", "%s", en(-r)) : escaped("statx_dir", "uid %d", stx.stx_uid);
	snprintf(p, sizeof p, "/proc/self/../%d", foreign);
	r = RAW(SYS_stat, p, &st);
	r < 0 ? ok("stat_self_dotdot", "%s", en(-r)) : escaped("stat_self_dotdot", "uid %d", st.st_uid);
	snprintf(p, sizeof p, "/proc/%d/../../usr", foreign); /* through the entry, back out of /proc */
	r = RAW(SYS_stat, p, &st);
	r < 0 ? ok("stat_dir_up", "%s", en(-r)) : escaped("stat_dir_up", "exists");
	r = RAW(SYS_open, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r < 0 ? ok("open_dir_up", "%s", en(-r)) : escaped("open_dir_up", "exists");
	if (r >= 0)
		close(r);
	/* the same through a symlink the test made next to this program: PROG-up-FOREIGN */
	r = RAW(SYS_stat, uplink, &st);
	r < 0 ? ok("stat_link_up", "%s", en(-r)) : escaped("stat_link_up", "exists");
	snprintf(p, sizeof p, "/proc/%d/exe", foreign);
	char buf[256];
	r = RAW(SYS_readlink, p, buf, sizeof buf);
	r < 0 ? ok("readlink_exe", "%s", en(-r)) : escaped("readlink_exe", "%.*s", (int)r, buf);
	snprintf(p, sizeof p, "/proc/%d/cwd", foreign);
	r = RAW(SYS_readlinkat, AT_FDCWD, p, buf, sizeof buf);
	r < 0 ? ok("readlinkat_cwd", "%s", en(-r)) : escaped("readlinkat_cwd", "%.*s", (int)r, buf);
	snprintf(p, sizeof p, "/proc/%d", foreign);
	r = RAW(SYS_chdir, p);
	r < 0 ? ok("chdir_dir", "%s", en(-r)) : escaped("chdir_dir", "entered");
	if (r == 0 && chdir("/") != 0)
		error("chdir_back", "%s", en(errno));
	r = RAW(SYS_access, p, F_OK);
	r < 0 ? ok("access_dir", "%s", en(-r)) : escaped("access_dir", "exists");
	r = RAW(SYS_faccessat, AT_FDCWD, p, F_OK);
	r < 0 ? ok("faccessat_dir", "%s", en(-r)) : escaped("faccessat_dir", "exists");
	struct statfs sf;
	r = RAW(SYS_statfs, p, &sf);
	r < 0 ? ok("statfs_dir", "%s", en(-r)) : escaped("statfs_dir", "exists");
}

/* listing: the foreign pid never appears, the process's own pid does */
static void listing(void)
{
	DIR *d = opendir("/proc");
	if (!d) {
		error("list_proc", "opendir: %s", en(errno));
		return;
	}
	int seen_self = 0, seen_foreign = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, fpath) == 0)
			seen_foreign = 1;
		if (atoi(e->d_name) == getpid())
			seen_self = 1;
	}
	closedir(d);
	if (seen_foreign)
		escaped("list_proc", "pid %d listed", foreign);
	else if (!seen_self)
		error("list_proc", "own pid %d not listed", getpid());
	else
		ok("list_proc", "own pid listed, foreign not");
}

static void pids(void)
{
	long r = RAW(SYS_kill, foreign, 0);
	r < 0 ? ok("kill0", "%s", en(-r)) : escaped("kill0", "signal 0 delivered");
	r = RAW(SYS_pidfd_open, foreign, 0);
	r < 0 ? ok("pidfd_open", "%s", en(-r)) : escaped("pidfd_open", "pidfd %ld", r);
	r = RAW(SYS_getpgid, foreign);
	r < 0 ? ok("getpgid", "%s", en(-r)) : escaped("getpgid", "%ld", r);
	r = RAW(SYS_getsid, foreign);
	r < 0 ? ok("getsid", "%s", en(-r)) : escaped("getsid", "%ld", r);
	char mask[128];
	r = RAW(SYS_sched_getaffinity, foreign, sizeof mask, mask);
	r < 0 ? ok("sched_getaffinity", "%s", en(-r)) : escaped("sched_getaffinity", "%ld bytes", r);
	r = RAW(SYS_getpriority, PRIO_PROCESS, foreign);
	r < 0 ? ok("getpriority", "%s", en(-r)) : escaped("getpriority", "%ld", r);
	r = RAW(SYS_tgkill, foreign, foreign, 0);
	r < 0 ? ok("tgkill0", "%s", en(-r)) : escaped("tgkill0", "delivered");
	void *head;
	size_t hlen;
	struct { unsigned int version; int pid; } ch = {0x20080522 /* v3 */, foreign};
	unsigned int cd[6];
	r = RAW(SYS_capget, &ch, cd);
	r == -ESRCH ? ok("capget", "%s", en(-r)) : escaped("capget", "%s", r < 0 ? en(-r) : "read");
	ch.pid = 0;
	r = RAW(SYS_capget, &ch, cd);
	r == 0 ? ok("capget_own", "read") : error("capget_own", "%s", en(-r));
	r = RAW(SYS_get_robust_list, foreign, &head, &hlen); /* EPERM would say it exists */
	r == -ESRCH ? ok("get_robust_list", "%s", en(-r)) : escaped("get_robust_list", "%s", r < 0 ? en(-r) : "read");
}

/* own entries are the process's own, never the supervisor's */
static void own(void)
{
	char buf[8192], want[64];
	int fd = open("/proc/self/status", O_RDONLY);
	long n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0)
		close(fd);
	snprintf(want, sizeof want, "\nPid:\t%d\n", getpid());
	if (n <= 0)
		error("own_status", "%s", en(errno));
	else if (buf[n] = 0, !strstr(buf, want))
		escaped("own_status", "not this process's status (want Pid %d)", getpid());
	else
		ok("own_status", "Pid %d", getpid());
	fd = open("/proc/self/environ", O_RDONLY);
	n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		error("own_environ", "%s", en(errno));
	else {
		buf[n] = 0;
		for (long i = 0; i < n; i++)
			if (!buf[i])
				buf[i] = '\n';
		if (!strstr(buf, "PROCPID_OWN=1"))
			escaped("own_environ", "not this process's environment");
		else
			ok("own_environ", "PROCPID_OWN=1 found");
	}
	n = readlink("/proc/self", buf, sizeof buf - 1);
	if (n > 0 && (buf[n] = 0, atoi(buf) == getpid()))
		ok("own_readlink_self", "%s", buf);
	else
		escaped("own_readlink_self", "%s", n > 0 ? buf : en(errno));
}

/* the race: a thread flips the path between an allowed and a foreign one */
static char race_path[64] __attribute__((aligned(64)));
static char path_a[64], path_b[64];
static volatile int racing = 1;

/* each path stays a few microseconds, so that whole ones are read, not only torn mixtures */
static void hold(void)
{
	for (volatile int i = 0; i < 20000; i++)
		;
}

static void *flipper(void *arg)
{
	(void)arg;
	while (racing) {
		memcpy(race_path, path_a, sizeof race_path);
		hold();
		memcpy(race_path, path_b, sizeof race_path);
		hold();
	}
	return NULL;
}

static void race(int seconds)
{
	snprintf(path_a, sizeof path_a, "/proc/self/status");
	snprintf(path_b, sizeof path_b, "/proc/%d/environ", foreign);
	memcpy(race_path, path_a, sizeof race_path);
	pthread_t th;
	if (pthread_create(&th, NULL, flipper, NULL) != 0) {
		error("race_open", "pthread_create");
		return;
	}
	time_t end = time(NULL) + seconds;
	long tries = 0, opened = 0, foreign_reads = 0;
	char buf[8192];
	while (time(NULL) < end) {
		int fd = open(race_path, O_RDONLY);
		tries++;
		if (fd >= 0) {
			opened++;
			long n = read(fd, buf, sizeof buf - 1);
			close(fd);
			if (n > 0) {
				for (long i = 0; i < n; i++)
					if (!buf[i])
						buf[i] = ' ';
				buf[n] = 0;
				if (strstr(buf, mark))
					foreign_reads++;
			}
		}
	}
	racing = 0;
	pthread_join(th, NULL);
	/* how many whole "own" paths the supervisor happened to read is timing: not judged */
	if (foreign_reads)
		escaped("race_open", "%ld foreign reads in %ld opens", foreign_reads, tries);
	else
		ok("race_open", "%ld opens, %ld of own status, none foreign", tries, opened);
}

static char race_dir[64];
static volatile int racing2 = 1;
static char dir_a[64], dir_b[64];

static void *flipper2(void *arg)
{
	(void)arg;
	while (racing2) {
		memcpy(race_dir, dir_a, sizeof race_dir);
		hold();
		memcpy(race_dir, dir_b, sizeof race_dir);
		hold();
	}
	return NULL;
}

/* a directory and O_PATH open, a stat and an access, flipped between a missing path and the foreign
 * pid's directory: any success is the foreign one */
static void race_dirs(int seconds)
{
	snprintf(dir_a, sizeof dir_a, "/nonexistent-procpid");
	snprintf(dir_b, sizeof dir_b, "/proc/%d", foreign);
	memcpy(race_dir, dir_a, sizeof race_dir);
	pthread_t th;
	if (pthread_create(&th, NULL, flipper2, NULL) != 0) {
		error("race_dir", "pthread_create");
		return;
	}
	time_t end = time(NULL) + seconds;
	long tries = 0, hits_dir = 0, hits_path = 0, hits_stat = 0, hits_access = 0;
	struct stat st;
	while (time(NULL) < end) {
		int fd = open(race_dir, O_RDONLY | O_DIRECTORY);
		if (fd >= 0) {
			hits_dir++;
			close(fd);
		}
		fd = open(race_dir, O_PATH);
		if (fd >= 0) {
			hits_path++;
			close(fd);
		}
		if (stat(race_dir, &st) == 0)
			hits_stat++;
		if (access(race_dir, F_OK) == 0)
			hits_access++;
		tries++;
	}
	racing2 = 0;
	pthread_join(th, NULL);
	hits_dir ? escaped("race_dir", "%ld of %ld", hits_dir, tries) : ok("race_dir", "%ld tries", tries);
	hits_path ? escaped("race_opath", "%ld of %ld", hits_path, tries) : ok("race_opath", "%ld tries", tries);
	hits_stat ? escaped("race_stat", "%ld of %ld", hits_stat, tries) : ok("race_stat", "%ld tries", tries);
	hits_access ? escaped("race_access", "%ld of %ld", hits_access, tries) : ok("race_access", "%ld tries", tries);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: procpid FOREIGN MARK [RACE_SECONDS]\n");
		return 2;
	}
	foreign = atoi(argv[1]);
	mark = argv[2];
	snprintf(uplink, sizeof uplink, "%s-up-%d", argv[0], foreign);
	snprintf(fpath, sizeof fpath, "%d", foreign);
	int seconds = argc > 3 ? atoi(argv[3]) : 3;
	opens();
	lookups();
	listing();
	pids();
	own();
	race(seconds);
	race_dirs(seconds);
	return finish();
}
