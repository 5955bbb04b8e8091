/* random_seed and deterministic_dirs (TestRandomSeed*, TestDeterministicDirs*): prints what
 * the program reads of the kernel's randomness, one line per source, "NAME HEX" (or
 * "NAME err ERRNO"), so that two runs can be compared byte for byte.
 *
 *   determinism random [SYMLINK]   getrandom with each flag, the i386 getrandom (unless
 *                                  ESC_NO_I386=1), every open spelling of the random devices
 *                                  (SYMLINK: a link to /dev/urandom), uuid and boot_id
 *   determinism dirs DIR [SCRATCH] listings of DIR, one line each, "NAME n1,n2,...":
 *                                  getdents64 and getdents with a small buffer, the i386
 *                                  getdents64 and getdents, readdir, seekdir to a telldir position,
 *                                  rewinddir, lseek 0; with SCRATCH (a writable directory
 *                                  holding a..f), a listing changed half-way (f
 *                                  removed, 0new added)
 */
#define _GNU_SOURCE
#include "common.h"
#include <dirent.h>
#include <linux/openat2.h>
#include <sys/random.h>

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif

static unsigned char buf[64]; /* below 4 GiB (-no-pie): an i386 syscall can name it */

static void hex(const char *name, long n)
{
	if (n < 0) {
		printf("%s err %s\n", name, strerrorname_np(errno));
		return;
	}
	printf("%s ", name);
	for (long i = 0; i < n; i++)
		printf("%02x", buf[i]);
	printf("\n");
}

/* readfd reads 16 bytes from fd (closing it) and prints them. */
static void readfd(const char *name, int fd)
{
	if (fd < 0) {
		hex(name, -1);
		return;
	}
	long n = read(fd, buf, 16);
	close(fd);
	hex(name, n);
}

static void getrandoms(void)
{
	static const struct { const char *name; unsigned flags; } fl[] = {
		{"getrandom_0", 0}, {"getrandom_nonblock", GRND_NONBLOCK}, {"getrandom_random", GRND_RANDOM},
		{"getrandom_insecure", GRND_INSECURE}, {"getrandom_random_nonblock", GRND_RANDOM | GRND_NONBLOCK},
		{"getrandom_insecure_nonblock", GRND_INSECURE | GRND_NONBLOCK},
		{"getrandom_random_insecure", GRND_RANDOM | GRND_INSECURE}, /* EINVAL, as the kernel says */
		{"getrandom_badflag", 0x80},
	};
	for (unsigned i = 0; i < sizeof fl / sizeof fl[0]; i++)
		hex(fl[i].name, syscall(SYS_getrandom, buf, 16, fl[i].flags));
	hex("getrandom_big", syscall(SYS_getrandom, buf, sizeof buf, 0) == sizeof buf ? 16 : -1);
	if (no_i386) {
		printf("i386_getrandom n/a\n");
		return;
	}
	long r = int80(355 /* i386 getrandom */, (long)buf, 16, 0, 0, 0, 0);
	if (r < 0)
		errno = -r;
	hex("i386_getrandom", r < 0 ? -1 : r);
}

static char urandom32[] = "/dev/urandom", null32[] = "/dev/null"; /* below 4 GiB */

/* i386opens: the i386 open of a random device is seeded too; another file's is the kernel's
 * (or refused where a feature that decodes only the native opens traps them). */
static void i386opens(void)
{
	if (no_i386) {
		printf("i386_open_urandom n/a\ni386_open_null n/a\n");
		return;
	}
	long fd = int80(5 /* i386 open */, (long)urandom32, O_RDONLY, 0, 0, 0, 0);
	if (fd < 0)
		errno = -fd;
	readfd("i386_open_urandom", fd < 0 ? -1 : fd);
	fd = int80(5, (long)null32, O_RDONLY, 0, 0, 0, 0);
	if (fd < 0) {
		printf("i386_open_null err %s\n", strerrorname_np(-fd));
		return;
	}
	close(fd);
	printf("i386_open_null ok\n");
}

static void opens(const char *link)
{
	readfd("open_urandom", open("/dev/urandom", O_RDONLY));
	readfd("open_random", open("/dev/random", O_RDONLY | O_NONBLOCK));
	readfd("openat_urandom", openat(AT_FDCWD, "/dev/urandom", O_RDONLY | O_CLOEXEC));
	struct open_how how = {.flags = O_RDONLY};
	readfd("openat2_random", syscall(SYS_openat2, AT_FDCWD, "/dev/random", &how, sizeof how));
	int dev = open("/dev", O_PATH | O_DIRECTORY);
	readfd("openat_dirfd", openat(dev, "urandom", O_RDONLY));
	close(dev);
	readfd("open_dotdot", open("/dev/../dev/./urandom", O_RDWR));
	char cwd[4096];
	if (getcwd(cwd, sizeof cwd) && chdir("/dev") == 0) {
		readfd("open_relative", open("urandom", O_RDONLY));
		readfd("open_relative_dotdot", open("../dev/random", O_RDONLY));
		if (chdir(cwd) != 0)
			perror("chdir");
	}
	if (link)
		readfd("open_symlink", open(link, O_RDONLY));
	int p = open("/dev/urandom", O_PATH);
	char name[64];
	snprintf(name, sizeof name, "/proc/self/fd/%d", p);
	readfd("reopen_proc_self_fd", open(name, O_RDONLY));
	snprintf(name, sizeof name, "/dev/fd/%d", p);
	readfd("reopen_dev_fd", open(name, O_RDONLY));
	close(p);
	int fd = open("/dev/urandom", O_RDONLY);
	if (read(fd, buf, 16) == 16) { /* a second read goes on with the same stream */
		readfd("urandom_second_read", fd);
	} else {
		hex("urandom_second_read", -1);
	}
	int big = open("/dev/urandom", O_RDONLY);
	static unsigned char large[256 << 10];
	long got = 0, n;
	while (got < (long)sizeof large && (n = read(big, large + got, sizeof large - got)) > 0)
		got += n;
	close(big);
	memcpy(buf, large + sizeof large - 16, 16);
	hex("urandom_256k_tail", got == sizeof large ? 16 : -1);
	fd = open("/proc/sys/kernel/random/uuid", O_RDONLY);
	n = fd < 0 ? -1 : read(fd, buf, 36);
	close(fd);
	hex("uuid", n);
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY);
	n = fd < 0 ? -1 : read(fd, buf, 36);
	close(fd);
	hex("boot_id", n);
}

