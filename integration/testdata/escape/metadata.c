/* Metadata outside the granted paths (docs/security.md, "Metadata"): Landlock has no access
 * right for chmod, chown, utimes, extended attributes or inode flags, and none for reading a
 * symlink or an attribute. Every spelling of each is tried on one target.
 *
 *   metadata write FILE   change FILE's mode, owner, times, attributes and flags
 *   metadata read FILE LINK   read LINK's target and FILE's attributes (user.escape is set)
 *
 * Each attempt prints "NAME ESCAPED ..." when the call did its work (or reached the file
 * system: ENODATA), "NAME ok ERRNO" when it was refused (EACCES, EPERM, ENOSYS), ERROR
 * otherwise. Run unconfined (as root, on a scratch file) every line must say ESCAPED: that
 * proves each attempt works; confined outside the policy's paths every line must say ok.
 * The i386 attempts print "ok n/a" where the host has no i386 entry. */
#include "common.h"
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <linux/fs.h>
#include <linux/fsverity.h>
#include <utime.h>
#include <libgen.h>

static const int refusals[] = {EACCES, EPERM, ENOSYS, 0};

static char gpath[4096]; /* below 4 GiB (static, no PIE): usable by the i386 entry */
static char gname[] = "user.escape";
static char gval[] = "x";

static void judge(const char *name, long r, int read)
{
	if (r >= 0 || r == -ENODATA || (read && r == -ERANGE))
		escaped(name, "returned %ld (%s)", r, r < 0 ? en(-r) : "done");
	else if (refused_by(r, refusals))
		ok(name, "%s", en(-r));
	else
		error(name, "unexpected %s", en(-r));
}

#define TRY(name, call) judge(name, ({ long r_ = (long)(call); r_ < 0 ? -(long)errno : r_; }), 0)
/* an attempt through an fd open for reading: not applicable where the file cannot be read */
#define FDTRY(name, call)                                                   \
	do {                                                                \
		if (fd < 0)                                                 \
			ok(name, "n/a: the file cannot be opened for reading"); \
		else                                                        \
			TRY(name, call);                                    \
	} while (0)
/* an ioctl some file systems lack (ext4 has these; tmpfs, overlayfs answer ENOTTY, ext4 without
 * the feature EOPNOTSUPP): that answer says nothing either way */
#define FSTRY(name, call)                                                                      \
	do {                                                                                   \
		long r_ = fd < 0 ? 0 : (long)(call);                                           \
		r_ = r_ < 0 ? -(long)errno : r_;                                               \
		if (fd < 0)                                                                    \
			ok(name, "n/a: the file cannot be opened for reading");                \
		else if (r_ == -ENOTTY || r_ == -EOPNOTSUPP)                                   \
			ok(name, "n/a: not on this file system (%s)", en(-r_));                \
		else                                                                           \
			judge(name, r_, 0);                                                    \
	} while (0)
#define TRYR(name, call) judge(name, ({ long r_ = (long)(call); r_ < 0 ? -(long)errno : r_; }), 1)

static void i386(const char *name, long nr, long a, long b, long c, long d, long e, int read)
{
	if (!i386_live()) {
		ok(name, "n/a: this host has no i386 syscall entry");
		return;
	}
	judge(name, int80(nr, a, b, c, d, e, 0), read);
}

struct file_attr_v0 {
	unsigned long long fa_xflags;
	unsigned int fa_extsize, fa_nextents, fa_projid, fa_cowextsize;
};

