/* sl_zygote.c: the zygote Z, forked from a cgo call in init (see docs/design.md).
 *
 * Z runs only this file's code: it never returns to Go and never runs user code. It is forked
 * from one thread of a multi-threaded Go process, so it only uses raw syscalls and static or
 * stack memory (no malloc, no stdio). Being single-threaded, it keeps its state in statics,
 * which also keeps the 64 KiB request buffer off the stack and gives each child W its copy.
 *
 * Protocol on ctl (SOCK_SEQPACKET, one message per datagram, little-endian):
 *   S->Z SPAWN   u8 1, u32 reqid, packed image; SCM_RIGHTS: exactly 3 fds (stdin/out/err)
 *   Z->S SPAWNED u8 2, u32 reqid, i32 pid, i32 errno, error text (rest of the datagram);
 *                SCM_RIGHTS: the pidfd when pid > 0. Sent once exec succeeded or failed.
 *   Z->S EXITED  u8 3, i32 pid, i32 raw wait status, for every child Z reaps
 *   S->Z DRAIN   u8 4: exit once no children are left
 * EOF or an error on ctl means the supervisor is gone: Z kills the cgroup and exits. S never
 * sends an empty datagram (it would read as EOF).
 */
#define _GNU_SOURCE
#include "sl_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sl_msg.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#define SL_Z_MAXFDS 8   /* more than 3 is refused, but must be received to be closed */
#define SL_Z_ERRMAX 512 /* longest error text W reports */
#define SL_Z_HDR 5      /* u8 type + u32 reqid */

static struct {
	int ctl, killfd, sfd;
	pid_t init; /* our parent when forked: the container's init */
	int live;     /* children forked and not yet reaped */
	int draining; /* DRAIN received: exit when live drops to 0 */
	unsigned char buf[SL_SPAWN_MAX];
} z;

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* z_sigaction sets a disposition with raw rt_sigaction: no handler ever runs in Z. */
static void z_sigaction(int sig, void *handler)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} sa;

	memset(&sa, 0, sizeof sa);
	sa.handler = handler;
	syscall(SYS_rt_sigaction, sig, &sa, NULL, sizeof(uint64_t));
}

static void z_sigmask(uint64_t mask, uint64_t *old)
{
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, old, sizeof mask);
}

static void __attribute__((noreturn)) z_hangup(void)
{
	if (z.killfd >= 0)
		(void)!write(z.killfd, "1", 1);
	else if (z.killfd == SL_Z_KILL_INIT && getppid() == z.init)
		/* No cgroup: kill the container's init, our parent (checked: a reparented zygote
		 * has no init left to kill). Never kill(-1): nothing here proves the scope. */
		(void)syscall(SYS_kill, z.init, SIGKILL);
	_exit(0);
}

/* z_send sends one datagram, with fd in SCM_RIGHTS when fd >= 0. Failing to reach the
 * supervisor is the same as losing it. */
static void z_send(const void *p, size_t n, int fd)
{
	struct iovec iov = {(void *)p, n};
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} c;
	struct msghdr mh;

	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&c, 0, sizeof c);
		mh.msg_control = c.b;
		mh.msg_controllen = sizeof c.b;
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	}
	while (sendmsg(z.ctl, &mh, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			z_hangup();
}

static void z_spawned(uint32_t reqid, int32_t pid, int32_t err, const char *text, int pidfd)
{
	unsigned char out[13 + SL_Z_ERRMAX];
	size_t n = strnlen(text, SL_Z_ERRMAX);

	out[0] = SL_Z_SPAWNED;
	put32(out + 1, reqid);
	put32(out + 5, (uint32_t)pid);
	put32(out + 9, (uint32_t)err);
	memcpy(out + 13, text, n);
	z_send(out, 13 + n, pidfd);
}

static void z_spawn_fail(uint32_t reqid, const char *step, int err)
{
	char text[SL_Z_ERRMAX];
	struct sl_msg m;

	sl_msg_init(&m, text, sizeof text);
	sl_msg_str(&m, step);
	sl_msg_fail(&m, err);
	z_spawned(reqid, 0, err, text, -1);
}

/* z_child is W between fork and exec: stdio from the request, nothing else inherited but the
 * CLOEXEC report pipe (moved to fd 3), then the image. Failures go down the pipe. */
static void __attribute__((noreturn)) z_child(const char *img, size_t len, const int *fds, int errw)
{
	unsigned char rep[4 + SL_Z_ERRMAX];
	char *text = (char *)rep + 4;
	struct sl_msg m;
	int r = 0;

	sl_msg_init(&m, text, SL_Z_ERRMAX);
	for (int i = 0; i < 3 && !r; i++) {
		if (dup2(fds[i], i) < 0) {
			int e = errno;

			sl_msg_str(&m, "dup2 stdio");
			r = sl_msg_fail(&m, e);
		}
	}
	if (!r && errw != 3) {
		if (dup3(errw, 3, O_CLOEXEC) < 0) {
			int e = errno;

			sl_msg_str(&m, "dup3 report pipe");
			r = sl_msg_fail(&m, e);
		} else {
			errw = 3;
		}
	}
	if (!r && syscall(SYS_close_range, 4, ~0U, 0) < 0) {
		int e = errno;

		sl_msg_str(&m, "close_range");
		r = sl_msg_fail(&m, e);
	}
	if (!r)
		r = sl_apply_and_exec(img, len, text, SL_Z_ERRMAX);
	put32(rep, (uint32_t)-r);
	(void)!write(errw, rep, 4 + strnlen(text, SL_Z_ERRMAX));
	_exit(127);
}

/* z_read_report reads W's report until EOF: 0 means exec succeeded, else the errno, with the
 * text in text. */
static int z_read_report(int fd, char *text, size_t cap)
{
	unsigned char rep[4 + SL_Z_ERRMAX];
	size_t got = 0, n;
	int err;

	while (got < sizeof rep) {
		ssize_t r = read(fd, rep + got, sizeof rep - got);

		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || errno != EINTR)
			break;
	}
	text[0] = 0;
	if (got < 4)
		return 0;
	err = (int)get32(rep);
	n = got - 4 < cap ? got - 4 : cap - 1;
	memcpy(text, rep + 4, n);
	text[n] = 0;
	return err ? err : EIO;
}

