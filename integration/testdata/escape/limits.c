/* Process and resource limits and signals to host processes, from a container with
 * max_processes, max_open_files and a pid namespace (isolate_signals):
 * - SIGIO/SIGURG through a file's owner (fcntl F_SETOWN, F_SETOWN_EX with a process group)
 *   and rt_sigqueueinfo / rt_tgsigqueueinfo, aimed at ESC_CATCHER, a host process of the
 *   test's that records SIGURG in a file (the test checks it stays empty);
 * - leaving the container's cgroup: writing the host root's cgroup.procs through the
 *   (read-only) /sys/fs/cgroup, the container's own pids.max, a child cgroup, clone3 with
 *   CLONE_INTO_CGROUP into the root cgroup;
 * - raising RLIMIT_NOFILE above max_open_files (setrlimit, prlimit64, i386 setrlimit).
 * The container's cgroup is read from /proc/self/cgroup (cgroup2: "0::/PATH"). */
#include "common.h"
#include <linux/sched.h>
#include <sys/resource.h>

static void sig_attempts(pid_t v)
{
	int p[2];
	if (pipe(p) < 0) {
		error("sigio_setown", "pipe: %s", en(errno));
		return;
	}
	/* the kernel accepts the owner; the signal is what Landlock's scope must stop */
	fcntl(p[0], F_SETOWN, v);
	fcntl(p[0], F_SETSIG, SIGURG);
	fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK);
	if (write(p[1], "x", 1) != 1)
		error("sigio_setown", "write: %s", en(errno));
	else
		ok("sigio_setown", "SIGIO owner %d set, signal sent if not scoped (the test checks the catcher)", v);
	int q[2];
	if (pipe(q) == 0) {
		struct f_owner_ex o = {F_OWNER_PGRP, v};
		fcntl(q[0], F_SETOWN_EX, &o);
		fcntl(q[0], F_SETSIG, SIGURG);
		fcntl(q[0], F_SETFL, O_ASYNC | O_NONBLOCK);
		if (write(q[1], "x", 1) == 1)
			ok("sigio_setown_pgrp", "process group %d (the test checks the catcher)", v);
		else
			error("sigio_setown_pgrp", "write: %s", en(errno));
	}
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIGURG;
	si.si_code = SI_QUEUE;
	long r = RAW(SYS_rt_sigqueueinfo, v, SIGURG, &si);
	if (r == 0)
		escaped("sigqueueinfo_host", "rt_sigqueueinfo(%d, SIGURG) delivered", v);
	else
		ok("sigqueueinfo_host", "%s", en(-r));
	r = RAW(SYS_rt_tgsigqueueinfo, v, v, SIGURG, &si);
	if (r == 0)
		escaped("tgsigqueueinfo_host", "rt_tgsigqueueinfo(%d, SIGURG) delivered", v);
	else
		ok("tgsigqueueinfo_host", "%s", en(-r));
	usleep(100000);
}

static void write_attempt(const char *name, const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		ok(name, "open %s: %s", path, en(errno));
		return;
	}
	if (write(fd, val, strlen(val)) >= 0)
		escaped(name, "wrote %s to %s", val, path);
	else
		ok(name, "write %s: %s", path, en(errno));
	close(fd);
}

static void cgroup_attempts(const char *own)
{
	char pid[32], path[1100];
	snprintf(pid, sizeof pid, "%d\n", getpid());
	write_attempt("cgroup_root_procs", "/sys/fs/cgroup/cgroup.procs", pid);
	snprintf(path, sizeof path, "/sys/fs/cgroup/%s/pids.max", own);
	write_attempt("cgroup_own_pids_max", path, "max\n");
	snprintf(path, sizeof path, "/sys/fs/cgroup/%s/escape-child", own);
	if (mkdir(path, 0755) == 0) {
		escaped("cgroup_mkdir", "made %s", path);
		rmdir(path);
	} else
		ok("cgroup_mkdir", "%s", en(errno));
	int root = open("/sys/fs/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct clone_args ca;
	memset(&ca, 0, sizeof ca);
	ca.flags = CLONE_INTO_CGROUP;
	ca.exit_signal = SIGCHLD;
	ca.cgroup = root < 0 ? 0 : root;
	long r = RAW(SYS_clone3, &ca, sizeof ca);
	if (r == 0)
		_exit(0);
	if (r > 0) {
		waitpid(r, NULL, 0);
		escaped("clone3_into_cgroup", "a child in the root cgroup (fd %d)", root);
	} else
		ok("clone3_into_cgroup", "%s", en(-r));
	if (root >= 0)
		close(root);
}

static struct rlimit big; /* below 4 GiB: -no-pie, for the i386 call */

static void nofile_attempts(void)
{
	struct rlimit cur;
	getrlimit(RLIMIT_NOFILE, &cur);
	big.rlim_cur = big.rlim_max = cur.rlim_max + 1024;
	if (setrlimit(RLIMIT_NOFILE, &big) == 0)
		escaped("nofile_setrlimit", "hard limit %lu -> %lu", cur.rlim_max, big.rlim_max);
	else
		ok("nofile_setrlimit", "%s", en(errno));
	long r = RAW(SYS_prlimit64, 0, RLIMIT_NOFILE, &big, NULL);
	if (r == 0)
		escaped("nofile_prlimit", "hard limit raised by prlimit64");
	else
		ok("nofile_prlimit", "%s", en(-r));
	static unsigned int big32[2];
	big32[0] = big32[1] = (unsigned int)big.rlim_max;
	r = int80(75 /* setrlimit */, RLIMIT_NOFILE, (long)big32, 0, 0, 0, 0);
	if (r == 0)
		escaped("i386:nofile_setrlimit", "hard limit raised through int 0x80");
	else
		ok("i386:nofile_setrlimit", "%s", en(-r));
}

int main(void)
{
	static char own[512];
	long catcher = envnum("ESC_CATCHER");
	FILE *f = fopen("/proc/self/cgroup", "r");
	char l[512];
	int found = 0;
	while (f && fgets(l, sizeof l, f))
		if (strncmp(l, "0::/", 4) == 0) {
			snprintf(own, sizeof own, "%s", l + 4);
			found = 1;
		}
	own[strcspn(own, "\n")] = 0;
	if (!found || catcher <= 0) {
		fprintf(stderr, "no cgroup2 line in /proc/self/cgroup, or ESC_CATCHER unset\n");
		return 2;
	}
	sig_attempts(catcher);
	if (!envnum("ESC_NO_CGROUP")) /* the unconfined control: the signals only */
		cgroup_attempts(own);
	nofile_attempts();
	return finish();
}