static void writes(const char *f)
{
	strncpy(gpath, f, sizeof gpath - 1);
	char dirbuf[4096], basebuf[4096];
	strncpy(dirbuf, f, sizeof dirbuf - 1);
	strncpy(basebuf, f, sizeof basebuf - 1);
	int dfd = open(dirname(dirbuf), O_PATH | O_DIRECTORY);
	const char *base = basename(basebuf);
	int fd = open(f, O_RDONLY);
	int pfd = open(f, O_PATH);
	if (dfd < 0 || pfd < 0) {
		error("metadata_setup", "open %s: %s", f, en(errno));
		return;
	}
	char procfd[64];
	snprintf(procfd, sizeof procfd, "/proc/self/fd/%d", pfd);
	struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
	struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}};
	struct utimbuf ub = {1000000000, 1000000000};

	TRY("chmod", chmod(f, 0604));
	FDTRY("fchmod", fchmod(fd, 0604));
	TRY("fchmodat", syscall(SYS_fchmodat, AT_FDCWD, f, 0604));
	TRY("fchmodat_dirfd", syscall(SYS_fchmodat, dfd, base, 0604));
	TRY("fchmodat2", syscall(452, AT_FDCWD, f, 0604, 0));
	TRY("fchmodat2_nofollow", syscall(452, AT_FDCWD, f, 0604, AT_SYMLINK_NOFOLLOW));
	TRY("chmod_proc_self_fd", chmod(procfd, 0604));
	/* to the caller's own ids: what the kernel lets an owner do without CAP_CHOWN, so that
	 * where the policy allows it the call succeeds and only the policy can refuse it */
	uid_t u = getuid();
	gid_t g = getgid();
	TRY("chown", chown(f, u, g));
	FDTRY("fchown", fchown(fd, u, g));
	TRY("lchown", lchown(f, u, g));
	TRY("fchownat", fchownat(AT_FDCWD, f, u, g, 0));
	TRY("fchownat_empty_path", fchownat(pfd, "", u, g, AT_EMPTY_PATH));
	TRY("utime", utime(f, &ub));
	TRY("utimes", utimes(f, tv));
	TRY("utimensat", utimensat(AT_FDCWD, f, ts, 0));
	FDTRY("futimens", futimens(fd, ts));
	TRY("futimesat", syscall(SYS_futimesat, dfd, base, tv));
	TRY("utimensat_empty_path", utimensat(pfd, "", ts, AT_EMPTY_PATH));
	TRY("setxattr", setxattr(f, gname, gval, 1, 0));
	TRY("lsetxattr", lsetxattr(f, gname, gval, 1, 0));
	FDTRY("fsetxattr", fsetxattr(fd, gname, gval, 1, 0));
	TRY("removexattr", removexattr(f, gname));
	TRY("lremovexattr", lremovexattr(f, gname));
	FDTRY("fremovexattr", fremovexattr(fd, gname));
	struct { unsigned long long value; unsigned size, flags; } xa = {(unsigned long)gval, 1, 0};
	TRY("setxattrat", syscall(463, AT_FDCWD, f, 0, gname, &xa, sizeof xa));
	TRY("removexattrat", syscall(466, AT_FDCWD, f, 0, gname));
	struct file_attr_v0 fa = {0};
	if (syscall(468, AT_FDCWD, f, &fa, sizeof fa, 0) < 0)
		fa.fa_xflags = 0;
	TRY("file_setattr", syscall(469, AT_FDCWD, f, &fa, sizeof fa, 0));
	int flags = 0;
	ioctl(fd, FS_IOC_GETFLAGS, &flags);
	FDTRY("ioctl_setflags", ioctl(fd, FS_IOC_SETFLAGS, &flags));
	struct fsxattr fx = {0};
	ioctl(fd, FS_IOC_FSGETXATTR, &fx);
	FDTRY("ioctl_fssetxattr", ioctl(fd, FS_IOC_FSSETXATTR, &fx));
	/* the inode generation (chattr -v), through both of ext4's request numbers, set to the
	 * value it has */
	int gen = 0;
	ioctl(fd, FS_IOC_GETVERSION, &gen);
	FSTRY("ioctl_setversion", ioctl(fd, FS_IOC_SETVERSION, &gen));
	FSTRY("ioctl_ext4_setversion", ioctl(fd, _IOW('f', 4, long), &gen));
	/* fs-verity makes the file read-only for good: last */
	struct fsverity_enable_arg va = {.version = 1, .hash_algorithm = FS_VERITY_HASH_ALG_SHA256, .block_size = 4096};
	FSTRY("ioctl_enable_verity", ioctl(fd, FS_IOC_ENABLE_VERITY, &va));
	i386("i386_chmod", 15, (long)gpath, 0604, 0, 0, 0, 0);
	i386("i386_chown32", 212, (long)gpath, u, g, 0, 0, 0);
	i386("i386_chown16", 182, (long)gpath, u, g, 0, 0, 0);
	i386("i386_setxattr", 226, (long)gpath, (long)gname, (long)gval, 1, 0, 0);
	i386("i386_utime", 30, (long)gpath, 0, 0, 0, 0, 0);
}

static void reads(const char *f, const char *link)
{
	strncpy(gpath, link, sizeof gpath - 1);
	char buf[4096];
	int fd = open(f, O_PATH);
	char procfd[64];
	snprintf(procfd, sizeof procfd, "/proc/self/fd/%d", fd);
	TRYR("readlink", readlink(link, buf, sizeof buf));
	TRYR("readlinkat", readlinkat(AT_FDCWD, link, buf, sizeof buf));
	TRYR("getxattr", getxattr(f, gname, buf, sizeof buf));
	TRYR("lgetxattr", lgetxattr(f, gname, buf, sizeof buf));
	TRYR("getxattr_size_query", getxattr(f, gname, NULL, 0));
	TRYR("listxattr", listxattr(f, buf, sizeof buf));
	TRYR("llistxattr", llistxattr(f, buf, sizeof buf));
	TRYR("getxattr_proc_self_fd", getxattr(procfd, gname, buf, sizeof buf));
	struct { unsigned long long value; unsigned size, flags; } xa = {(unsigned long)buf, sizeof buf, 0};
	TRYR("getxattrat", syscall(464, AT_FDCWD, f, 0, gname, &xa, sizeof xa));
	TRYR("listxattrat", syscall(465, AT_FDCWD, f, 0, buf, sizeof buf));
	i386("i386_readlink", 85, (long)gpath, (long)gval, 1, 0, 0, 1);
}

int main(int argc, char **argv)
{
	dup2(1, 2);
	if (argc == 3 && strcmp(argv[1], "write") == 0)
		writes(argv[2]);
	else if (argc == 4 && strcmp(argv[1], "read") == 0)
		reads(argv[2], argv[3]);
	else {
		error("usage", "metadata write FILE | metadata read FILE LINK");
	}
	return finish();
}
