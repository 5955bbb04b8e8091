/* sl_init.c: the container's init (X in docs/design.md) in C, without the Go runtime.
 *
 * create re-executes the runtime as `sandlock-runtime init-c FD...` when init needs nothing only
 * Go can do (startContainer hooks, a user namespace, CPU pinning: those keep the Go init,
 * lifecycle/init.go). A constructor runs this file's code before the Go runtime starts, so the
 * process costs an exec and a dynamic link instead of a Go start (docs/performance.md). create
 * has done everything that can be done outside: the plan, the compiled seccomp programs, the
 * packed process image, the Landlock ruleset (its rule paths opened on the host, as init would
 * before chroot; the ruleset fd comes with the config). What is left is what only the process itself
 * can do, in the order of lifecycle/init.go's confineInit:
 *
 *   oom_score_adj, /dev/null, chroot, look up the program, check cwd, personality, THP,
 *   the policy's rlimits, no_new_privs, landlock_restrict_self, seccomp (the first program
 *   with the listener), its fd number -> create (xs), which takes it (pidfd_getfd), fork
 *   the zygote, {zygotePid} -> create (replies by write: the filter may trap sendmsg),
 *   wait for "go" on xs, fds marked close-on-exec, the C exec step (sl_apply_and_exec).
 *
 * Replies and errors are the Go init's, byte for byte in format: initReply JSON on initpipe,
 * a StepError JSON on xs after start. argv: init-c INITPIPE XS ZS KILL (decimal fds; KILL -1
 * without a cgroup); the Landlock ruleset fd comes with the config (SCM_RIGHTS).
 *
 * Config (one datagram on initpipe, little-endian, written by CInit.Pack in cinit.go):
 *   u32 magic "SLI1", u32 flags (0x1 oom_score_adj set, 0x2 no_new_privs asked, 0x4 no ASLR,
 *   0x8 no THP), i32 oom_score_adj, u32 preserve_fds, u32 nrlimits,
 *   nrlimits x { u32 resource, u64 soft, u64 hard },
 *   4 strings { u32 len (NUL included), bytes }: rootfs, cwd, program, PATH,
 *   u32 nprogs, nprogs x { u32 len, BPF bytes }, u32 image len, the packed image (sl_exec.c).
 */
#define _GNU_SOURCE
#include "sl_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sl_msg.h"

#define SLI_MAGIC 0x31494c53u /* "SLI1" */
#define SLI_F_OOM 0x1u
#define SLI_F_NNP 0x2u
#define SLI_F_NOASLR 0x4u
#define SLI_F_NOTHP 0x8u
#define SLI_MAX_PROGS 8
#define SLI_MAX_RLIMITS 16
#define SLI_BUF (4u << 20)
#define SLI_ERRMAX 1024

#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

static const char sli_default_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* The config datagram; static, so the 4 MiB cost nothing until used. */
static unsigned char sli_buf[SLI_BUF];

struct sli_cfg {
	uint32_t flags, preserve, nrlimits, nprogs;
	int32_t oom;
	const unsigned char *rlimits;
	const char *rootfs, *cwd, *program, *path;
	const unsigned char *prog[SLI_MAX_PROGS];
	uint32_t proglen[SLI_MAX_PROGS];
	const char *image;
	uint32_t imagelen;
};

static uint32_t sli_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t sli_le64(const unsigned char *p)
{
	return (uint64_t)sli_le32(p) | (uint64_t)sli_le32(p + 4) << 32;
}

/* ---- JSON replies ---- */

struct sli_out {
	char b[4 * SLI_ERRMAX];
	size_t n;
};

static void out_raw(struct sli_out *o, const char *s)
{
	while (*s && o->n + 1 < sizeof o->b)
		o->b[o->n++] = *s++;
}

/* out_str writes s as a JSON string. */
static void out_str(struct sli_out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	out_raw(o, "\"");
	for (; *s && o->n + 7 < sizeof o->b; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			o->b[o->n++] = '\\';
			o->b[o->n++] = (char)c;
		} else if (c < 0x20) {
			char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};

			out_raw(o, u);
		} else {
			o->b[o->n++] = (char)c;
		}
	}
	out_raw(o, "\"");
}

static void out_uint(struct sli_out *o, uint64_t v)
{
	char t[24];
	int i = sizeof t;

	t[--i] = 0;
	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	out_raw(o, t + i);
}

