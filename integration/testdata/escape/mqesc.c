/* mqesc: reach the host's POSIX message queues. Without an IPC namespace every mqueue
 * filesystem shows the host's queues, so an OCI default /dev/mqueue mount would hand them to
 * the container by path, and the mq_* calls work on any queue descriptor. The test owns the
 * queue (ESC_MQ_NAME, one message in it) and looks for it under ESC_MQ_DIR (/dev/mqueue).
 * Harmless if it succeeds: the queue and the one this program creates are the test's to lose. */
#include "common.h"

#include <dirent.h>
#include <time.h>

static const char *qname, *qdir;
static char qpath[256], newpath[256];
static char name_buf[128], none_name[] = "sandlock-escape-no-such-queue";
static char msg_buf[64];
static struct timespec no_wait; /* zero: an absolute time long past, so nothing blocks */

/* refused: anything but success, which is all these calls need to prove a hole */
static void judge(const char *name, long r, const char *what)
{
	if (r >= 0)
		escaped(name, "%s: %ld", what, r);
	else
		ok(name, "%s: %s", what, en(-r));
}

/* syscall probe: EPERM/ENOSYS is seccomp's; another errno reached the kernel */
static void judge_sys(const char *name, long r, const char *what)
{
	if (r == -EPERM || r == -ENOSYS)
		ok(name, "%s: %s", what, en(-r));
	else
		escaped(name, "%s: %s: reached the kernel", what, r >= 0 ? "success" : en(-r));
}

static void path_attempts(void)
{
	DIR *d = opendir(qdir);
	int seen = 0;
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			seen |= strcmp(e->d_name, qname) == 0;
		closedir(d);
	}
	if (seen)
		escaped("mq_list", "%s lists the host queue %s", qdir, qname);
	else
		ok("mq_list", "%s: %s", qdir, d ? "the host queue is not there" : en(errno));
	long fd = open(qpath, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[128] = {0};
		long n = read(fd, buf, sizeof buf - 1);
		buf[strcspn(buf, "\n")] = 0;
		close(fd);
		escaped("mq_path_read", "read %s: %ld bytes: %s", qpath, n, buf);
	} else {
		ok("mq_path_read", "open %s: %s", qpath, en(errno));
	}
	fd = open(newpath, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		unlink(newpath);
	}
	judge("mq_path_create", fd < 0 ? -errno : fd, "create a queue by path");
}

/* by descriptor: the test's queue opened by name (refused in a container) or -1 */
static void call_attempts(void)
{
	long q = RAW(SYS_mq_open, name_buf, O_RDWR, 0, 0);
	judge_sys("x64:mq_open", q, "mq_open of the host queue");
	judge_sys("i386:mq_open", int80(277, (long)name_buf, O_RDWR, 0, 0, 0, 0), "i386 mq_open");
	long fd = q >= 0 ? q : -1;
	unsigned prio;
	judge_sys("x64:mq_timedreceive",
		  RAW(SYS_mq_timedreceive, fd, msg_buf, sizeof msg_buf, &prio, &no_wait), "receive");
	judge_sys("x64:mq_timedsend", RAW(SYS_mq_timedsend, fd, "x", 1, 0, &no_wait), "send");
	judge_sys("x64:mq_notify", RAW(SYS_mq_notify, fd, 0), "notify");
	judge_sys("x64:mq_getsetattr", RAW(SYS_mq_getsetattr, fd, 0, msg_buf), "getattr");
	judge_sys("x64:mq_unlink", RAW(SYS_mq_unlink, none_name), "mq_unlink of a missing queue");
	/* i386: fd -1 and bad pointers, rejected by the kernel after seccomp */
	judge_sys("i386:mq_timedsend", int80(279, -1, 0, 0, 0, 0, 0), "i386 mq_timedsend");
	judge_sys("i386:mq_timedreceive", int80(280, -1, 0, 0, 0, 0, 0), "i386 mq_timedreceive");
	judge_sys("i386:mq_notify", int80(281, -1, 0, 0, 0, 0, 0), "i386 mq_notify");
	judge_sys("i386:mq_getsetattr", int80(282, -1, 0, 0, 0, 0, 0), "i386 mq_getsetattr");
	judge_sys("i386:mq_timedsend_time64", int80(418, -1, 0, 0, 0, 0, 0), "i386 mq_timedsend_time64");
	judge_sys("i386:mq_timedreceive_time64", int80(419, -1, 0, 0, 0, 0, 0), "i386 mq_timedreceive_time64");
	judge_sys("i386:mq_unlink", int80(278, (long)none_name, 0, 0, 0, 0, 0), "i386 mq_unlink");
	if (q >= 0)
		close(q);
}

int main(void)
{
	dup2(1, 2);
	qname = getenv("ESC_MQ_NAME");
	qdir = getenv("ESC_MQ_DIR") ? getenv("ESC_MQ_DIR") : "/dev/mqueue";
	if (!qname || !*qname || strlen(qname) >= sizeof name_buf) {
		error("setup", "ESC_MQ_NAME not set");
		return finish();
	}
	snprintf(name_buf, sizeof name_buf, "%s", qname); /* below 4 GiB: an i386 argument */
	snprintf(qpath, sizeof qpath, "%s/%s", qdir, qname);
	snprintf(newpath, sizeof newpath, "%s/%s-new", qdir, qname);
	call_attempts();
	path_attempts();
	/* last: unlinking the test's queue by path (the test checks it is still there) */
	judge("mq_path_unlink", unlink(qpath) < 0 ? -errno : 0, "unlink the host queue by path");
	return finish();
}
