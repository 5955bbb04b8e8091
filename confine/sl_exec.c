/* sl_exec.c: apply a packed process image to the calling thread, then execve.
 *
 * Packed process image (written by ProcessImage.Pack in execimage.go; all integers
 * little-endian, no padding, no alignment):
 *
 *   offset size  field
 *        0    4  magic 0x31584c53 ("SLX1")
 *        4    4  flags: 0x1 keepcaps, 0x2 setsid, 0x4 setctty, 0x8 no_new_privs; other bits
 *                must be 0
 *        8    4  uid
 *       12    4  gid
 *       16    4  umask, i32: -1 = leave alone, else 0..0777
 *       20    4  ngroups (at most 65536)
 *       24    4  nrlimits
 *       28    4  nargs
 *       32    4  nenv
 *       36    4  nfilter: size of the filter area in 8-byte units
 *       40    8  capabilities, bit N = cap N: bounding
 *       48    8    effective
 *       56    8    inheritable
 *       64    8    permitted
 *       72    8    ambient
 *       80       ngroups x u32 gid
 *                nrlimits x { u32 resource, u32 0, u64 soft, u64 hard }   (24 bytes each)
 *                filter area: seccomp programs loaded in order right before execve, each
 *                  { u32 ninsns (1..4096), u32 flags (0x1 LOG, 0x2 SPEC_ALLOW) } then
 *                  ninsns x struct sock_filter (8 bytes each); at most 8 programs
 *                NUL-terminated strings: path (non-empty), cwd ("" = stay), nargs args,
 *                nenv env entries
 *
 * The buffer ends exactly after the last string. TestPackRoundTrip keeps Pack and
 * sl_image_parse in sync.
 *
 * This code also runs in the zygote's children, forked from a multi-threaded process: it uses
 * raw syscalls (glibc's set*id wrappers would signal every thread of the process, and they
 * may not exist any more), no malloc (scratch memory comes from mmap) and no stdio.
 */
#define _GNU_SOURCE
#include "sl_exec.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sl_msg.h"

/* 32-bit x86 and arm keep 16-bit ids under the plain names. */
#ifdef SYS_setresuid32
#define SL_SYS_SETRESUID SYS_setresuid32
#define SL_SYS_SETRESGID SYS_setresgid32
#define SL_SYS_SETGROUPS SYS_setgroups32
#else
#define SL_SYS_SETRESUID SYS_setresuid
#define SL_SYS_SETRESGID SYS_setresgid
#define SL_SYS_SETGROUPS SYS_setgroups
#endif

#define SL_NSIG 64

static const char sl_default_path[] =
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* Texts match Go's syscall.Errno strings so errors read the same from either side. */
static const char *const sl_errstr[] = {
	[EPERM] = "operation not permitted",
	[ENOENT] = "no such file or directory",
	[ESRCH] = "no such process",
	[EINTR] = "interrupted system call",
	[EIO] = "input/output error",
	[ENXIO] = "no such device or address",
	[E2BIG] = "argument list too long",
	[ENOEXEC] = "exec format error",
	[EBADF] = "bad file descriptor",
	[ECHILD] = "no child processes",
	[EAGAIN] = "resource temporarily unavailable",
	[ENOMEM] = "cannot allocate memory",
	[EACCES] = "permission denied",
	[EFAULT] = "bad address",
	[EBUSY] = "device or resource busy",
	[EEXIST] = "file exists",
	[EXDEV] = "invalid cross-device link",
	[ENODEV] = "no such device",
	[ENOTDIR] = "not a directory",
	[EISDIR] = "is a directory",
	[EINVAL] = "invalid argument",
	[ENFILE] = "too many open files in system",
	[EMFILE] = "too many open files",
	[ENOTTY] = "inappropriate ioctl for device",
	[ETXTBSY] = "text file busy",
	[EFBIG] = "file too large",
	[ENOSPC] = "no space left on device",
	[ESPIPE] = "illegal seek",
	[EROFS] = "read-only file system",
	[EMLINK] = "too many links",
	[EPIPE] = "broken pipe",
	[ERANGE] = "numerical result out of range",
	[ENAMETOOLONG] = "file name too long",
	[ENOSYS] = "function not implemented",
	[ELOOP] = "too many levels of symbolic links",
	[EOVERFLOW] = "value too large for defined data type",
	[ELIBBAD] = "accessing a corrupted shared library",
	[ENOTSOCK] = "socket operation on non-socket",
	[EMSGSIZE] = "message too long",
	[EOPNOTSUPP] = "operation not supported",
	[ECONNRESET] = "connection reset by peer",
	[ENOBUFS] = "no buffer space available",
	[ESHUTDOWN] = "cannot send after transport endpoint shutdown",
	[ETIMEDOUT] = "connection timed out",
	[ESTALE] = "stale file handle",
	[ECANCELED] = "operation canceled",
};