/* out_steperr writes a lifecycle.StepError (notexec: its NotExecutable). */
static void out_steperr(struct sli_out *o, const char *step, int err, const char *msg, int notexec)
{
	out_raw(o, "{\"step\":");
	out_str(o, step);
	if (err) {
		out_raw(o, ",\"errno\":");
		out_uint(o, (uint64_t)err);
	}
	out_raw(o, ",\"msg\":");
	out_str(o, msg);
	if (notexec)
		out_raw(o, ",\"not_executable\":true");
	out_raw(o, "}");
}

/* sli_fail_x reports a failure before create returned (an initReply) and exits. */
static void __attribute__((noreturn)) sli_fail_x(int initpipe, const char *step, int err, const char *msg, int notexec)
{
	static struct sli_out o;

	out_raw(&o, "{\"error\":");
	out_str(&o, msg);
	out_raw(&o, ",\"err\":");
	out_steperr(&o, step, err, msg, notexec);
	out_raw(&o, "}");
	(void)!write(initpipe, o.b, o.n);
	_exit(1);
}

static void __attribute__((noreturn)) sli_fail(int initpipe, const char *step, int err, const char *msg)
{
	sli_fail_x(initpipe, step, err, msg, 0);
}

/* ---- the config ---- */

struct sli_rd {
	const unsigned char *p;
	size_t left;
	int bad;
};

static const unsigned char *rd_bytes(struct sli_rd *r, size_t n)
{
	const unsigned char *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint32_t rd_u32(struct sli_rd *r)
{
	const unsigned char *p = rd_bytes(r, 4);

	return p ? sli_le32(p) : 0;
}

/* rd_str reads a NUL-terminated string of the given length (NUL included). */
static const char *rd_str(struct sli_rd *r)
{
	uint32_t n = rd_u32(r);
	const unsigned char *p = rd_bytes(r, n);

	if (!p || !n || p[n - 1] || memchr(p, 0, n - 1)) {
		r->bad = 1;
		return "";
	}
	return (const char *)p;
}

static int sli_parse(size_t len, struct sli_cfg *c)
{
	struct sli_rd r = {sli_buf, len, 0};

	memset(c, 0, sizeof *c);
	if (rd_u32(&r) != SLI_MAGIC)
		return -1;
	c->flags = rd_u32(&r);
	c->oom = (int32_t)rd_u32(&r);
	c->preserve = rd_u32(&r);
	c->nrlimits = rd_u32(&r);
	if (c->nrlimits > SLI_MAX_RLIMITS)
		return -1;
	c->rlimits = rd_bytes(&r, (size_t)c->nrlimits * 20);
	c->rootfs = rd_str(&r);
	c->cwd = rd_str(&r);
	c->program = rd_str(&r);
	c->path = rd_str(&r);
	c->nprogs = rd_u32(&r);
	if (c->nprogs == 0 || c->nprogs > SLI_MAX_PROGS)
		return -1;
	for (uint32_t i = 0; i < c->nprogs; i++) {
		c->proglen[i] = rd_u32(&r);
		c->prog[i] = rd_bytes(&r, c->proglen[i]);
		if (!c->proglen[i] || c->proglen[i] % 8 || c->proglen[i] / 8 > 4096)
			return -1;
	}
	c->imagelen = rd_u32(&r);
	c->image = (const char *)rd_bytes(&r, c->imagelen);
	return r.bad || r.left || !c->imagelen || !*c->rootfs || !*c->program ? -1 : 0;
}

/* ---- the steps ---- */

/* sli_stat_exec is Go's isExecutable: 0, or the errno and whether stat itself failed; *mode is
 * the file's mode when stat worked (a directory, or no execute bit, is the EACCES). */
static int sli_stat_exec(const char *p, int *statfailed, mode_t *mode)
{
	struct stat st;

	*statfailed = 0;
	if (stat(p, &st) < 0) {
		*statfailed = 1;
		return errno;
	}
	*mode = st.st_mode;
	if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111))
		return EACCES;
	return 0;
}

/* sli_fail_mode is Go's modeError: the program's own type or mode refused it, not the policy
 * (lifecycle.StepError.NotExecutable); m holds "exec: \"PROG\"". */