static void z_spawn(uint32_t reqid, const char *img, size_t len, const int *fds)
{
	char text[SL_Z_ERRMAX];
	int p[2], pidfd = -1, err;
	long pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		z_spawn_fail(reqid, "spawn: pipe2", errno);
		return;
	}
	/* Raw clone, not clone3: the container's seccomp filter answers clone3 with ENOSYS. */
	pid = syscall(SYS_clone, SIGCHLD | CLONE_PIDFD, 0, &pidfd, 0, 0);
	if (pid == 0)
		z_child(img, len, fds, p[1]);
	err = errno;
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		z_spawn_fail(reqid, "spawn: clone", err);
		return;
	}
	err = z_read_report(p[0], text, sizeof text);
	close(p[0]);
	if (err) {
		/* W is exiting: reap it here so S never hears of a pid it was not given. */
		while (syscall(SYS_wait4, pid, NULL, 0, NULL) < 0 && errno == EINTR)
			;
		close(pidfd);
		z_spawned(reqid, 0, err, text, -1);
		return;
	}
	z.live++;
	z_spawned(reqid, (int32_t)pid, 0, "", pidfd);
	close(pidfd);
}

/* z_request checks a SPAWN and runs it. The caller closes fds afterwards. */
static void z_request(size_t n, int flags, const int *fds, int nfds)
{
	uint32_t reqid;

	if (n < SL_Z_HDR)
		return;
	reqid = get32(z.buf + 1);
	if (flags & MSG_TRUNC)
		z_spawn_fail(reqid, "spawn: request too long", EMSGSIZE);
	else if ((flags & MSG_CTRUNC) || nfds != 3)
		z_spawn_fail(reqid, "spawn: want exactly 3 stdio fds", EINVAL);
	else if (z.draining)
		z_spawn_fail(reqid, "spawn: zygote is draining", ESHUTDOWN);
	else
		z_spawn(reqid, (const char *)z.buf + SL_Z_HDR, n - SL_Z_HDR, fds);
}

/* z_collect_fds gathers SCM_RIGHTS fds; it returns how many arrived, keeping at most max. */
static int z_collect_fds(struct msghdr *mh, int *fds, int max)
{
	int total = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++, total++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
			if (total < max)
				fds[total] = fd;
			else
				close(fd);
		}
	}
	return total;
}

static void z_ctl(void)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * SL_Z_MAXFDS)];
		struct cmsghdr align;
	} c;
	struct iovec iov = {z.buf, sizeof z.buf};
	struct msghdr mh;
	int fds[SL_Z_MAXFDS], nfds;
	ssize_t n;

	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = c.b;
	mh.msg_controllen = sizeof c.b;
	n = recvmsg(z.ctl, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		z_hangup();
	nfds = z_collect_fds(&mh, fds, SL_Z_MAXFDS);
	if (z.buf[0] == SL_Z_SPAWN) {
		z_request((size_t)n, mh.msg_flags, fds, nfds);
	} else if (z.buf[0] == SL_Z_DRAIN) {
		z.draining = 1;
		if (z.live <= 0)
			_exit(0);
	}
	for (int i = 0; i < nfds && i < SL_Z_MAXFDS; i++)
		close(fds[i]);
}

