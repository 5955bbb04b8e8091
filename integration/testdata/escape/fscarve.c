/* fs_denied inside a writable directory: /w is writable, /w/secret (holding TOPSECRET) is
 * listed in io.sandlock.fs_denied, and hard links to it were made before start: /w/prelink,
 * /w/sub/prelink2, /other/prelink3; /w/old was there too. New files beside the secret must work (created, read,
 * written, renamed, linked, removed); every spelling of the secret must fail, including a
 * thread flipping the path buffer between an allowed sibling and the secret. */
#include "common.h"
#include <dirent.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <time.h>

static const int DENIED[] = {EACCES, EPERM, EXDEV, ENOENT, ELOOP, 0};
static const int DENIED_OR_EXISTS[] = {EACCES, EPERM, EXDEV, EEXIST, 0};

static int has_secret(const char *buf) { return strstr(buf, "TOPSECRET") != NULL; }

static void try_read(const char *name, const char *path)
{
	char buf[128];
	long r = slurp(path, buf, sizeof buf);
	if (r >= 0 && has_secret(buf))
		escaped(name, "read %s: %.40s", path, buf);
	else if (r >= 0)
		error(name, "read %s but not the secret: %.40s", path, buf);
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

static void judge(const char *name, const char *how, long r, const int *allowed)
{
	if (r >= 0)
		escaped(name, "%s worked", how);
	else if (refused_by(r, allowed))
		ok(name, "%s: %s", how, en(-r));
	else
		error(name, "%s: %s", how, en(-r));
}

/* works: a step that must succeed */
static int works(const char *name, const char *how, long r)
{
	if (r >= 0)
		ok(name, "%s", how);
	else
		error(name, "%s: %s (must work beside a denied path)", how, en(-r));
	return r >= 0;
}

static long put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	long n = write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -errno : 0;
}

static long readis(const char *path, const char *want)
{
	char buf[128];
	long r = slurp(path, buf, sizeof buf);
	if (r < 0)
		return r;
	return strcmp(buf, want) == 0 ? 0 : -EBADMSG;
}

