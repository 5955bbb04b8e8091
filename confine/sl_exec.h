/* sl_exec.h: the packed process image (format in sl_exec.c), the drop-and-exec step and the
 * zygote. Everything declared here may run in a child forked from a multi-threaded Go process,
 * so it only uses raw syscalls and caller- or stack-provided memory (no malloc, no stdio). */
#ifndef SL_EXEC_H
#define SL_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SL_IMG_MAGIC 0x31584c53u /* "SLX1" read as a little-endian u32 */
#define SL_IMG_HDR_LEN 80
#define SL_IMG_RLIMIT_LEN 24
#define SL_IMG_MAX_GROUPS 65536

#define SL_IMG_F_KEEPCAPS 0x1u
#define SL_IMG_F_SETSID 0x2u
#define SL_IMG_F_SETCTTY 0x4u
#define SL_IMG_F_NNP 0x8u /* set no_new_privs before execve */
#define SL_IMG_F_ALL (SL_IMG_F_KEEPCAPS | SL_IMG_F_SETSID | SL_IMG_F_SETCTTY | SL_IMG_F_NNP)
#define SL_IMG_MAX_FILTER 4096 /* BPF_MAXINSNS */
#define SL_IMG_MAX_FILTERS 8
/* the filter area: records of { u32 ninsns, u32 flags } + ninsns instructions, counted in
 * 8-byte units (a record header is one unit) */
#define SL_IMG_MAX_FUNITS (SL_IMG_MAX_FILTERS * (SL_IMG_MAX_FILTER + 1))
#define SL_FILTER_LOG 0x1u  /* SECCOMP_FILTER_FLAG_LOG */
#define SL_FILTER_SPEC 0x2u /* SECCOMP_FILTER_FLAG_SPEC_ALLOW */

/* The largest SPAWN datagram the zygote accepts (type + reqid + image). */
#define SL_SPAWN_MAX (64 * 1024)

/* Zygote message types on the ctl socket. */
#define SL_Z_SPAWN 1
#define SL_Z_SPAWNED 2
#define SL_Z_EXITED 3
#define SL_Z_DRAIN 4

/* A parsed image: fixed fields copied out, variable parts pointing into the packed buffer. */
struct sl_image {
	uint32_t flags, uid, gid;
	int32_t umask; /* -1: leave alone */
	uint32_t ngroups, nrlimits, nargs, nenv, nfilter;
	uint64_t cap_bnd, cap_eff, cap_inh, cap_prm, cap_amb;
	const unsigned char *groups;  /* ngroups little-endian u32, unaligned */
	const unsigned char *rlimits; /* nrlimits records of SL_IMG_RLIMIT_LEN bytes */
	const unsigned char *filter;  /* nfilter 8-byte units of filter records, unaligned */
	const char *path;
	const char *cwd;  /* "" = stay */
	const char *args; /* nargs consecutive NUL-terminated strings */
	const char *env;  /* nenv consecutive NUL-terminated strings */
};

/* sl_image_parse validates buf and fills img. Returns 0, or -EINVAL with a message in errbuf. */
int sl_image_parse(const char *buf, size_t len, struct sl_image *img, char *errbuf, size_t errlen);

/* sl_apply_and_exec applies the packed image to the calling thread and execve()s. It returns
 * only on failure: -errno, with "<step>: <reason>" in errbuf. */
int sl_apply_and_exec(const char *buf, size_t len, char *errbuf, size_t errlen);

/* sl_strerror returns the Go-style (lowercase) text of err, or NULL if it is not in the table. */
const char *sl_strerror(int err);

/* sl_zygote_fork forks the calling thread into the zygote loop. Returns the child's pid in the
 * parent or -errno; the child never returns. The child gives [drop, drop+droplen) back to the
 * kernel first (MADV_DONTNEED; droplen 0: nothing). */
pid_t sl_zygote_fork(int ctl, int killfd, int nullfd, uintptr_t drop, size_t droplen);

/* killfd value asking the zygote to kill its parent (the container's init) on hang-up, for
 * containers without a cgroup to kill instead. */
#define SL_Z_KILL_INIT (-2)

#endif