static void z_reap(void)
{
	struct signalfd_siginfo si;
	unsigned char out[9];
	int status;
	long pid;

	while (read(z.sfd, &si, sizeof si) > 0)
		;
	while ((pid = syscall(SYS_wait4, -1, &status, WNOHANG, NULL)) > 0) {
		z.live--;
		out[0] = SL_Z_EXITED;
		put32(out + 1, (uint32_t)pid);
		put32(out + 5, (uint32_t)status);
		z_send(out, sizeof out, -1);
	}
	if (z.draining && z.live <= 0)
		_exit(0);
}

/* z_close_except closes every fd >= 3 except a and b (a <= b; either may be -1). */
static int z_close_except(int a, int b)
{
	int keep[2] = {a, b};
	unsigned lo = 3;

	for (int i = 0; i < 2; i++) {
		if (keep[i] < (int)lo)
			continue;
		if ((unsigned)keep[i] > lo && syscall(SYS_close_range, lo, keep[i] - 1, 0) < 0)
			return -1;
		lo = (unsigned)keep[i] + 1;
	}
	return (int)syscall(SYS_close_range, lo, ~0U, 0);
}

static const int z_ignored[] = {SIGTERM, SIGINT,  SIGHUP,  SIGQUIT, SIGPIPE,
				SIGUSR1, SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU};

/* z_within: p lies in [addr, addr+len). The stack, Z's statics and its TLS never do in the
 * ranges Go gives; checked anyway, since dropping them would wreck Z. */
static int z_within(uintptr_t addr, size_t len, const void *p)
{
	return (uintptr_t)p >= addr && (uintptr_t)p - addr < len;
}

/* z_setup makes the fresh child a zygote; any failure ends it (S sees ctl close). drop is
 * memory of the Go process Z was forked from that Z never touches (its heap arena): given back,
 * so that an idle zygote holds no copy of init's Go heap. */
static void z_setup(int ctl, int killfd, int nullfd, uintptr_t drop, size_t droplen)
{
	uint64_t chld = (uint64_t)1 << (SIGCHLD - 1);

	if (droplen && !z_within(drop, droplen, &chld) && !z_within(drop, droplen, &z) &&
	    !z_within(drop, droplen, &errno))
		(void)syscall(SYS_madvise, drop, droplen, MADV_DONTNEED);

	/* Go's handlers were inherited and must never run here. */
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			z_sigaction(sig, SIG_DFL);
	for (size_t i = 0; i < sizeof z_ignored / sizeof z_ignored[0]; i++)
		z_sigaction(z_ignored[i], SIG_IGN);
	z_sigmask(chld, NULL);
	z.ctl = ctl;
	z.killfd = killfd;
	z.init = getppid();
	/* Not dumpable: the container's processes, whose uid it may share, must not reach its
	 * memory through /proc. Except without root: then the supervisor, the same user without
	 * CAP_SYS_PTRACE, must read its memory and take its fds to perform the sendmsg of its
	 * reports (the policy traps sendmsg there), and the processes of the sandbox, the same
	 * user, gain nothing (no ptrace, no process_vm_*, no pidfd_getfd: seccomp; no write to
	 * /proc/PID/mem unless the policy makes /proc writable). */
	if (geteuid() == 0 && syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		_exit(1);
	for (int i = 0; i < 3; i++)
		if (dup2(nullfd, i) < 0)
			_exit(1);
	if (z_close_except(ctl < killfd ? ctl : killfd, ctl < killfd ? killfd : ctl) < 0)
		_exit(1);
	z.sfd = (int)syscall(SYS_signalfd4, -1, &chld, sizeof chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (z.sfd < 0)
		_exit(1);
}

static void __attribute__((noreturn)) z_main(int ctl, int killfd, int nullfd, uintptr_t drop, size_t droplen)
{
	z_setup(ctl, killfd, nullfd, drop, droplen);
	for (;;) {
		struct pollfd p[2] = {{z.ctl, POLLIN, 0}, {z.sfd, POLLIN, 0}};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			z_hangup();
		}
		if (p[1].revents)
			z_reap();
		if (p[0].revents)
			z_ctl();
	}
}

pid_t sl_zygote_fork(int ctl, int killfd, int nullfd, uintptr_t drop, size_t droplen)
{
	uint64_t old;
	long pid;
	int err;

	/* Block everything across the fork, as Go's own fork does, so no Go handler can run in the
	 * child before z_setup replaces them. */
	z_sigmask(~(uint64_t)0, &old);
	pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		z_main(ctl, killfd, nullfd, drop, droplen);
	err = errno;
	z_sigmask(old, NULL);
	return pid < 0 ? -err : (pid_t)pid;
}