static void siblings(void)
{
	works("carve_create", "create /w/new", put("/w/new", "hello"));
	works("carve_read_new", "read /w/new back", readis("/w/new", "hello"));
	int fd = open("/w/new", O_WRONLY | O_APPEND | O_CLOEXEC);
	works("carve_append_new", "reopen /w/new for append", fd < 0 ? -errno : (write(fd, "!", 1) == 1 ? 0 : -EIO));
	if (fd >= 0)
		close(fd);
	works("carve_rename_new", "rename /w/new to /w/new2", RAW(SYS_rename, "/w/new", "/w/new2"));
	works("carve_read_renamed", "read /w/new2", readis("/w/new2", "hello!"));
	works("carve_mkdir", "mkdir /w/d", RAW(SYS_mkdir, "/w/d", 0755));
	works("carve_create_in_new_dir", "create /w/d/f", put("/w/d/f", "f"));
	works("carve_read_in_new_dir", "read /w/d/f", readis("/w/d/f", "f"));
	works("carve_symlink", "symlink /w/sl -> new2", RAW(SYS_symlink, "new2", "/w/sl"));
	works("carve_read_symlink", "read /w/sl", readis("/w/sl", "hello!"));
	works("carve_link", "link /w/new2 /w/hard", RAW(SYS_link, "/w/new2", "/w/hard"));
	works("carve_read_link", "read /w/hard", readis("/w/hard", "hello!"));
	int dfd = open("/w", O_PATH | O_DIRECTORY | O_CLOEXEC);
	works("carve_openat_create", "openat(/w, at, O_CREAT)",
	      dfd < 0 ? -errno : ({ long f = RAW(SYS_openat, dfd, "at", O_CREAT | O_WRONLY | O_CLOEXEC, 0644); if (f >= 0) close(f); f; }));
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH};
	long o = RAW(SYS_openat2, dfd, "new2", &how, sizeof how);
	works("carve_openat2_sibling", "openat2(/w, new2, RESOLVE_BENEATH)", o);
	if (o >= 0)
		close(o);
	if (dfd >= 0)
		close(dfd);
	DIR *d = opendir("/w");
	int seen = 0;
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			seen |= strcmp(e->d_name, "new2") == 0;
		closedir(d);
	}
	works("carve_list", "list /w (new2 in it)", seen ? 0 : -ENOENT);
	works("carve_unlink", "unlink /w/hard", RAW(SYS_unlink, "/w/hard"));
	works("carve_unlink_symlink", "unlink /w/sl", RAW(SYS_unlink, "/w/sl"));
	works("carve_unlink_in_new_dir", "unlink /w/d/f", RAW(SYS_unlink, "/w/d/f"));
	works("carve_rmdir", "rmdir /w/d", RAW(SYS_rmdir, "/w/d"));
	works("carve_sub_create", "create /w/sub/new (sub holds a pre-made link)", put("/w/sub/new", "s"));
	/* an unnamed file made in /w, then given names there */
	int tf = open("/w", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (works("carve_tmpfile", "open(/w, O_TMPFILE)", tf < 0 ? -errno : 0)) {
		if (write(tf, "tmp", 3) != 3)
			error("carve_tmpfile", "write: %s", en(errno));
		works("carve_tmpfile_link", "linkat(fd, \"\", /w/tmpf, AT_EMPTY_PATH)",
		      RAW(SYS_linkat, tf, "", AT_FDCWD, "/w/tmpf", AT_EMPTY_PATH));
		char p[64];
		snprintf(p, sizeof p, "/proc/self/fd/%d", tf);
		works("carve_tmpfile_link_procfd", "linkat(/proc/self/fd/N, /w/tmpf2, AT_SYMLINK_FOLLOW)",
		      RAW(SYS_linkat, AT_FDCWD, p, AT_FDCWD, "/w/tmpf2", AT_SYMLINK_FOLLOW));
		works("carve_tmpfile_read", "read /w/tmpf2", readis("/w/tmpf2", "tmp"));
		close(tf);
		unlink("/w/tmpf");
		unlink("/w/tmpf2");
	}
}