static char names[1 << 16];
static unsigned char dbuf[48]; /* one short entry at a time; below 4 GiB for int 0x80 */

static void add(const char *name)
{
	if (names[0])
		strcat(names, ",");
	strcat(names, name);
}

/* rawlist lists fd from where it is with the raw syscall nr and a buffer of size bytes. */
static void rawlist(const char *label, long nr, int fd, size_t size, int nameoff, int i386)
{
	names[0] = 0;
	for (;;) {
		long n = i386 ? int80(nr, fd, (long)dbuf, size, 0, 0, 0) : syscall(nr, fd, dbuf, size);
		if (i386 && n < 0) {
			errno = -n;
			n = -1;
		}
		if (n < 0) {
			printf("%s err %s\n", label, strerrorname_np(errno));
			return;
		}
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			/* d_reclen just before the name, but for linux_dirent64 (its type between) */
			unsigned short reclen = *(unsigned short *)(dbuf + off + (nameoff == 19 ? 16 : nameoff - 2));
			add((char *)dbuf + off + nameoff);
			off += reclen;
		}
	}
	printf("%s %s\n", label, names);
}

static void dirs(const char *dir, const char *scratch)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	rawlist("getdents64_tiny", SYS_getdents64, fd, sizeof dbuf, 19, 0);
	lseek(fd, 0, SEEK_SET);
	rawlist("getdents64_relist", SYS_getdents64, fd, sizeof dbuf, 19, 0);
	lseek(fd, 0, SEEK_SET);
	rawlist("getdents64_too_small", SYS_getdents64, fd, 8, 19, 0);
	rawlist("getdents64_after_too_small", SYS_getdents64, fd, sizeof dbuf, 19, 0); /* from 0 still */
	lseek(fd, 0, SEEK_SET);
	rawlist("getdents_tiny", SYS_getdents, fd, sizeof dbuf, 18, 0);
	lseek(fd, 0, SEEK_SET);
	if (no_i386) {
		printf("i386_getdents64 n/a\ni386_getdents n/a\n");
	} else {
		rawlist("i386_getdents64", 220 /* i386 getdents64 */, fd, sizeof dbuf, 19, 1);
		lseek(fd, 0, SEEK_SET);
		rawlist("i386_getdents", 141 /* i386 getdents: compat_linux_dirent */, fd, sizeof dbuf, 10, 1);
	}
	close(fd);

	DIR *d = opendir(dir);
	struct dirent *e;
	long at3 = -1;
	names[0] = 0;
	for (int i = 0; (e = readdir(d)); i++) {
		add(e->d_name);
		if (i == 2)
			at3 = telldir(d);
	}
	printf("readdir %s\n", names);
	seekdir(d, at3);
	e = readdir(d);
	printf("seekdir_fourth %s\n", e ? e->d_name : "(end)");
	rewinddir(d);
	e = readdir(d);
	printf("rewinddir_first %s\n", e ? e->d_name : "(end)");
	closedir(d);

	if (!scratch)
		return;
	/* Changed half-way: after two calls, f is removed and 0new added; the listing goes on. */
	fd = open(scratch, O_RDONLY | O_DIRECTORY);
	names[0] = 0;
	for (int i = 0; i < 2; i++) {
		long n = syscall(SYS_getdents64, fd, dbuf, sizeof dbuf);
		for (long off = 0; off < n; off += *(unsigned short *)(dbuf + off + 16))
			add((char *)dbuf + off + 19);
	}
	char p[4096];
	snprintf(p, sizeof p, "%s/f", scratch);
	unlink(p);
	snprintf(p, sizeof p, "%s/0new", scratch);
	close(open(p, O_CREAT | O_WRONLY, 0644));
	char first[sizeof names];
	strcpy(first, names);
	rawlist("changed_rest", SYS_getdents64, fd, sizeof dbuf, 19, 0);
	printf("changed_first %s\n", first);
	lseek(fd, 0, SEEK_SET);
	rawlist("changed_after_rewind", SYS_getdents64, fd, sizeof dbuf, 19, 0);
	close(fd);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "random") == 0) {
		getrandoms();
		opens(argc >= 3 ? argv[2] : NULL);
		i386opens();
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "dirs") == 0) {
		dirs(argv[2], argc >= 4 ? argv[3] : NULL);
		return 0;
	}
	fprintf(stderr, "usage: determinism random [SYMLINK] | dirs DIR [SCRATCH]\n");
	return 2;
}