static const char *const sl_rlimit_names[] = {
	"RLIMIT_CPU",     "RLIMIT_FSIZE",   "RLIMIT_DATA",       "RLIMIT_STACK",
	"RLIMIT_CORE",    "RLIMIT_RSS",     "RLIMIT_NPROC",      "RLIMIT_NOFILE",
	"RLIMIT_MEMLOCK", "RLIMIT_AS",      "RLIMIT_LOCKS",      "RLIMIT_SIGPENDING",
	"RLIMIT_MSGQUEUE", "RLIMIT_NICE",   "RLIMIT_RTPRIO",     "RLIMIT_RTTIME",
};

const char *sl_strerror(int err)
{
	if (err <= 0 || (size_t)err >= sizeof sl_errstr / sizeof sl_errstr[0])
		return NULL;
	return sl_errstr[err];
}

/* ---- message building without stdio (async-signal-safe) ---- */

void sl_msg_init(struct sl_msg *m, char *buf, size_t cap)
{
	m->buf = buf;
	m->cap = cap;
	m->len = 0;
	if (cap)
		buf[0] = 0;
}

void sl_msg_str(struct sl_msg *m, const char *s)
{
	if (!m->cap)
		return;
	while (*s && m->len + 1 < m->cap)
		m->buf[m->len++] = *s++;
	m->buf[m->len] = 0;
}

void sl_msg_uint(struct sl_msg *m, uint64_t v)
{
	char tmp[24];
	int i = sizeof tmp;

	tmp[--i] = 0;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sl_msg_str(m, tmp + i);
}

void sl_msg_quote(struct sl_msg *m, const char *s)
{
	sl_msg_str(m, "\"");
	sl_msg_str(m, s);
	sl_msg_str(m, "\"");
}

int sl_msg_fail(struct sl_msg *m, int err)
{
	const char *s = sl_strerror(err);

	sl_msg_str(m, ": ");
	if (s) {
		sl_msg_str(m, s);
	} else {
		sl_msg_str(m, "errno ");
		sl_msg_uint(m, (uint64_t)err);
	}
	return -err;
}

/* ---- parsing ---- */

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int bad_image(struct sl_msg *m, const char *what)
{
	sl_msg_str(m, "process image: ");
	sl_msg_str(m, what);
	return sl_msg_fail(m, EINVAL);
}

/* skip_strs steps over n NUL-terminated strings at *off; 0 if one runs past the end. */
static int skip_strs(const char *buf, size_t len, size_t *off, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const char *nul;

		if (*off >= len)
			return 0;
		nul = memchr(buf + *off, 0, len - *off);
		if (!nul)
			return 0;
		*off = (size_t)(nul - buf) + 1;
	}
	return 1;
}

static void parse_header(const unsigned char *u, struct sl_image *img)
{
	img->flags = le32(u + 4);
	img->uid = le32(u + 8);
	img->gid = le32(u + 12);
	img->umask = (int32_t)le32(u + 16);
	img->ngroups = le32(u + 20);
	img->nrlimits = le32(u + 24);
	img->nargs = le32(u + 28);
	img->nenv = le32(u + 32);
	img->nfilter = le32(u + 36);
	img->cap_bnd = le64(u + 40);
	img->cap_eff = le64(u + 48);
	img->cap_inh = le64(u + 56);
	img->cap_prm = le64(u + 64);
	img->cap_amb = le64(u + 72);
}

/* filters_valid checks the record structure of the filter area: whole records, each of 1 to
 * SL_IMG_MAX_FILTER instructions with known flags, at most SL_IMG_MAX_FILTERS of them. */
static int filters_valid(const unsigned char *p, uint32_t units)
{
	uint32_t off = 0, n = 0;

	while (off < units) {
		uint32_t ninsns = le32(p + (size_t)off * 8), flags = le32(p + (size_t)off * 8 + 4);

		if (ninsns < 1 || ninsns > SL_IMG_MAX_FILTER || ninsns > units - off - 1 ||
		    (flags & ~(SL_FILTER_LOG | SL_FILTER_SPEC)) || ++n > SL_IMG_MAX_FILTERS)
			return 0;
		off += 1 + ninsns;
	}
	return 1;
}