static void __attribute__((noreturn)) sli_fail_mode(int initpipe, struct sl_msg *m, const char *msg, mode_t mode)
{
	char oct[6] = {'0', '0', '0', '0', ')', 0};

	if (S_ISDIR(mode)) {
		sl_msg_str(m, ": permission denied (is a directory)");
	} else {
		for (int i = 3; i > 0; i--) /* the permission bits, as Go's %04o of Perm() */
			oct[i] = (char)('0' + ((mode >> (3 * (3 - i))) & 7));
		sl_msg_str(m, ": permission denied (not executable: mode ");
		sl_msg_str(m, oct);
	}
	sli_fail_x(initpipe, "exec", EACCES, msg, 1);
}

/* sli_lookpath is lifecycle's lookPath: the program must be there at create. */
static void sli_lookpath(int initpipe, const struct sli_cfg *c)
{
	char msg[SLI_ERRMAX], full[4096];
	struct sl_msg m;
	const char *p = *c->path ? c->path : sli_default_path;
	size_t nlen = strlen(c->program);
	int sf, e;
	mode_t mode = 0;

	sl_msg_init(&m, msg, sizeof msg);
	sl_msg_str(&m, "exec: ");
	sl_msg_quote(&m, c->program);
	if (strchr(c->program, '/')) {
		if (!(e = sli_stat_exec(c->program, &sf, &mode)))
			return;
		if (!sf)
			sli_fail_mode(initpipe, &m, msg, mode);
		if (sf) {
			sl_msg_str(&m, ": stat ");
			sl_msg_str(&m, c->program);
		}
		sl_msg_fail(&m, e);
		sli_fail(initpipe, "exec", e, msg);
	}
	for (;;) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);

		if (dlen + 1 + nlen < sizeof full) {
			if (dlen) {
				memcpy(full, p, dlen);
			} else {
				full[0] = '.';
				dlen = 1;
			}
			full[dlen] = '/';
			memcpy(full + dlen + 1, c->program, nlen + 1);
			if (!sli_stat_exec(full, &sf, &mode))
				return;
		}
		if (!*end)
			break;
		p = end + 1;
	}
	sl_msg_str(&m, ": executable file not found in $PATH");
	sli_fail(initpipe, "exec", ENOENT, msg);
}

/* sli_step_fail is a failed step's report: step, "<what>: <strerror>". */
static void __attribute__((noreturn)) sli_step_fail(int initpipe, const char *step, const char *what, int e)
{
	char msg[SLI_ERRMAX];
	struct sl_msg m;

	sl_msg_init(&m, msg, sizeof msg);
	sl_msg_str(&m, what);
	sl_msg_fail(&m, e);
	sli_fail(initpipe, step, e, msg);
}

/* sli_cwd is lifecycle's checkCwd. */
static void sli_cwd(int initpipe, const struct sli_cfg *c)
{
	char msg[SLI_ERRMAX];
	struct sl_msg m;
	struct stat st;
	int e = stat(c->cwd, &st) < 0 ? errno : 0;

	if (!e && S_ISDIR(st.st_mode))
		return;
	sl_msg_init(&m, msg, sizeof msg);
	sl_msg_str(&m, "process.cwd ");
	sl_msg_str(&m, c->cwd);
	if (e) {
		sl_msg_str(&m, ": stat ");
		sl_msg_str(&m, c->cwd);
		sl_msg_fail(&m, e);
		sli_fail(initpipe, "config", e, msg);
	}
	sl_msg_str(&m, ": not a directory");
	sli_fail(initpipe, "config", 0, msg);
}

static void sli_settings(int initpipe, const struct sli_cfg *c)
{
	if (c->flags & SLI_F_NOASLR) {
		long cur = syscall(SYS_personality, 0xffffffffUL);

		if (cur < 0 || syscall(SYS_personality, (unsigned long)cur | 0x0040000UL) < 0)
			sli_step_fail(initpipe, "config", "no_randomize_memory: personality", errno);
	}
	if ((c->flags & SLI_F_NOTHP) && syscall(SYS_prctl, PR_SET_THP_DISABLE, 1, 0, 0, 0) < 0)
		sli_step_fail(initpipe, "config", "no_huge_pages: prctl(PR_SET_THP_DISABLE)", errno);
	for (uint32_t i = 0; i < c->nrlimits; i++) {
		const unsigned char *r = c->rlimits + (size_t)i * 20;
		uint32_t res = sli_le32(r);
		struct {
			uint64_t cur, max;
		} rl = {sli_le64(r + 4), sli_le64(r + 12)};

		if (syscall(SYS_prlimit64, 0, res, &rl, NULL) < 0) {
			char what[96];
			struct sl_msg m;
			int e = errno;

			sl_msg_init(&m, what, sizeof what);
			sl_msg_str(&m, res == 4 ? "no_coredump" : "max_open_files");
			sl_msg_str(&m, ": setrlimit to ");
			sl_msg_uint(&m, rl.max);
			sli_step_fail(initpipe, "config", what, e);
		}
	}
}