static void spellings(void)
{
	try_read("carve_direct", "/w/secret");
	int fd = open("/w/secret", O_WRONLY | O_TRUNC | O_CLOEXEC);
	judge_fd("carve_write", "open(/w/secret, O_WRONLY|O_TRUNC)", fd >= 0 ? fd : -errno);
	fd = open("/w/secret", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	judge_fd("carve_creat", "open(/w/secret, O_CREAT)", fd >= 0 ? fd : -errno);
	judge("carve_truncate", "truncate(/w/secret, 0)", RAW(SYS_truncate, "/w/secret", 0), DENIED);
	judge("carve_link_from", "link(/w/secret, /w/l1)", RAW(SYS_link, "/w/secret", "/w/l1"), DENIED);
	judge("carve_link_from_sub", "link(/w/secret, /w/sub/l1)", RAW(SYS_link, "/w/secret", "/w/sub/l1"), DENIED);
	judge("carve_link_to", "link(/w/new2, /w/secret)", RAW(SYS_link, "/w/new2", "/w/secret"), DENIED_OR_EXISTS);
	judge("carve_unlink_secret", "unlink(/w/secret)", RAW(SYS_unlink, "/w/secret"), DENIED);
	judge("carve_rename_out", "rename(/w/secret, /w/gone)", RAW(SYS_rename, "/w/secret", "/w/gone"), DENIED);
	put("/w/x", "decoy");
	judge("carve_rename_over", "rename(/w/x, /w/secret)", RAW(SYS_rename, "/w/x", "/w/secret"), DENIED);
	judge("carve_exchange", "renameat2(/w/x, /w/secret, RENAME_EXCHANGE)",
	      RAW(SYS_renameat2, AT_FDCWD, "/w/x", AT_FDCWD, "/w/secret", 2), DENIED);
	judge("carve_exchange_sub", "renameat2(/w/sub, /w/secret, RENAME_EXCHANGE)",
	      RAW(SYS_renameat2, AT_FDCWD, "/w/sub", AT_FDCWD, "/w/secret", 2), DENIED);

	if (RAW(SYS_symlink, "/w/secret", "/w/sl2") < 0 && errno != EEXIST)
		ok("carve_symlink_abs", "symlink: %s", en(errno));
	else
		try_read("carve_symlink_abs", "/w/sl2");
	RAW(SYS_symlink, "secret", "/w/sl3");
	try_read("carve_symlink_rel", "/w/sl3");
	RAW(SYS_symlink, "/w", "/w/sub/up");
	try_read("carve_symlink_dir", "/w/sub/up/secret");
	judge("carve_link_symlink_follow", "linkat(/w/sl3, /w/l4, AT_SYMLINK_FOLLOW)",
	      RAW(SYS_linkat, AT_FDCWD, "/w/sl3", AT_FDCWD, "/w/l4", AT_SYMLINK_FOLLOW), DENIED);

	if (chdir("/w") == 0) {
		try_read("carve_relative", "secret");
		try_read("carve_dotdot", "../w/secret");
		try_read("carve_dotdot_sub", "sub/../secret");
		try_read("carve_proc_cwd", "/proc/self/cwd/secret");
		if (chdir("/") < 0)
			error("chdir", "back to /: %s", en(errno));
	} else
		error("carve_relative", "chdir /w: %s", en(errno));
	try_read("carve_proc_root", "/proc/self/root/w/secret");

	int dfd = open("/w", O_PATH | O_DIRECTORY | O_CLOEXEC);
	long f = RAW(SYS_openat, dfd, "secret", O_RDONLY | O_CLOEXEC);
	judge_fd("carve_openat_dirfd", "openat(/w, secret)", f);
	static const struct { const char *name; unsigned long long resolve; } res[] = {
		{"carve_openat2_0", 0},
		{"carve_openat2_no_symlinks", RESOLVE_NO_SYMLINKS},
		{"carve_openat2_beneath", RESOLVE_BENEATH},
		{"carve_openat2_in_root", RESOLVE_IN_ROOT},
		{"carve_openat2_no_magiclinks", RESOLVE_NO_MAGICLINKS},
		{"carve_openat2_no_xdev", RESOLVE_NO_XDEV},
		{"carve_openat2_cached", RESOLVE_CACHED},
	};
	for (unsigned i = 0; i < sizeof res / sizeof res[0]; i++) {
		struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = res[i].resolve};
		judge_fd(res[i].name, "openat2(/w, secret)", RAW(SYS_openat2, dfd, "secret", &how, sizeof how));
	}
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC};
	judge_fd("carve_openat2_abs", "openat2(/w/secret)", RAW(SYS_openat2, AT_FDCWD, "/w/secret", &how, sizeof how));
	judge_fd("carve_openat2_sl", "openat2(/w/sl3)", RAW(SYS_openat2, AT_FDCWD, "/w/sl3", &how, sizeof how));
	if (dfd >= 0)
		close(dfd);

	/* O_PATH: refused, or useless (reopen, link by fd) */
	long op = RAW(SYS_open, "/w/secret", O_PATH | O_CLOEXEC);
	if (op >= 0) {
		char p[64];
		snprintf(p, sizeof p, "/proc/self/fd/%ld", op);
		try_read("carve_opath_reopen", p);
		judge("carve_link_emptypath", "linkat(O_PATH fd, \"\", /w/l2, AT_EMPTY_PATH)",
		      RAW(SYS_linkat, op, "", AT_FDCWD, "/w/l2", AT_EMPTY_PATH), DENIED);
		judge("carve_link_procfd", "linkat(/proc/self/fd/N, /w/l3, AT_SYMLINK_FOLLOW)",
		      RAW(SYS_linkat, AT_FDCWD, p, AT_FDCWD, "/w/l3", AT_SYMLINK_FOLLOW), DENIED);
		close(op);
	} else {
		ok("carve_opath_reopen", "O_PATH open: %s", en(-op));
		ok("carve_link_emptypath", "O_PATH open: %s", en(-op));
		ok("carve_link_procfd", "O_PATH open: %s", en(-op));
	}

	/* names the secret had before the sandbox started */
	try_read("carve_prelink", "/w/prelink");
	try_read("carve_prelink_sub", "/w/sub/prelink2");
	try_read("carve_prelink_other", "/other/prelink3");
	judge("carve_prelink_rename", "rename(/w/prelink, /w/renamed)", RAW(SYS_rename, "/w/prelink", "/w/renamed"), DENIED);

	/* i386 open: refused (not decoded) */
	static char p32[] = "/w/secret";
	long r = int80(5 /* open */, (long)p32, O_RDONLY, 0, 0, 0, 0);
	if (not_applicable("i386_carve_open"))
		ok("i386_carve_open", "n/a");
	else
		judge_fd("i386_carve_open", "i386 open(/w/secret)", r);
}