int sl_image_parse(const char *buf, size_t len, struct sl_image *img, char *errbuf, size_t errlen)
{
	const unsigned char *u = (const unsigned char *)buf;
	struct sl_msg m;
	size_t off = SL_IMG_HDR_LEN;

	sl_msg_init(&m, errbuf, errlen);
	memset(img, 0, sizeof *img);
	if (len < SL_IMG_HDR_LEN || le32(u) != SL_IMG_MAGIC)
		return bad_image(&m, "bad magic or short header");
	parse_header(u, img);
	if (img->flags & ~SL_IMG_F_ALL)
		return bad_image(&m, "unknown flags");
	if (img->nfilter > SL_IMG_MAX_FUNITS)
		return bad_image(&m, "seccomp programs too long");
	if (img->umask < -1 || img->umask > 0777)
		return bad_image(&m, "bad umask");
	if (img->ngroups > SL_IMG_MAX_GROUPS || (len - off) / 4 < img->ngroups)
		return bad_image(&m, "bad group count");
	img->groups = u + off;
	off += (size_t)img->ngroups * 4;
	if ((len - off) / SL_IMG_RLIMIT_LEN < img->nrlimits)
		return bad_image(&m, "bad rlimit count");
	img->rlimits = u + off;
	off += (size_t)img->nrlimits * SL_IMG_RLIMIT_LEN;
	if ((len - off) / 8 < img->nfilter)
		return bad_image(&m, "bad seccomp program length");
	img->filter = u + off;
	if (!filters_valid(img->filter, img->nfilter))
		return bad_image(&m, "bad seccomp program records");
	off += (size_t)img->nfilter * 8;
	img->path = buf + off;
	if (!skip_strs(buf, len, &off, 1) || !img->path[0])
		return bad_image(&m, "bad path");
	img->cwd = buf + off;
	if (!skip_strs(buf, len, &off, 1))
		return bad_image(&m, "bad cwd");
	img->args = buf + off;
	if (!skip_strs(buf, len, &off, img->nargs))
		return bad_image(&m, "truncated args");
	img->env = buf + off;
	if (!skip_strs(buf, len, &off, img->nenv))
		return bad_image(&m, "truncated env");
	if (off != len)
		return bad_image(&m, "trailing bytes");
	return 0;
}

/* ---- scratch memory: argv, envp and the gid array, without malloc ---- */

struct sl_scratch {
	void *mem;
	size_t size;
	char **argv;
	char **envp;
	gid_t *groups;
};

/* fill_strv points v[0..n-1] at n consecutive strings starting at s, and NULL-terminates v. */
static void fill_strv(char **v, const char *s, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		v[i] = (char *)s;
		s += strlen(s) + 1;
	}
	v[n] = NULL;
}

static int scratch_map(const struct sl_image *img, struct sl_scratch *sc, struct sl_msg *m)
{
	size_t nptr = (size_t)img->nargs + 2 + (size_t)img->nenv + 1;
	void *p;

	sc->size = nptr * sizeof(char *) + (size_t)img->ngroups * sizeof(gid_t);
	p = mmap(NULL, sc->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		int e = errno;

		sl_msg_str(m, "mmap scratch");
		return sl_msg_fail(m, e);
	}
	sc->mem = p;
	sc->argv = p;
	sc->envp = sc->argv + img->nargs + 2;
	sc->groups = (gid_t *)(sc->envp + img->nenv + 1);
	if (img->nargs) {
		fill_strv(sc->argv, img->args, img->nargs);
	} else {
		/* No args: the program still deserves an argv[0]. */
		sc->argv[0] = (char *)img->path;
		sc->argv[1] = NULL;
	}
	fill_strv(sc->envp, img->env, img->nenv);
	for (uint32_t i = 0; i < img->ngroups; i++)
		sc->groups[i] = le32(img->groups + 4 * (size_t)i);
	return 0;
}

/* ---- the steps, in the order they are applied ---- */

static int set_rlimits(const struct sl_image *img, struct sl_msg *m)
{
	for (uint32_t i = 0; i < img->nrlimits; i++) {
		const unsigned char *r = img->rlimits + (size_t)i * SL_IMG_RLIMIT_LEN;
		uint32_t res = le32(r);
		struct {
			uint64_t cur, max;
		} rl = {le64(r + 8), le64(r + 16)};

		if (syscall(SYS_prlimit64, 0, res, &rl, NULL) < 0) {
			int e = errno;

			sl_msg_str(m, "setrlimit ");
			if (res < sizeof sl_rlimit_names / sizeof sl_rlimit_names[0])
				sl_msg_str(m, sl_rlimit_names[res]);
			else
				sl_msg_uint(m, res);
			return sl_msg_fail(m, e);
		}
	}
	return 0;
}

