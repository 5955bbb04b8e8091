/* Shared helpers of the escape programs. Each attempt prints one line:
 *   NAME ok DETAIL        refused as expected (DETAIL names the errno)
 *   NAME ESCAPED DETAIL   it worked: a hole
 *   NAME ERROR DETAIL     the attempt could not be judged (counts as a failure)
 * and the program ends with "END escaped=N errors=M", exiting 1 if N+M > 0.
 * Every attempt is harmless if it succeeds: reads rather than writes, signal 0, mounts on a
 * scratch dir inside the container that are undone at once, invalid arguments that the kernel
 * would reject after the seccomp check (so EPERM proves seccomp and another errno a hole). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int n_bad; /* ESCAPED + ERROR lines printed by this process */

/* no_i386: the test found no i386 entry point on this host (int 0x80 faults even unconfined)
 * and set ESC_NO_I386=1. int80 then never traps, and every attempt named i386... reports
 * "n/a" instead of a verdict: the test logs those and still judges every other line. */
static int no_i386;

static __attribute__((constructor, unused)) void read_abi_env(void)
{
	const char *v = getenv("ESC_NO_I386");
	no_i386 = v && *v == '1';
}

static __attribute__((unused)) int not_applicable(const char *name)
{
	return no_i386 && strncmp(name, "i386", 4) == 0;
}

static __attribute__((unused)) void line(const char *name, const char *verdict, const char *fmt, va_list ap)
{
	char buf[1024];
	int n;
	if (not_applicable(name)) {
		n = snprintf(buf, sizeof buf, "%s n/a no i386 entry point on this host\n", name);
		if (write(1, buf, n) < 0)
			_exit(3);
		return;
	}
	n = snprintf(buf, sizeof buf, "%s %s ", name, verdict);
	n += vsnprintf(buf + n, sizeof buf - n - 2, fmt, ap);
	if (n > (int)sizeof buf - 2)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	/* one write per line: children print too, and stdout may be a file shared with them */
	if (write(1, buf, n) < 0)
		_exit(3);
}

static __attribute__((unused)) void ok(const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	line(name, "ok", fmt, ap);
	va_end(ap);
}

static __attribute__((unused)) void escaped(const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	line(name, "ESCAPED", fmt, ap);
	va_end(ap);
	if (!not_applicable(name))
		n_bad++;
}

static __attribute__((unused)) void error(const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	line(name, "ERROR", fmt, ap);
	va_end(ap);
	if (!not_applicable(name))
		n_bad++;
}

static __attribute__((unused)) int finish(void)
{
	char buf[64];
	int n = snprintf(buf, sizeof buf, "END bad=%d\n", n_bad);
	if (write(1, buf, n) < 0)
		return 3;
	return n_bad ? 1 : 0;
}

static __attribute__((unused)) const char *en(int e) { return strerrorname_np(e) ? strerrorname_np(e) : "?"; }

/* Judges a raw result (-errno or >= 0): refused when the errno is one of the allowed ones. */
static __attribute__((unused)) int refused_by(long ret, const int *allowed)
{
	if (ret >= 0)
		return 0;
	for (; *allowed; allowed++)
		if (-ret == *allowed)
			return 1;
	return 0;
}

/* A syscall through libc's syscall(2), returned as -errno like the raw entry points. */
#define RAW(...) ({ long r_ = syscall(__VA_ARGS__); r_ < 0 ? -(long)errno : r_; })

/* i386 entry point from 64-bit code. Pointer arguments must lie below 4 GiB: the binaries are
 * static and not PIE, so globals qualify, the stack does not. int 0x80 clears r8-r11. */
static __attribute__((unused)) long int80(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
	if (no_i386)
		return -ENOSYS; /* the caller's line comes out n/a */
	register long r12 __asm__("r12") = f;
	__asm__ volatile("push %%rbp\n\tmov %%r12, %%rbp\n\tint $0x80\n\tpop %%rbp"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e), "r"(r12)
			 : "memory", "r8", "r9", "r10", "r11");
	return (int)ret; /* the i386 result is 32 bits wide */
}

/* i386_live: the i386 entry point works here, probed once in a child (on some hosts int 0x80
 * faults even unconfined) unless the test already said it does not (ESC_NO_I386). */
static __attribute__((unused)) int i386_live(void)
{
	static int known = -1;
	if (known >= 0)
		return known;
	if (no_i386)
		return known = 0;
	pid_t pid = fork();
	if (pid == 0)
		_exit(int80(20 /* getpid */, 0, 0, 0, 0, 0, 0) > 0 ? 0 : 1);
	int st;
	waitpid(pid, &st, 0);
	return known = WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* x32 entry point: the native syscall instruction with bit 30 set in the number. */
static __attribute__((unused)) long x32call(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr | 0x40000000L), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* attempt runs fn in a child (with a 5 s alarm) so that a SIGSYS kill, a stuck call or a
 * state change (unshare, chroot, setsid) stays there. fn prints its own line and returns
 * nonzero when it printed ESCAPED or ERROR. A child killed by SIGSYS was refused by seccomp. */
static __attribute__((unused)) void attempt(const char *name, int (*fn)(const char *name, void *arg), void *arg)
{
	pid_t pid = fork();
	if (pid < 0) {
		error(name, "fork: %s", en(errno));
		return;
	}
	if (pid == 0) {
		alarm(5);
		_exit(fn(name, arg) ? 1 : 0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st)) {
		if (WTERMSIG(st) == SIGSYS)
			ok(name, "killed by SIGSYS");
		else
			error(name, "attempt died by signal %d", WTERMSIG(st));
	} else if (WEXITSTATUS(st) != 0 && !not_applicable(name))
		n_bad++;
}

/* env or die */
/* killed_and_hold ends the leak probes (fifoleak, sendleak): "killed N" on stdout, then it
 * waits for stdin to close while the test counts the supervisor's threads. */
static __attribute__((unused)) int killed_and_hold(int n)
{
	char buf[64];
	int m = snprintf(buf, sizeof buf, "killed %d\n", n);
	if (write(1, buf, m) < 0)
		return 3;
	while (read(0, buf, sizeof buf) > 0)
		;
	return 0;
}

static __attribute__((unused)) long envnum(const char *k)
{
	const char *v = getenv(k);
	return v && *v ? strtol(v, NULL, 10) : 0;
}

/* slurp reads up to n-1 bytes of a file; -errno on failure */
static __attribute__((unused)) long slurp(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	long r = read(fd, buf, n - 1);
	long e = errno;
	close(fd);
	if (r < 0)
		return -e;
	buf[r] = 0;
	return r;
}
