/* A listener of the process's own ahead of the supervisor's (docs/security.md, "Nested
 * listeners"). When two filters answer SECCOMP_RET_USER_NOTIF, the kernel notifies the newest
 * one's listener; if that is the process's own, a thread of it answers CONTINUE and the call
 * runs in the kernel without the supervisor ever seeing it: chmod, connect, open... past every
 * on-behalf check.
 *
 *   notifnest FILE
 *     installs a filter that sends chmod, fchmodat and fchmodat2 to a listener of its own
 *     (SECCOMP_FILTER_FLAG_NEW_LISTENER, through seccomp(2) on both entries), answers them
 *     CONTINUE from a thread, and chmods FILE (which the policy does not let it change) to
 *     0604, then back to what it was if that worked.
 *
 * Lines: own_listener (refused: ok), i386:own_listener, own_listener_chmod (the mode must be
 * unchanged: ok). The kernel itself refuses a second listener in one filter chain (EBUSY), so
 * this holds today: the program keeps it that way (a filter loaded without the supervisor's
 * listener, a kernel that relaxes the rule). Unconfined, both loads succeed and the chmod
 * works. */
#include "common.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/ioctl.h>

static struct sock_filter insns[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_chmod, 3, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fchmodat, 2, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 452 /* fchmodat2 */, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
};
static struct sock_fprog prog = {sizeof insns / sizeof insns[0], insns};
/* the i386 layout of struct sock_fprog (insns lies below 4 GiB: static, no PIE) */
static struct {
	unsigned short len;
	unsigned int filter;
} prog32;

static void *answer(void *arg)
{
	int fd = (int)(long)arg;
	for (;;) {
		struct seccomp_notif req;
		struct seccomp_notif_resp resp;
		memset(&req, 0, sizeof req);
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		memset(&resp, 0, sizeof resp);
		resp.id = req.id;
		resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		error("usage", "notifnest FILE");
		return finish();
	}
	struct stat before;
	if (stat(argv[1], &before) < 0) {
		error("own_listener", "stat %s: %s", argv[1], en(errno));
		return finish();
	}
	/* the i386 spelling first, in a child (a filter, once loaded, stays) */
	pid_t pid = fork();
	if (pid == 0) {
		prog32.len = prog.len;
		prog32.filter = (unsigned int)(unsigned long)insns;
		long r = int80(354 /* seccomp */, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, (long)&prog32, 0, 0, 0);
		if (r >= 0)
			escaped("i386:own_listener", "seccomp returned listener %ld", r);
		else
			ok("i386:own_listener", "%s", en(-r));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	long fd = RAW(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (fd < 0) {
		ok("own_listener", "%s", en(-fd));
		ok("own_listener_chmod", "no listener of its own: nothing to try");
		return finish();
	}
	escaped("own_listener", "a listener of its own: fd %ld", fd);
	pthread_t th;
	pthread_create(&th, NULL, answer, (void *)fd);
	long r = chmod(argv[1], 0604) < 0 ? -(long)errno : 0;
	struct stat after;
	stat(argv[1], &after);
	if ((after.st_mode & 07777) != (before.st_mode & 07777)) {
		escaped("own_listener_chmod", "chmod answered CONTINUE by its own listener changed %s to %o", argv[1], after.st_mode & 07777);
		chmod(argv[1], before.st_mode & 07777);
	} else
		ok("own_listener_chmod", "%s, mode unchanged", r ? en(-r) : "0");
	return finish();
}