/* set_cwd runs before the uid change, like runc: a cwd only root can reach still works, and a
 * cwd that cannot be entered is an error rather than a silent stay. */
static int set_cwd(const struct sl_image *img, struct sl_msg *m)
{
	if (!img->cwd[0])
		return 0;
	if (syscall(SYS_chdir, img->cwd) < 0) {
		int e = errno;

		sl_msg_str(m, "chdir ");
		sl_msg_quote(m, img->cwd);
		return sl_msg_fail(m, e);
	}
	return 0;
}

static int set_session(const struct sl_image *img, struct sl_msg *m)
{
	if ((img->flags & SL_IMG_F_SETSID) && syscall(SYS_setsid) < 0) {
		int e = errno;

		sl_msg_str(m, "setsid");
		return sl_msg_fail(m, e);
	}
	if ((img->flags & SL_IMG_F_SETCTTY) && syscall(SYS_ioctl, 0, TIOCSCTTY, 0) < 0) {
		int e = errno;

		sl_msg_str(m, "ioctl TIOCSCTTY");
		return sl_msg_fail(m, e);
	}
	return 0;
}

static int sl_prctl(int op, unsigned long a2, unsigned long a3, struct sl_msg *m,
		    const char *step)
{
	if (syscall(SYS_prctl, op, a2, a3, 0, 0) < 0) {
		int e = errno;

		sl_msg_str(m, step);
		return sl_msg_fail(m, e);
	}
	return 0;
}

/* last_cap asks the kernel (PR_CAPBSET_READ fails with EINVAL past the last capability), so it
 * works without /proc, e.g. inside a chroot. */
static int last_cap(void)
{
	int c = 0;

	while (c < 63 && syscall(SYS_prctl, PR_CAPBSET_READ, c + 1, 0, 0, 0) >= 0)
		c++;
	return c;
}

static uint64_t cap_mask(int last)
{
	return last >= 63 ? ~(uint64_t)0 : ((uint64_t)1 << (last + 1)) - 1;
}

struct sl_caps {
	uint64_t eff, prm, inh, amb;
};

/* caps_snapshot records the thread's sets so KeepCaps can restore them after the uid change
 * (which clears the effective and ambient sets). */
static int caps_snapshot(struct sl_caps *c, int last, struct sl_msg *m)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0) {
		int e = errno;

		sl_msg_str(m, "capget");
		return sl_msg_fail(m, e);
	}
	c->eff = d[0].effective | (uint64_t)d[1].effective << 32;
	c->prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	c->inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	c->amb = 0;
	for (int i = 0; i <= last; i++)
		if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, i, 0, 0) == 1)
			c->amb |= (uint64_t)1 << i;
	return 0;
}

/* drop_bounding drops every capability not in keep. Caps already gone are skipped, so a caller
 * without CAP_SETPCAP that asks for no change does not fail. */