/* ---- the race: a thread flips the path between an allowed sibling and the secret ---- */

static char flip[64];
static const char *allowed; /* what flip says between the flips: 10 bytes, NUL-padded */
static volatile int stop;

static void *flipper(void *arg)
{
	(void)arg;
	while (!stop) {
		memcpy(flip, "/w/secret", 10);
		memcpy(flip, allowed, 10);
	}
	return NULL;
}

/* race: a file made after start (performed on behalf) or one there before (its own Landlock
 * rule: the supervisor lets the kernel open it, and the kernel re-reads the flipped path) */
static void race(const char *name, const char *sibling)
{
	allowed = sibling;
	memcpy(flip, allowed, 10);
	stop = 0;
	pthread_t th;
	if (pthread_create(&th, NULL, flipper, NULL) != 0) {
		error("carve_race", "pthread_create");
		return;
	}
	time_t end = time(NULL) + 3;
	long opens = 0, links = 0, leaks = 0;
	char buf[128];
	while (time(NULL) < end) {
		int fd = open(flip, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			opens++;
			long n = read(fd, buf, sizeof buf - 1);
			buf[n > 0 ? n : 0] = 0;
			leaks += has_secret(buf);
			close(fd);
		}
		struct open_how how = {.flags = O_RDONLY | O_CLOEXEC};
		fd = syscall(SYS_openat2, AT_FDCWD, flip, &how, sizeof how);
		if (fd >= 0) {
			long n = read(fd, buf, sizeof buf - 1);
			buf[n > 0 ? n : 0] = 0;
			leaks += has_secret(buf);
			close(fd);
		}
		if (link(flip, "/w/raced") == 0) {
			links++;
			if (slurp("/w/raced", buf, sizeof buf) >= 0)
				leaks += has_secret(buf);
			unlink("/w/raced");
		}
		if (rename(flip, "/w/raced2") == 0) {
			if (slurp("/w/raced2", buf, sizeof buf) >= 0)
				leaks += has_secret(buf);
			rename("/w/raced2", allowed);
		}
	}
	stop = 1;
	pthread_join(th, NULL);
	if (leaks)
		escaped(name, "the secret was read %ld times", leaks);
	else if (opens == 0)
		error(name, "no open of the allowed sibling worked");
	else
		ok(name, "%ld opens, %ld links, never the secret", opens, links);
}

int main(void)
{
	dup2(1, 2);
	siblings();
	spellings();
	race("carve_race", "/w/new2\0\0");
	race("carve_race_preexisting", "/w/old\0\0\0\0");
	return finish();
}
