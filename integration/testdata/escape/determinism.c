/* random_seed and deterministic_dirs (TestRandomSeed*, TestDeterministicDirs*): prints what
 * the program reads of the kernel's randomness, one line per source, "NAME HEX" (or
 * "NAME err ERRNO"), so that two runs can be compared byte for byte.
 *
 *   determinism random [SYMLINK]   getrandom with each flag, the i386 getrandom (unless
 *                                  ESC_NO_I386=1), every open spelling of the random devices
 *                                  (SYMLINK: a link to /dev/urandom), uuid and boot_id
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

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "random") == 0) {
		getrandoms();
		opens(argc >= 3 ? argv[2] : NULL);
		return 0;
	}
	fprintf(stderr, "usage: determinism random [SYMLINK]\n");
	return 2;
}