static int drop_bounding(uint64_t keep, int last, struct sl_msg *m)
{
	for (int c = 0; c <= last; c++) {
		if ((keep >> c & 1) || syscall(SYS_prctl, PR_CAPBSET_READ, c, 0, 0, 0) == 0)
			continue;
		if (syscall(SYS_prctl, PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			int e = errno;

			sl_msg_str(m, "drop bounding capability ");
			sl_msg_uint(m, (uint64_t)c);
			return sl_msg_fail(m, e);
		}
	}
	return 0;
}

/* has_groups reports whether the caller's supplementary groups are exactly want (the kernel
 * keeps them sorted, and so does the direct mode, which asks for the caller's own). */
static int has_groups(const gid_t *want, uint32_t n)
{
	gid_t cur[256];
	long got;

	if (n > 256)
		return 0;
	got = syscall(SYS_getgroups, 256, cur);
	if (got != (long)n)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (cur[i] != want[i])
			return 0;
	return 1;
}

static int set_ids(const struct sl_image *img, const struct sl_scratch *sc, struct sl_msg *m)
{
	int e;

	/* setgroups needs CAP_SETGID even to keep the list as it is: an unprivileged caller
	 * that already has the groups the image wants (the direct mode's login user) is fine. */
	if (syscall(SL_SYS_SETGROUPS, (size_t)img->ngroups, sc->groups) < 0 &&
	    !(errno == EPERM && has_groups(sc->groups, img->ngroups))) {
		e = errno;
		sl_msg_str(m, "setgroups");
		return sl_msg_fail(m, e);
	}
	if (syscall(SL_SYS_SETRESGID, img->gid, img->gid, img->gid) < 0) {
		e = errno;
		sl_msg_str(m, "setresgid ");
		sl_msg_uint(m, img->gid);
		return sl_msg_fail(m, e);
	}
	if (syscall(SL_SYS_SETRESUID, img->uid, img->uid, img->uid) < 0) {
		e = errno;
		sl_msg_str(m, "setresuid ");
		sl_msg_uint(m, img->uid);
		return sl_msg_fail(m, e);
	}
	return 0;
}

/* set_caps installs exactly c: E/P/I with capset, then the ambient set from scratch. */
static int set_caps(const struct sl_caps *c, int last, struct sl_msg *m)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {
		{(uint32_t)c->eff, (uint32_t)c->prm, (uint32_t)c->inh},
		{(uint32_t)(c->eff >> 32), (uint32_t)(c->prm >> 32), (uint32_t)(c->inh >> 32)},
	};
	int r;

	if (syscall(SYS_capset, &h, d) < 0) {
		int e = errno;

		sl_msg_str(m, "capset");
		return sl_msg_fail(m, e);
	}
	r = sl_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, m, "clear ambient capabilities");
	for (int i = 0; !r && i <= last; i++) {
		if (!(c->amb >> i & 1))
			continue;
		/* The kernel only raises an ambient capability that is both permitted and
		 * inheritable. runc's own default spec lists ambient capabilities without the
		 * inheritable set; like runc, such entries are skipped, not fatal. */
		if (!(c->prm >> i & 1) || !(c->inh >> i & 1))
			continue;
		if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0) {
			int e = errno;

			sl_msg_str(m, "raise ambient capability ");
			sl_msg_uint(m, (uint64_t)i);
			r = sl_msg_fail(m, e);
		}
	}
	return r;
}

/* set_creds drops the bounding set, changes ids and installs the capability sets. KEEPCAPS is
 * on across the uid change so the permitted set survives it; without KeepCaps the sets are then
 * replaced by exactly the image's (bits past the kernel's last capability are ignored, as runc
 * ignores unknown capabilities); with KeepCaps the thread's own sets are put back. */
static int set_creds(const struct sl_image *img, const struct sl_scratch *sc, struct sl_msg *m)
{
	int last = last_cap(), r;
	uint64_t mask = cap_mask(last);
	struct sl_caps want = {img->cap_eff & mask, img->cap_prm & mask, img->cap_inh & mask,
			       img->cap_amb & mask};

	if ((r = sl_prctl(PR_SET_KEEPCAPS, 1, 0, m, "prctl PR_SET_KEEPCAPS 1")))
		return r;
	if (img->flags & SL_IMG_F_KEEPCAPS)
		r = caps_snapshot(&want, last, m);
	else
		r = drop_bounding(img->cap_bnd, last, m);
	if (r || (r = set_ids(img, sc, m)) || (r = set_caps(&want, last, m)))
		return r;
	return sl_prctl(PR_SET_KEEPCAPS, 0, 0, m, "prctl PR_SET_KEEPCAPS 0");
}

/* reset_signals leaves the new program default dispositions and an empty mask. execve already
 * resets handled signals to SIG_DFL, so only ignored ones are changed here: touching Go's
 * handlers in a still-running Go process would open a window for nothing. Raw rt_sigaction
 * because glibc refuses its two internal signals. */
static void reset_signals(void)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} old, dfl;
	uint64_t none = 0;

	memset(&dfl, 0, sizeof dfl); /* SIG_DFL is 0 */
	for (int sig = 1; sig <= SL_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		memset(&old, 0, sizeof old);
		if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(uint64_t)) == 0 &&
		    old.handler == (void *)SIG_IGN)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
	}
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
}

static const char *env_path(const struct sl_image *img)
{
	const char *s = img->env;

	for (uint32_t i = 0; i < img->nenv; i++) {
		if (!strncmp(s, "PATH=", 5))
			return s + 5;
		s += strlen(s) + 1;
	}
	return sl_default_path;
}

/* lookup_exec searches PATH like execvpe: ENOENT-like failures move on, EACCES is remembered,
 * anything else stops the search. An empty element means the current directory. */