/* sli_has_sys_admin: CAP_SYS_ADMIN in our effective set (lifecycle's hasCap). */
static int sli_has_sys_admin(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof d);
	if (syscall(SYS_capget, &h, d) < 0)
		return 0;
	return (d[CAP_SYS_ADMIN / 32].effective >> (CAP_SYS_ADMIN % 32)) & 1;
}

/* sli_seccomp loads sandlock's programs; the first one brings the listener. */
static int sli_seccomp(int initpipe, const struct sli_cfg *c)
{
	static struct sock_filter insns[4096];
	int listener = -1;

	for (uint32_t i = 0; i < c->nprogs; i++) {
		struct sock_fprog prog = {(unsigned short)(c->proglen[i] / 8), insns};
		unsigned long flags = i ? 0 : SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
		long fd;

		memcpy(insns, c->prog[i], c->proglen[i]);
		fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
		if (fd < 0)
			sli_step_fail(initpipe, "seccomp", "seccomp: load filter", errno);
		if (!i)
			listener = (int)fd;
	}
	return listener;
}

/* sli_hand_listener is lifecycle's handOverListener: the fd number goes to create as text
 * (sendmsg, which could carry the fd, is trapped by the filter just loaded and nobody answers
 * yet), which takes the listener with pidfd_getfd (as init's parent, which Yama allows), hands
 * it to the supervisor and says "taken" (lifecycle/handoff.go). */
static void sli_hand_listener(int initpipe, int xs, int listener)
{
	char msg[32], ack[16];
	struct sl_msg m;
	ssize_t n;
	int e = 0;

	sl_msg_init(&m, msg, sizeof msg);
	sl_msg_str(&m, "listener ");
	sl_msg_uint(&m, (uint64_t)listener);
	if (write(xs, msg, strlen(msg)) < 0) {
		e = errno;
	} else {
		do
			n = read(xs, ack, sizeof ack);
		while (n < 0 && errno == EINTR);
		if (n != 5 || memcmp(ack, "taken", 5))
			e = -1;
	}
	close(listener); /* the container must never hold its own listener */
	if (e > 0)
		sli_step_fail(initpipe, "notif", "hand listener to supervisor", e);
	if (e < 0)
		sli_fail(initpipe, "notif", 0, "hand listener to supervisor: the supervisor did not take it");
}

/* sli_exec_fail reports a failure after create returned, on xs (start reads it), and exits. */
static void __attribute__((noreturn)) sli_exec_fail(int xs, int err, const char *msg)
{
	static struct sli_out o;

	out_steperr(&o, "exec", err, msg, 0);
	(void)!write(xs, o.b, o.n);
	_exit(1);
}

static void __attribute__((noreturn)) sli_start(int xs, const struct sli_cfg *c)
{
	static char msg[512];
	char go[16];
	ssize_t n;
	int r;

	do
		n = recv(xs, go, sizeof go, 0);
	while (n < 0 && errno == EINTR);
	if (n != 2 || memcmp(go, "go", 2))
		sli_exec_fail(xs, 0, "supervisor went away before start");
	for (uint32_t fd = 3; fd < 3 + c->preserve; fd++)
		if (fcntl((int)fd, F_SETFD, 0) < 0) {
			struct sl_msg m;
			int e = errno;

			sl_msg_init(&m, msg, sizeof msg);
			sl_msg_str(&m, "preserve fd ");
			sl_msg_uint(&m, fd);
			sl_msg_fail(&m, e);
			sli_exec_fail(xs, e, msg);
		}
	if (syscall(SYS_close_range, 3 + c->preserve, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) < 0) {
		int e = errno;

		sli_exec_fail(xs, e, "close_range");
	}
	r = sl_apply_and_exec(c->image, c->imagelen, msg, sizeof msg);
	sli_exec_fail(xs, -r, msg);
}

