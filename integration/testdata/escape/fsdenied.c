/* fs_denied: /secret is in the rootfs and listed in io.sandlock.fs_denied; /secret/key holds
 * a marker. Every way of reaching it must fail. The first attempt (a plain open) tells whether
 * fs_denied is enforced at all. */
#include "common.h"
#include <dirent.h>
#include <linux/openat2.h>

static const int DENIED[] = {EACCES, EPERM, EXDEV, ENOENT, 0};

static void try_read(const char *name, const char *path)
{
	char buf[128];
	long r = slurp(path, buf, sizeof buf);
	if (r >= 0)
		escaped(name, "read %s: %.40s", path, buf);
	else if (refused_by(r, DENIED))
		ok(name, "%s: %s", path, en(-r));
	else
		error(name, "%s: %s", path, en(-r));
}

static void judge_fd(const char *name, const char *how, long fd)
{
	if (fd >= 0) {
		char buf[64] = "";
		long n = read(fd, buf, sizeof buf - 1);
		escaped(name, "%s: opened (read %ld bytes: %.20s)", how, n, n > 0 ? buf : "");
		close(fd);
	} else if (refused_by(fd, DENIED))
		ok(name, "%s: %s", how, en(-fd));
	else
		error(name, "%s: %s", how, en(-fd));
}

int main(void)
{
	dup2(1, 2);
	char buf[128];
	long r = slurp("/secret/key", buf, sizeof buf);
	if (r >= 0)
		escaped("fs_denied_direct", "read /secret/key: fs_denied is NOT ENFORCED (io.sandlock.fs_denied ignored)");
	else if (refused_by(r, DENIED))
		ok("fs_denied_direct", "%s", en(-r));
	else
		error("fs_denied_direct", "%s", en(-r));

	DIR *d = opendir("/secret");
	if (d) {
		escaped("fs_denied_readdir", "listed /secret");
		closedir(d);
	} else
		ok("fs_denied_readdir", "%s", en(errno));

	int fd = open("/secret/new", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	judge_fd("fs_denied_create", "create /secret/new", fd >= 0 ? fd : -errno);

	/* symlink: the target is checked, not the spelling */
	unlink("/tmp/sl");
	if (symlink("/secret/key", "/tmp/sl") == 0)
		try_read("fs_denied_symlink", "/tmp/sl");
	else
		ok("fs_denied_symlink", "symlink: %s", en(errno));
	unlink("/tmp/sl2");
	if (symlink("../secret", "/tmp/sl2") == 0)
		try_read("fs_denied_dir_symlink", "/tmp/sl2/key");
	else
		ok("fs_denied_dir_symlink", "symlink: %s", en(errno));

	/* hardlink: a new name in an allowed dir for a denied inode */
	unlink("/tmp/hl");
	if (link("/secret/key", "/tmp/hl") == 0) {
		escaped("fs_denied_hardlink", "link() gave the denied file a name outside /secret");
		try_read("fs_denied_hardlink_read", "/tmp/hl");
		unlink("/tmp/hl");
	} else if (errno == EXDEV || errno == EACCES || errno == EPERM)
		ok("fs_denied_hardlink", "link: %s", en(errno));
	else
		error("fs_denied_hardlink", "link: %s", en(errno));

	/* rename the file out, or the whole directory */
	if (rename("/secret/key", "/tmp/rn") == 0) {
		try_read("fs_denied_rename_file", "/tmp/rn");
		rename("/tmp/rn", "/secret/key");
		escaped("fs_denied_rename_file", "rename() moved /secret/key out (moved back)");
	} else
		ok("fs_denied_rename_file", "rename: %s", en(errno));
	if (rename("/secret", "/tmp/notsecret") == 0) {
		try_read("fs_denied_rename_dir", "/tmp/notsecret/key");
		rename("/tmp/notsecret", "/secret");
		escaped("fs_denied_rename_dir", "rename() moved /secret out (moved back)");
	} else
		ok("fs_denied_rename_dir", "rename: %s", en(errno));
	/* swap the parent: rename / onto itself is impossible; exchange /secret with a fresh dir */
	mkdir("/tmp/decoy", 0755);
	if (syscall(SYS_renameat2, AT_FDCWD, "/secret", AT_FDCWD, "/tmp/decoy", 2 /* RENAME_EXCHANGE */) == 0) {
		try_read("fs_denied_exchange", "/tmp/decoy/key");
		syscall(SYS_renameat2, AT_FDCWD, "/secret", AT_FDCWD, "/tmp/decoy", 2);
		escaped("fs_denied_exchange", "RENAME_EXCHANGE swapped /secret out (swapped back)");
	} else
		ok("fs_denied_exchange", "renameat2(RENAME_EXCHANGE): %s", en(errno));

	/* .. spellings */
	try_read("fs_denied_dotdot", "/tmp/../secret/key");
	try_read("fs_denied_dotdot2", "/secret/../secret/./key");
	if (chdir("/secret") == 0) {
		try_read("fs_denied_chdir_relative", "key");
		try_read("fs_denied_proc_self_cwd", "/proc/self/cwd/key");
		if (chdir("/") < 0)
			error("chdir", "back to /: %s", en(errno));
	} else
		ok("fs_denied_chdir_relative", "chdir /secret: %s", en(errno));

	/* openat2 without RESOLVE_IN_ROOT, from a dirfd outside /secret */
	int tmp = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = 0};
	long o = syscall(SYS_openat2, tmp, "../secret/key", &how, sizeof how);
	judge_fd("fs_denied_openat2", "openat2(/tmp, ../secret/key, resolve 0)", o >= 0 ? o : -errno);
	how.resolve = RESOLVE_NO_SYMLINKS;
	o = syscall(SYS_openat2, AT_FDCWD, "/secret/key", &how, sizeof how);
	judge_fd("fs_denied_openat2_abs", "openat2(/secret/key, RESOLVE_NO_SYMLINKS)", o >= 0 ? o : -errno);
	close(tmp);

	/* /proc magic links */
	try_read("fs_denied_proc_self_root", "/proc/self/root/secret/key");
	char p[128];
	snprintf(p, sizeof p, "/proc/%d/root/secret/key", getppid() > 1 ? getppid() : getpid());
	try_read("fs_denied_proc_pid_root", p);

	/* an O_PATH handle (not checked by Landlock) used as a base or reopened by its magic link */
	int op = open("/secret", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (op >= 0) {
		long f = openat(op, "key", O_RDONLY | O_CLOEXEC);
		judge_fd("fs_denied_opath_openat", "openat(O_PATH /secret, key)", f >= 0 ? f : -errno);
		snprintf(p, sizeof p, "/proc/self/fd/%d/key", op);
		try_read("fs_denied_opath_magiclink", p);
		close(op);
	} else
		ok("fs_denied_opath_openat", "O_PATH open of /secret: %s", en(errno));
	int opk = open("/secret/key", O_PATH | O_CLOEXEC);
	if (opk >= 0) {
		snprintf(p, sizeof p, "/proc/self/fd/%d", opk);
		try_read("fs_denied_opath_reopen", p);
		close(opk);
	} else
		ok("fs_denied_opath_reopen", "O_PATH open of /secret/key: %s", en(errno));

	/* the rest of the rootfs stays readable (the denial is not a blanket one) */
	char b3[16];
	if (slurp("/etc/hostname", b3, sizeof b3) >= 0)
		ok("fs_allowed_elsewhere", "/etc/hostname readable");
	else
		error("fs_allowed_elsewhere", "/etc/hostname: %s (fs_denied must not deny the rest)", en(errno));
	return finish();
}