static int lookup_exec(const struct sl_image *img, const struct sl_scratch *sc, struct sl_msg *m)
{
	const char *name = img->path, *p = env_path(img);
	size_t nlen = strlen(name);
	int eacces = 0;
	char full[4096];

	for (;;) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);

		if (dlen + 1 + nlen < sizeof full) {
			memcpy(full, p, dlen);
			full[dlen] = '/';
			memcpy(full + dlen + 1, name, nlen + 1);
			syscall(SYS_execve, dlen ? full : name, sc->argv, sc->envp);
			switch (errno) {
			case EACCES:
				eacces = 1;
				break;
			case ENOENT: case ENOTDIR: case ESTALE: case ENODEV: case ETIMEDOUT:
				break;
			default: {
				int e = errno;

				sl_msg_str(m, "exec ");
				sl_msg_quote(m, dlen ? full : name);
				return sl_msg_fail(m, e);
			}
			}
		}
		if (!*end)
			break;
		p = end + 1;
	}
	sl_msg_str(m, "exec ");
	sl_msg_quote(m, name);
	if (eacces)
		return sl_msg_fail(m, EACCES);
	sl_msg_str(m, ": executable file not found in $PATH");
	return -ENOENT;
}

/* load_filters installs the image's seccomp programs (the OCI profile, the policy's syscall
 * list): as late as possible, so they confine what is executed and as little of the runtime's
 * own code as can be (filters_first says when). Each program is copied to an aligned buffer
 * first (the packed image has no alignment). */
static int load_filters(const struct sl_image *img, struct sl_msg *m)
{
	static struct sock_filter insns[SL_IMG_MAX_FILTER];
	uint32_t off = 0;

	while (off < img->nfilter) {
		const unsigned char *rec = img->filter + (size_t)off * 8;
		uint32_t n = le32(rec), f = le32(rec + 4);
		struct sock_fprog prog = {(unsigned short)n, insns};
		unsigned flags = 0;

		memcpy(insns, rec + 8, (size_t)n * sizeof insns[0]);
		if (f & SL_FILTER_LOG)
			flags |= SECCOMP_FILTER_FLAG_LOG;
		if (f & SL_FILTER_SPEC)
			flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0) {
			int e = errno;

			sl_msg_str(m, "load a seccomp program");
			return sl_msg_fail(m, e);
		}
		off += 1 + n;
	}
	return 0;
}

/* filters_first: without no_new_privs a seccomp program can only be loaded with CAP_SYS_ADMIN,
 * which the credential step may drop; a process that keeps the ability to gain privileges
 * (process.noNewPrivileges false, the thread has no no_new_privs yet) therefore gets its
 * programs before the credential step, as runc does, and the profile must allow that step's
 * syscalls. Otherwise they load last, right before execve. */
static int filters_first(const struct sl_image *img)
{
	return !(img->flags & SL_IMG_F_NNP) && syscall(SYS_prctl, PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0;
}

static int do_exec(const struct sl_image *img, const struct sl_scratch *sc, int load, struct sl_msg *m)
{
	int e;

	reset_signals();
	if ((img->flags & SL_IMG_F_NNP) &&
	    (e = sl_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, m, "prctl PR_SET_NO_NEW_PRIVS")))
		return e;
	if (load && (e = load_filters(img, m)))
		return e;
	if (!strchr(img->path, '/'))
		return lookup_exec(img, sc, m);
	syscall(SYS_execve, img->path, sc->argv, sc->envp);
	e = errno;
	sl_msg_str(m, "exec ");
	sl_msg_quote(m, img->path);
	return sl_msg_fail(m, e);
}

int sl_apply_and_exec(const char *buf, size_t len, char *errbuf, size_t errlen)
{
	struct sl_image img;
	struct sl_scratch sc;
	struct sl_msg m;
	int r;

	sl_msg_init(&m, errbuf, errlen);
	if ((r = sl_image_parse(buf, len, &img, errbuf, errlen)) ||
	    (r = scratch_map(&img, &sc, &m)))
		return r;
	if (!(r = set_rlimits(&img, &m))) {
		if (img.umask >= 0)
			syscall(SYS_umask, img.umask);
		int early = filters_first(&img);

		if (!(r = set_cwd(&img, &m)) && !(r = set_session(&img, &m)) &&
		    !(early && (r = load_filters(&img, &m))) && !(r = set_creds(&img, &sc, &m)))
			r = do_exec(&img, &sc, !early, &m);
	}
	munmap(sc.mem, sc.size);
	return r;
}