static int sli_atoi(const char *s)
{
	int v = 0, neg = *s == '-';

	s += neg;
	if (!*s)
		return -2;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100000)
			return -2;
		v = v * 10 + (*s - '0');
	}
	return neg ? -v : v;
}

/* sli_recv receives the config and the ruleset fd that comes with it. */
static ssize_t sli_recv(int initpipe, int *ruleset)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} cm;
	struct iovec iov = {sli_buf, sizeof sli_buf};
	struct msghdr mh;
	ssize_t n;

	*ruleset = -1;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof cm.b;
	do
		n = recvmsg(initpipe, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); n > 0 && h; h = CMSG_NXTHDR(&mh, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
		    h->cmsg_len == CMSG_LEN(sizeof(int)) && *ruleset < 0)
			memcpy(ruleset, CMSG_DATA(h), sizeof(int));
	if (n > 0 && (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -1;
	return n;
}

static void __attribute__((noreturn)) sli_main(int initpipe, int xs, int zs, int killfd)
{
	static struct sli_cfg c;
	ssize_t n;
	int null, listener, zpid, ruleset;
	struct sli_out o = {.n = 0};

	n = sli_recv(initpipe, &ruleset);
	if (n == 0)
		_exit(1);
	if (n < 0 || ruleset < 0)
		sli_fail(initpipe, "config", EINVAL, "init config: malformed");
	if (sli_parse((size_t)n, &c) < 0)
		sli_fail(initpipe, "config", EINVAL, "init config: malformed");
	if (c.flags & SLI_F_OOM) {
		char v[16];
		struct sl_msg m;
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

		sl_msg_init(&m, v, sizeof v);
		if (c.oom < 0)
			sl_msg_str(&m, "-");
		sl_msg_uint(&m, (uint64_t)(c.oom < 0 ? -(int64_t)c.oom : c.oom));
		if (fd < 0 || write(fd, v, strlen(v)) < 0)
			sli_step_fail(initpipe, "config", "process.oomScoreAdj: write /proc/self/oom_score_adj", errno);
		close(fd);
	}
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		sli_step_fail(initpipe, "config", "open /dev/null", errno);
	if (strcmp(c.rootfs, "/")) {
		char what[SLI_ERRMAX];
		struct sl_msg m;

		sl_msg_init(&m, what, sizeof what);
		sl_msg_str(&m, "chroot ");
		sl_msg_str(&m, c.rootfs);
		if (chroot(c.rootfs) < 0)
			sli_step_fail(initpipe, "chroot", what, errno);
		if (chdir("/") < 0)
			sli_step_fail(initpipe, "chroot", "chdir /", errno);
	}
	sli_lookpath(initpipe, &c);
	sli_cwd(initpipe, &c);
	sli_settings(initpipe, &c);
	if (((c.flags & SLI_F_NNP) || !sli_has_sys_admin()) &&
	    syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		sli_step_fail(initpipe, "no_new_privs", "no_new_privs", errno);
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		sli_step_fail(initpipe, "landlock", "landlock: landlock_restrict_self", errno);
	close(ruleset);
	listener = sli_seccomp(initpipe, &c);
	sli_hand_listener(initpipe, xs, listener);
	zpid = sl_zygote_fork(zs, killfd >= 0 ? killfd : SL_Z_KILL_INIT, null, 0, 0);
	if (zpid < 0)
		sli_step_fail(initpipe, "fork", "zygote: fork zygote", -zpid);
	close(zs);
	if (killfd >= 0)
		close(killfd);
	close(null);
	out_raw(&o, "{\"zygotePid\":");
	out_uint(&o, (uint64_t)zpid);
	out_raw(&o, "}");
	if (write(initpipe, o.b, o.n) < 0)
		_exit(1);
	close(initpipe);
	sli_start(xs, &c);
}

/* The constructor: runs before the Go runtime in every process of this binary, and returns at
 * once unless this one is the C init. */
__attribute__((constructor)) static void sli_ctor(int argc, char **argv, char **envp)
{
	int fd[4];

	(void)envp;
	if (argc != 6 || !argv || strcmp(argv[0], "sandlock-runtime") || strcmp(argv[1], "init-c"))
		return;
	for (int i = 0; i < 4; i++)
		fd[i] = sli_atoi(argv[2 + i]);
	if (fd[0] < 3 || fd[1] < 3 || fd[2] < 3 || fd[3] < -1)
		_exit(1);
	sli_main(fd[0], fd[1], fd[2], fd[3]);
}
