/* The main escape suite, run as a container's init (see integration/escape_test.go).
 * Environment (config.json): ESC_HOST_PID (the test process), ESC_VICTIM_PID (a host `sleep`
 * the test owns), ESC_SCRATCH (a host dir the test owns), ESC_STATE_DIR (<root>/<id>),
 * ESC_ABSTRACT (abstract socket name the test listens on), ESC_PRIV=1 (all capabilities),
 * ESC_SIGNALS=1 (pid namespace), ESC_IPC=1 (ipc namespace), ESC_NONET=1 (network namespace).
 * /escape/pids (written by the test between create and start): "sup=N zygote=N". */
#include "common.h"
#include <dirent.h>
#include <linux/sched.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <termios.h>

static long host_pid, victim_pid, sup_pid, zygote_pid, self_pid;
static int priv, sig_isolated, ipc_isolated, nonet;
static const char *scratch, *state_dir, *abstract_name;

static const int EPERM_ENOSYS[] = {EPERM, ENOSYS, 0};
static const int DENIED_FS[] = {EACCES, EPERM, ENOENT, EXDEV, 0};

/* ---------- fds: nothing but 0-2 leaks in; the seccomp listener is nowhere in reach ---------- */

static void check_own_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		error("fds_only_012", "opendir /proc/self/fd: %s", en(errno));
		return;
	}
	char extra[512] = "";
	struct dirent *e;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(d))
			continue;
		char p[64], l[256] = "";
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(p, l, sizeof l - 1);
		if (n > 0)
			l[n] = 0;
		size_t used = strlen(extra);
		snprintf(extra + used, sizeof extra - used, " %d->%s", fd, l);
	}
	closedir(d);
	if (extra[0])
		escaped("fds_only_012", "extra fds:%s", extra);
	else
		ok("fds_only_012", "only 0, 1, 2");
}

/* scan_fds looks for a seccomp notify fd in /proc/PID/fd. */
static void scan_fds(const char *name, long pid)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%ld/fd", pid);
	DIR *d = opendir(dir);
	if (!d) {
		ok(name, "%s unreadable: %s", dir, en(errno));
		return;
	}
	struct dirent *e;
	int found = -1, n = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[320], l[256] = "";
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		ssize_t k = readlink(p, l, sizeof l - 1);
		if (k > 0)
			l[k] = 0;
		n++;
		if (strstr(l, "seccomp"))
			found = atoi(e->d_name);
	}
	closedir(d);
	if (found >= 0)
		escaped(name, "%s/%d is a seccomp notify fd", dir, found);
	else
		ok(name, "%s readable, %d fds, no seccomp listener", dir, n);
}

/* open_proc_fds tries to open every /proc/PID/fd/N: reopening the supervisor's listener (or
 * anything it holds) would hand it to the container. */
static void open_proc_fds(const char *name, long pid)
{
	int opened = 0, lasterr = 0;
	for (int fd = 0; fd < 64; fd++) {
		char p[64];
		snprintf(p, sizeof p, "/proc/%ld/fd/%d", pid, fd);
		int f = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (f >= 0) {
			opened++;
			close(f);
		} else if (errno != ENOENT)
			lasterr = errno;
	}
	if (opened)
		escaped(name, "opened %d of /proc/%ld/fd/*", opened, pid);
	else
		ok(name, "none of /proc/%ld/fd/0..63 opened (%s)", pid, lasterr ? en(lasterr) : "ENOENT");
}

static void pidfd_getfd_all(const char *name, long pid)
{
	int pfd = syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0) {
		ok(name, "pidfd_open(%ld): %s", pid, en(errno));
		return;
	}
	int got = 0, err = 0;
	for (int fd = 0; fd < 64; fd++) {
		long r = RAW(SYS_pidfd_getfd, pfd, fd, 0);
		if (r >= 0) {
			got++;
			close(r);
		} else if (err == 0 || r != -EBADF)
			err = -r;
	}
	close(pfd);
	if (got)
		escaped(name, "pidfd_getfd took %d fds of pid %ld", got, pid);
	else if (err == EPERM || err == ENOSYS)
		ok(name, "pidfd_getfd on pid %ld: %s", pid, en(err));
	else
		escaped(name, "pidfd_getfd reached the kernel: %s (seccomp should refuse it)", en(err));
}

/* ---------- files outside the rootfs ---------- */

static void read_outside(const char *name, const char *path)
{
	char buf[256];
	long r = slurp(path, buf, sizeof buf);
	if (r >= 0)
		escaped(name, "read %ld bytes of %s", r, path);
	else if (refused_by(r, DENIED_FS))
		ok(name, "%s: %s", path, en(-r));
	else
		error(name, "%s: unexpected %s", path, en(-r));
}

static void list_outside(const char *name, const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e = readdir(d);
		escaped(name, "listed %s (first entry %s)", path, e ? e->d_name : "-");
		closedir(d);
	} else
		ok(name, "%s: %s", path, en(errno));
}

static void write_outside(const char *name, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		escaped(name, "created %s", path);
		close(fd);
	} else
		ok(name, "%s: %s", path, en(errno));
}

static void fs_attempts(void)
{
	char p[512];
	read_outside("proc1_root_shadow", "/proc/1/root/etc/shadow");
	snprintf(p, sizeof p, "/proc/%ld/root/etc/shadow", host_pid);
	read_outside("hostpid_root_shadow", p);
	snprintf(p, sizeof p, "/proc/%ld/cwd", host_pid);
	list_outside("hostpid_cwd", p);
	snprintf(p, sizeof p, "/proc/%ld/root/etc/shadow", sup_pid);
	read_outside("suppid_root_shadow", p);
	snprintf(p, sizeof p, "/proc/%ld/cwd", sup_pid);
	list_outside("suppid_cwd", p);
	list_outside("proc1_cwd", "/proc/1/cwd");
	snprintf(p, sizeof p, "/proc/%ld/root%s/escaped-write", host_pid, scratch);
	write_outside("hostpid_root_write", p);
	/* a symlink inside the rootfs to the same place is resolved the same way */
	unlink("/tmp/esc-link");
	if (symlink("/proc/1/root/etc/shadow", "/tmp/esc-link") == 0)
		read_outside("symlink_to_proc1_root", "/tmp/esc-link");
	else
		error("symlink_to_proc1_root", "symlink: %s", en(errno));
	read_outside("dotdot_shadow", "/../../../../../../etc/shadow");
	read_outside("proc_self_root_dotdot", "/proc/self/root/../../../etc/shadow");
	/* stdout is a host file outside the rootfs: reopening it by its magic link for reading
	 * would turn a write-only handle into read access */
	struct stat st;
	if (fstat(1, &st) == 0 && S_ISREG(st.st_mode))
		read_outside("reopen_stdout_rdonly", "/proc/self/fd/1");
	else
		ok("reopen_stdout_rdonly", "stdout is not a regular file here: skipped");
	snprintf(p, sizeof p, "/proc/%ld/environ", victim_pid);
	read_outside("victim_environ", p);
}

/* /proc/PID/mem is process_vm_writev by another name: the zygote holds the capabilities the
 * runtime started with and none of the exec-time seccomp programs, and it is in the container's
 * Landlock domain (which lets ptrace-mode access through), so only its not being dumpable keeps
 * the container out, and CAP_SYS_PTRACE overrides that. Opened for reading and writing, never
 * written. */
static void proc_mem(const char *name, long pid)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%ld/mem", pid);
	int fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		escaped(name, "opened %s for writing", p);
		close(fd);
	} else
		ok(name, "%s: %s", p, en(errno));
}

/* ---------- the seccomp surface, through the x86_64, i386 and x32 entry points ---------- */

#define SELF (-1000L) /* replaced by getpid() */
static char modname[] = "sandlock_escape_no_such_module";

struct probe {
	const char *name;
	long nr64, nr32; /* -1: no such syscall on that ABI */
	long a[6];
	const char *kernel; /* what the kernel returns when the call gets past seccomp */
};

/* Each probe's arguments are invalid in a way the kernel detects after seccomp (bad pointer,
 * bad flags, fd -1, no such pid, wrong reboot magic), so the call can change nothing: EPERM or
 * ENOSYS means seccomp refused it, the errno in `kernel` means it reached the kernel. Where the
 * kernel checks a capability first, EPERM is ambiguous without that capability: the privileged
 * run (all capabilities) settles it. */
static const struct probe probes[] = {
	{"mount", 165, 21, {0, 0, 1, 0, 0}, "EFAULT (type pointer 1)"},
	{"umount2", 166, 52, {1, 0}, "EFAULT"},
	{"pivot_root", 155, 217, {1, 1}, "EFAULT"},
	{"chroot", 161, 61, {1}, "EFAULT"},
	{"unshare", 272, 310, {CLONE_VFORK}, "EINVAL"},
	{"setns", 308, 346, {-1, 0}, "EBADF"},
	{"fsopen", 430, 430, {1, 0}, "EFAULT"},
	{"fsconfig", 431, 431, {-1, 0xffff, 0, 0, 0}, "EINVAL"},
	{"fsmount", 432, 432, {-1, 0xffffffff, 0}, "EINVAL"},
	{"fspick", 433, 433, {-1, 1, 0xffffffff}, "EINVAL"},
	{"move_mount", 429, 429, {-1, 1, -1, 1, 0xffffffff}, "EINVAL"},
	{"open_tree", 428, 428, {-1, 1, 0xffffffff}, "EINVAL"},
	{"mount_setattr", 442, 442, {-1, 1, 0xffffffff, 0, 0}, "EINVAL"},
	{"kexec_load", 246, 283, {0, 1000, 0, 0x100}, "EINVAL (bad flags, 1000 segments)"},
	{"kexec_file_load", 320, -1, {-1, -1, 0, 0, 0x80000000}, "EINVAL"},
	{"init_module", 175, 128, {0, 0, 0}, "ENOEXEC (length 0)"},
	{"finit_module", 313, 350, {-1, 0, 0xffffffff}, "EINVAL"},
	{"delete_module", 176, 129, {(long)modname, O_NONBLOCK}, "ENOENT"},
	{"bpf", 321, 357, {0xffff, 0, 0}, "EINVAL"},
	{"perf_event_open", 298, 336, {0, 0, -1, -1, 0}, "EFAULT"},
	{"iopl", 172, 110, {4}, "EINVAL"},
	{"ioperm", 173, 101, {0xffff0000, 1, 0}, "EINVAL"},
	{"ptrace", 101, 26, {1 /* PTRACE_PEEKTEXT */, 0x7ffffff0, 0, 0}, "ESRCH"},
	{"process_vm_readv", 310, 347, {SELF, 0, 0, 0, 0, 0}, "0 (nothing to copy)"},
	{"process_vm_writev", 311, 348, {SELF, 0, 0, 0, 0, 0}, "0"},
	{"pidfd_getfd", 438, 438, {-1, 0, 0}, "EBADF"},
	{"kcmp", 312, 349, {SELF, SELF, 99, 0, 0}, "EINVAL"},
	{"keyctl", 250, 288, {0xffff, 0, 0, 0, 0}, "EOPNOTSUPP"},
	{"add_key", 248, 286, {0, 0, 0, 0, 0}, "EFAULT"},
	{"request_key", 249, 287, {0, 0, 0, 0}, "EFAULT"},
	{"open_by_handle_at", 304, 342, {-1, 0, 0}, "EBADF/EFAULT"},
	{"name_to_handle_at", 303, 341, {-100, 1, 0, 0, 0}, "EFAULT"},
	{"io_uring_setup", 425, 425, {0, 0}, "EFAULT/EINVAL"},
	{"io_uring_enter", 426, 426, {-1, 0, 0, 0, 0, 0}, "EBADF"},
	{"io_uring_register", 427, 427, {-1, 0, 0, 0}, "EBADF"},
	{"userfaultfd", 323, 374, {0xffffffff}, "EINVAL"},
	{"fanotify_init", 300, 338, {0xffffffff, 0}, "EINVAL"},
	{"reboot", 169, 88, {0, 0, 0, 0}, "EINVAL (wrong magic)"},
	{"swapon", 167, 87, {1, 0}, "EFAULT"},
	{"swapoff", 168, 115, {1}, "EFAULT"},
	{"acct", 163, 51, {1}, "EFAULT"},
	{"settimeofday", 164, 79, {0, 0}, "0 (no-op)"},
	{"clock_settime", 227, 264, {0, 0}, "EFAULT"},
	{"clock_adjtime", 305, 343, {0, 0}, "EFAULT"},
	{"adjtimex", 159, 124, {0}, "EFAULT"},
	{"syslog", 103, 103, {10, 0, 0}, "the log buffer size"},
	{"vhangup", 153, 111, {0}, "0 (no controlling tty: setsid first)"},
	{"sethostname", 170, 74, {1, 4}, "EFAULT"},
	{"setdomainname", 171, 121, {1, 4}, "EFAULT"},
	{"quotactl", 179, 131, {0xffffffff, 0, 0, 0}, "ENODEV/EINVAL"},
	{"quotactl_fd", 443, 443, {-1, 0xffffffff, 0, 0}, "EBADF"},
	/* the i386 spellings of the clock setters under other names (64-bit time, stime) */
	{"stime", -1, 25, {1}, "EFAULT"},
	{"clock_settime64", -1, 404, {0, 1}, "EFAULT"},
	{"clock_adjtime64", -1, 405, {0, 1}, "EFAULT"},
	{"uselib", 134, 86, {1}, "EFAULT"},
	{"sysfs", 139, 135, {99}, "EINVAL"},
	{"ustat", 136, 62, {0, 0}, "EINVAL"},
	{"lsm_set_self_attr", 460, 460, {0, 0, 0, 0xffffffff}, "EINVAL"},
	{"clone3", 435, 435, {0, 0}, "EINVAL (size 0)"},
	{"olduname", -1, 109, {0}, "EFAULT"},
	{"oldolduname", -1, 59, {0}, "EFAULT"},
};

static int ipc_probe_dummy;
/* SysV IPC and POSIX mqueues, refused only with an ipc namespace */
static const struct probe ipc_probes[] = {
	{"shmget", 29, 395, {0, 0, 0}, "EINVAL (size 0)"},
	{"shmctl", 31, 396, {-1, 2, 0}, "EINVAL"},
	{"semctl", 66, 394, {-1, 0, 2, 0}, "EINVAL"},
	{"msgctl", 71, 402, {-1, 2, 0}, "EINVAL"},
	{"mq_open", 240, 277, {0, 0, 0, 0}, "EFAULT"},
	{"ipc", -1, 117, {24 /* SHMCTL */, -1, 2, 0, 0, 0}, "EINVAL"},
};

struct probe_run {
	const struct probe *p;
	int abi; /* 0 x86_64, 1 i386, 2 x32 */
};

static int run_probe(const char *name, void *arg)
{
	struct probe_run *pr = arg;
	const struct probe *p = pr->p;
	long a[6];
	for (int i = 0; i < 6; i++)
		a[i] = p->a[i] == SELF ? getpid() : p->a[i];
	setsid(); /* no controlling terminal: vhangup can hang up nothing */
	long r;
	switch (pr->abi) {
	case 0:
		r = RAW(p->nr64, a[0], a[1], a[2], a[3], a[4], a[5]);
		break;
	case 1:
		r = int80(p->nr32, a[0], a[1], a[2], a[3], a[4], a[5]);
		break;
	default:
		r = x32call(p->nr64, a[0], a[1], a[2], a[3], a[4], a[5]);
		break;
	}
	if (pr->abi == 2) { /* x32 is off on the target kernel: anything but success is fine */
		if (r < 0) {
			ok(name, "%s", en(-r));
			return 0;
		}
		escaped(name, "returned %ld", r);
		return 1;
	}
	if (refused_by(r, EPERM_ENOSYS)) {
		ok(name, "%s", en(-r));
		return 0;
	}
	if (r >= 0)
		escaped(name, "returned %ld: reached the kernel (would return %s)", r, p->kernel);
	else
		escaped(name, "%s: reached the kernel (would return %s)", en(-r), p->kernel);
	return 1;
}

static void probe_set(const struct probe *ps, size_t n)
{
	static const char *abis[] = {"x64", "i386", "x32"};
	for (size_t i = 0; i < n; i++)
		for (int abi = 0; abi < 3; abi++) {
			long nr = abi == 1 ? ps[i].nr32 : ps[i].nr64;
			if (nr < 0)
				continue;
			char name[96];
			snprintf(name, sizeof name, "%s:%s", abis[abi], ps[i].name);
			struct probe_run pr = {&ps[i], abi};
			attempt(name, run_probe, &pr);
		}
}

static void live_paths(void)
{
	long r = int80(20, 0, 0, 0, 0, 0, 0);
	if (r == getpid())
		ok("i386_getpid_live", "int 0x80 getpid = %ld: the i386 entry point works", r);
	else
		error("i386_getpid_live", "int 0x80 getpid = %ld, getpid() = %d: i386 probes prove nothing", r, getpid());
	r = x32call(39, 0, 0, 0, 0, 0, 0);
	if (r < 0)
		ok("x32_getpid", "%s (x32 is off on this kernel, or refused)", en(-r));
	else
		ok("x32_getpid", "x32 getpid = %ld (x32 is on: the x32 probes are live)", r);
}

/* ---------- real attempts: namespaces, mount, chroot ---------- */

static char mnt_dir[] = "/escape/mnt", tmpfs_s[] = "tmpfs", none_s[] = "none", size_s[] = "size=1m";
static char chroot_dir[] = "/escape/chroot-x";

/* want_eperm reports a call that was not expected to succeed: EPERM (seccomp) is ok, anything
 * else means the call reached the kernel. */
static int want_eperm(const char *name, long r)
{
	if (r == -EPERM) {
		ok(name, "EPERM");
		return 0;
	}
	escaped(name, "%s: reached the kernel", en(-r));
	return 1;
}

static int do_mount(const char *name, void *arg)
{
	long abi = (long)arg;
	long r = abi ? int80(21, (long)none_s, (long)mnt_dir, (long)tmpfs_s, 0, (long)size_s, 0)
		     : RAW(SYS_mount, none_s, mnt_dir, tmpfs_s, 0, size_s);
	if (r == 0) {
		umount2(mnt_dir, MNT_DETACH);
		escaped(name, "mounted tmpfs on %s (unmounted again)", mnt_dir);
		return 1;
	}
	return want_eperm(name, r);
}

static int do_unshare(const char *name, void *arg)
{
	long flags = (long)arg & 0xffffffffL, abi = (long)arg >> 32;
	long r = abi ? int80(310, flags, 0, 0, 0, 0, 0) : RAW(SYS_unshare, flags);
	if (r == -EPERM) {
		ok(name, "EPERM");
		return 0;
	}
	escaped(name, "unshare(%#lx) = %s", flags, r == 0 ? "0" : en(-r));
	return 1;
}

static int do_clone(const char *name, void *arg)
{
	long flags = (long)arg & 0xffffffffL, abi = (long)arg >> 32;
	long r;
	if (abi == 1)
		r = int80(120, flags | SIGCHLD, 0, 0, 0, 0, 0);
	else if (abi == 2) /* garbage in the upper half: the kernel reads the low 32 bits */
		r = RAW(SYS_clone, (1UL << 40) | flags | SIGCHLD, 0, 0, 0, 0);
	else
		r = RAW(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
	if (r == 0)
		syscall(SYS_exit_group, 0); /* the new child */
	if (r > 0) {
		waitpid(r, NULL, 0);
		escaped(name, "clone(%#lx) made pid %ld", flags, r);
		return 1;
	}
	if (r == -EPERM) {
		ok(name, "EPERM");
		return 0;
	}
	escaped(name, "clone(%#lx): %s: reached the kernel", flags, en(-r));
	return 1;
}

static struct clone_args c3args;

static int do_clone3(const char *name, void *arg)
{
	long abi = (long)arg;
	memset(&c3args, 0, sizeof c3args);
	c3args.flags = CLONE_NEWUSER;
	c3args.exit_signal = SIGCHLD;
	long r = abi ? int80(435, (long)&c3args, sizeof c3args, 0, 0, 0, 0)
		     : RAW(SYS_clone3, &c3args, sizeof c3args);
	if (r == 0)
		syscall(SYS_exit_group, 0);
	if (r > 0) {
		waitpid(r, NULL, 0);
		escaped(name, "clone3(CLONE_NEWUSER) made pid %ld", r);
		return 1;
	}
	if (r == -ENOSYS) {
		ok(name, "ENOSYS (libc falls back to clone)");
		return 0;
	}
	if (r == -EPERM) {
		ok(name, "EPERM (ENOSYS expected, but refused)");
		return 0;
	}
	escaped(name, "%s: reached the kernel", en(-r));
	return 1;
}

static int do_chroot(const char *name, void *arg)
{
	long abi = (long)arg;
	mkdir(chroot_dir, 0755);
	long r = abi ? int80(61, (long)chroot_dir, 0, 0, 0, 0, 0) : RAW(SYS_chroot, chroot_dir);
	if (r == 0) {
		/* the classic escape: cwd is outside the new root, walk up */
		for (int i = 0; i < 64; i++)
			if (chdir("..") < 0)
				break;
		char buf[64];
		long n = slurp("etc/shadow", buf, sizeof buf);
		escaped(name, "chroot succeeded; ../../.. then etc/shadow: %s", n >= 0 ? "READ" : en(-n));
		return 1;
	}
	return want_eperm(name, r);
}

/* ---------- other processes: ptrace, process_vm_readv, signals, scheduling ---------- */

static int do_ptrace(const char *name, void *arg)
{
	long pid = (long)arg & 0xffffffffL, abi = (long)arg >> 32;
	/* SEIZE does not stop the tracee; exiting (this child) detaches */
	long r = abi ? int80(26, 0x4206, pid, 0, 0, 0, 0) : RAW(SYS_ptrace, 0x4206, pid, 0, 0);
	if (r == 0) {
		escaped(name, "PTRACE_SEIZE of pid %ld succeeded (detached by exiting)", pid);
		return 1;
	}
	if (r == -EPERM) {
		ok(name, "EPERM");
		return 0;
	}
	escaped(name, "PTRACE_SEIZE of %ld: %s: reached the kernel", pid, en(-r));
	return 1;
}

static char vmbuf[64];
static struct iovec vm_local = {vmbuf, sizeof vmbuf}, vm_remote = {(void *)0x400000, 8};

static int do_vmread(const char *name, void *arg)
{
	long pid = (long)arg & 0xffffffffL, abi = (long)arg >> 32;
	long r;
	if (abi) {
		/* i386 iovecs are two 32-bit words */
		static unsigned int l32[2], r32[2];
		l32[0] = (unsigned int)(long)vmbuf, l32[1] = 8, r32[0] = 0x400000, r32[1] = 8;
		r = int80(347, pid, (long)l32, 1, (long)r32, 1, 0);
	} else
		r = RAW(SYS_process_vm_readv, pid, &vm_local, 1, &vm_remote, 1, 0);
	if (r == -EPERM || r == -ENOSYS) {
		ok(name, "%s", en(-r));
		return 0;
	}
	escaped(name, "process_vm_readv(%ld) = %s", pid, r >= 0 ? "read" : en(-r));
	return 1;
}

static void signal_attempts(void)
{
	struct {
		const char *name;
		long pid;
	} ts[] = {{"kill0_host_test", host_pid}, {"kill0_supervisor", sup_pid},
		  {"kill0_host_init", 1}, {"kill0_victim", victim_pid}};
	for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
		long r = RAW(SYS_kill, ts[i].pid, 0);
		if (r == -EPERM)
			ok(ts[i].name, "kill(%ld, 0): EPERM", ts[i].pid);
		else
			escaped(ts[i].name, "kill(%ld, 0) = %s", ts[i].pid, r == 0 ? "0" : en(-r));
	}
	long r = int80(37, host_pid, 0, 0, 0, 0, 0);
	if (r == -EPERM)
		ok("i386:kill0_host_test", "EPERM");
	else
		escaped("i386:kill0_host_test", "kill(%ld, 0) = %s", host_pid, r == 0 ? "0" : en(-r));
	r = RAW(SYS_tgkill, host_pid, host_pid, 0);
	if (r == -EPERM)
		ok("tgkill0_host_test", "EPERM");
	else
		escaped("tgkill0_host_test", "= %s", r == 0 ? "0" : en(-r));
	int pfd = syscall(SYS_pidfd_open, host_pid, 0);
	if (pfd < 0)
		ok("pidfd_signal0_host_test", "pidfd_open: %s", en(errno));
	else {
		r = RAW(SYS_pidfd_send_signal, pfd, 0, 0, 0);
		if (r == -EPERM)
			ok("pidfd_signal0_host_test", "EPERM");
		else
			escaped("pidfd_signal0_host_test", "= %s", r == 0 ? "0" : en(-r));
		close(pfd);
	}
}

/* Host processes the container must not be able to influence, beyond signals: a real pid
 * namespace hides them. Aimed at the victim, a `sleep` the test owns. */
static void host_process_attempts(void)
{
	long v = victim_pid;
	long r = RAW(SYS_setpriority, PRIO_PROCESS, v, 19);
	if (r == 0)
		escaped("setpriority_victim", "reniced host pid %ld to 19", v);
	else
		ok("setpriority_victim", "%s", en(-r));
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	r = RAW(SYS_sched_setaffinity, v, sizeof set, &set);
	if (r == 0)
		escaped("setaffinity_victim", "pinned host pid %ld to cpu 0", v);
	else
		ok("setaffinity_victim", "%s", en(-r));
	struct rlimit lim = {64, 64};
	r = RAW(SYS_prlimit64, v, RLIMIT_NOFILE, &lim, 0);
	if (r == 0)
		escaped("prlimit_victim", "lowered host pid %ld's RLIMIT_NOFILE hard limit to 64", v);
	else
		ok("prlimit_victim", "%s", en(-r));
	r = RAW(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, v, 3 << 13 /* IOPRIO_CLASS_IDLE */);
	if (r == 0)
		escaped("ioprio_victim", "set host pid %ld's I/O class to idle", v);
	else
		ok("ioprio_victim", "%s", en(-r));
	struct sched_param sp = {0};
	r = RAW(SYS_sched_setscheduler, v, 3 /* SCHED_BATCH */, &sp);
	if (r == 0)
		escaped("setscheduler_victim", "set host pid %ld to SCHED_BATCH", v);
	else
		ok("setscheduler_victim", "%s", en(-r));
	char p[64];
	snprintf(p, sizeof p, "/proc/%ld/oom_score_adj", v);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		ok("oom_score_adj_victim", "open %s: %s", p, en(errno));
	else {
		if (write(fd, "1000", 4) == 4)
			escaped("oom_score_adj_victim", "wrote 1000 to %s", p);
		else
			ok("oom_score_adj_victim", "write %s: %s", p, en(errno));
		close(fd);
	}
}

/* ---------- terminals ---------- */

static char sti_char = 'x';
static int tiocl_sub = 0;

static void tty_attempts(void)
{
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int s = -1;
	if (m >= 0 && unlockpt(m) == 0)
		s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	int fd = s >= 0 ? s : 0; /* without a pty of our own: stdin; EPERM is still seccomp's */
	const char *what = s >= 0 ? "a pty slave from /dev/ptmx" : "fd 0 (no /dev/ptmx)";
	struct {
		const char *name;
		long r;
	} rs[] = {
		{"tiocsti", RAW(SYS_ioctl, fd, TIOCSTI, &sti_char)},
		{"tiocsti_upper_bits", RAW(SYS_ioctl, fd, (1UL << 32) | TIOCSTI, &sti_char)},
		{"i386:tiocsti", int80(54, fd, TIOCSTI, (long)&sti_char, 0, 0, 0)},
		{"tioclinux", RAW(SYS_ioctl, fd, TIOCLINUX, &tiocl_sub)},
		{"i386:tioclinux", int80(54, fd, TIOCLINUX, (long)&tiocl_sub, 0, 0, 0)},
		/* on fd -1: past seccomp the kernel answers EBADF, and nothing is redirected or taken */
		{"tioccons", RAW(SYS_ioctl, -1, TIOCCONS, 0)},
		{"i386:tioccons", int80(54, -1, TIOCCONS, 0, 0, 0, 0)},
		{"tiocsctty_steal", RAW(SYS_ioctl, -1, TIOCSCTTY, 1)},
		{"i386:tiocsctty_steal", int80(54, -1, TIOCSCTTY, 1, 0, 0, 0)},
	};
	for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
		if (rs[i].r == -EPERM)
			ok(rs[i].name, "EPERM on %s", what);
		else
			escaped(rs[i].name, "%s on %s: reached the tty layer", rs[i].r == 0 ? "0" : en(-rs[i].r), what);
	}
	if (s >= 0)
		close(s);
	if (m >= 0)
		close(m);
}

/* ---------- ioctls that change a whole (host) file system ---------- */

/* Each is tried on a /proc file: procfs freezes, thaws and shuts down nothing and has no label,
 * so a request that gets past seccomp gets the kernel's ENOTTY (or, for freeze and thaw,
 * EOPNOTSUPP/EINVAL with CAP_SYS_ADMIN, EPERM without it: the CAP_SYS_ADMIN and privileged
 * runs settle those). On the rootfs' own file system they would freeze, shut down, relabel or
 * resize the host's disk. */
static void fs_ioctl_attempts(void)
{
	static const struct {
		const char *name;
		unsigned long req;
	} reqs[] = {
		{"fifreeze", 0xc0045877}, {"fithaw", 0xc0045878}, {"fs_ioc_shutdown", 0x8004587d},
		{"fs_ioc_setfslabel", 0x41009432}, {"ext4_setfsuuid", 0x4008662c},
		{"ext4_resize_fs", 0x40086610}, {"ext4_group_extend", 0x40086607},
		{"ext4_group_add", 0x40286608}, {"ext4_swap_boot", 0x6611}, {"ext4_checkpoint", 0x4004662b},
	};
	static char buf[512];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		error("fs_ioctls", "open /proc/self/stat: %s", en(errno));
		return;
	}
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++)
		for (int abi = 0; abi < 2; abi++) {
			char name[64];
			snprintf(name, sizeof name, "%s%s", abi ? "i386:" : "", reqs[i].name);
			long r = abi ? int80(54, fd, reqs[i].req, (long)buf, 0, 0, 0) : RAW(SYS_ioctl, fd, reqs[i].req, buf);
			if (r == -EPERM)
				ok(name, "EPERM");
			else
				escaped(name, "%s: reached the file system", r == 0 ? "0" : en(-r));
		}
	close(fd);
}

/* ---------- sockets ---------- */

static unsigned int sockcall_args[3];

static void sock_try(const char *name, long r, const char *what)
{
	if (r >= 0) {
		close(r);
		escaped(name, "%s: got a socket", what);
	} else if (r == -EPERM || r == -EAFNOSUPPORT || r == -EACCES)
		ok(name, "%s: %s", what, en(-r));
	else
		escaped(name, "%s: %s: reached the kernel", what, en(-r));
}

static void raw_socket_attempts(void)
{
	sock_try("raw_inet", RAW(SYS_socket, AF_INET, SOCK_RAW, IPPROTO_ICMP), "AF_INET SOCK_RAW");
	sock_try("raw_inet_flags", RAW(SYS_socket, AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW),
		 "AF_INET SOCK_RAW|CLOEXEC|NONBLOCK");
	sock_try("raw_inet6", RAW(SYS_socket, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6), "AF_INET6 SOCK_RAW");
	sock_try("packet_raw", RAW(SYS_socket, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), "AF_PACKET SOCK_RAW");
	sock_try("packet_dgram", RAW(SYS_socket, AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL)), "AF_PACKET SOCK_DGRAM");
	sock_try("packet_upper_bits", RAW(SYS_socket, (1UL << 32) | AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)),
		 "AF_PACKET with bit 32 set in the family");
	/* the kernel turns AF_INET + SOCK_PACKET (10) into a PF_PACKET socket */
	sock_try("inet_sock_packet", RAW(SYS_socket, AF_INET, 10 /* SOCK_PACKET */, htons(ETH_P_ALL)),
		 "AF_INET SOCK_PACKET (becomes PF_PACKET)");
	sock_try("i386:raw_inet", int80(359, AF_INET, SOCK_RAW, IPPROTO_ICMP, 0, 0, 0), "i386 socket AF_INET SOCK_RAW");
	sock_try("i386:packet_raw", int80(359, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL), 0, 0, 0), "i386 socket AF_PACKET");
	sockcall_args[0] = AF_PACKET, sockcall_args[1] = SOCK_RAW, sockcall_args[2] = htons(ETH_P_ALL);
	sock_try("i386:socketcall_packet", int80(102, 1 /* SYS_SOCKET */, (long)sockcall_args, 0, 0, 0, 0),
		 "i386 socketcall(SYS_SOCKET, AF_PACKET, SOCK_RAW)");
	sockcall_args[0] = AF_INET, sockcall_args[1] = SOCK_RAW, sockcall_args[2] = IPPROTO_ICMP;
	sock_try("i386:socketcall_raw_inet", int80(102, 1, (long)sockcall_args, 0, 0, 0, 0),
		 "i386 socketcall(SYS_SOCKET, AF_INET, SOCK_RAW)");
}

/* connect to the test's abstract socket, and send to its datagram twin */
static void abstract_attempts(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t n = strlen(abstract_name);
	memcpy(a.sun_path + 1, abstract_name, n);
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(s, (struct sockaddr *)&a, len) == 0)
		escaped("abstract_connect", "connected to @%s", abstract_name);
	else if (errno == EPERM)
		ok("abstract_connect", "@%s: EPERM", abstract_name);
	else
		error("abstract_connect", "@%s: %s (the test listens there: EPERM expected)", abstract_name, en(errno));
	close(s);
	char dg[120];
	snprintf(dg, sizeof dg, "%s-dgram", abstract_name);
	n = strlen(dg);
	memset(a.sun_path, 0, sizeof a.sun_path);
	memcpy(a.sun_path + 1, dg, n);
	len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sendto(s, "escaped", 7, 0, (struct sockaddr *)&a, len) == 7)
		escaped("abstract_sendto", "sent a datagram to @%s", dg);
	else if (errno == EPERM)
		ok("abstract_sendto", "@%s: EPERM", dg);
	else
		error("abstract_sendto", "@%s: %s (EPERM expected)", dg, en(errno));
	close(s);
}

/* the supervisor's control socket by path: absent from the chroot, and the magic links that
 * lead to the host's tree are closed */
static void supsock_attempts(void)
{
	char paths[3][512];
	snprintf(paths[0], 512, "%s/sup.sock", state_dir);
	snprintf(paths[1], 512, "/proc/%ld/root%s/sup.sock", sup_pid, state_dir);
	snprintf(paths[2], 512, "/proc/%ld/root%s/sup.sock", host_pid, state_dir);
	const char *names[] = {"supsock_path", "supsock_via_sup_root", "supsock_via_host_root"};
	for (int i = 0; i < 3; i++) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		if (strlen(paths[i]) >= sizeof a.sun_path) {
			error(names[i], "path too long: %s", paths[i]);
			continue;
		}
		strcpy(a.sun_path, paths[i]);
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (connect(s, (struct sockaddr *)&a, sizeof a) < 0)
			ok(names[i], "%s: %s", paths[i], en(errno));
		else {
			char buf[512] = "";
			struct timeval tv = {3, 0};
			setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
			long k = recv(s, buf, sizeof buf - 1, 0);
			if (k > 0 && strstr(buf, "does not serve"))
				ok(names[i], "connected, refused by the peer check: %s", buf);
			else
				escaped(names[i], "connected to %s (reply %s)", paths[i], k > 0 ? buf : "none");
		}
		close(s);
	}
}

/* ---------- limits ---------- */

static void rlimit_attempts(void)
{
	struct rlimit l;
	getrlimit(RLIMIT_NOFILE, &l);
	struct rlimit up = {l.rlim_max + 1, l.rlim_max + 1};
	if (setrlimit(RLIMIT_NOFILE, &up) == 0)
		escaped("rlimit_raise_hard", "raised RLIMIT_NOFILE hard limit %lu -> %lu", (unsigned long)l.rlim_max,
			(unsigned long)up.rlim_max);
	else if (errno == EPERM)
		ok("rlimit_raise_hard", "EPERM (hard limit %lu)", (unsigned long)l.rlim_max);
	else
		error("rlimit_raise_hard", "%s", en(errno));
}

static int do_personality(const char *name, void *arg)
{
	(void)arg;
	long r = RAW(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */);
	if (r == -EPERM) {
		ok(name, "EPERM");
		return 0;
	}
	escaped(name, "personality(ADDR_NO_RANDOMIZE) = %ld", r);
	return 1;
}

static int do_name_to_handle(const char *name, void *arg)
{
	(void)arg;
	struct {
		struct file_handle h;
		unsigned char b[128];
	} fh = {.h.handle_bytes = 128};
	int mid;
	long r = RAW(SYS_name_to_handle_at, AT_FDCWD, "/", &fh, &mid, 0);
	if (r == -EPERM) {
		ok(name, "EPERM");
		return 0;
	}
	escaped(name, "name_to_handle_at(\"/\") = %s", r == 0 ? "0 (a handle)" : en(-r));
	return 1;
}

static int do_io_uring(const char *name, void *arg)
{
	(void)arg;
	static unsigned char params[120];
	long r = RAW(SYS_io_uring_setup, 4, params);
	if (r >= 0) {
		close(r);
		escaped(name, "io_uring_setup gave fd %ld", r);
		return 1;
	}
	return want_eperm(name, r);
}

static void read_pids(void)
{
	char buf[256];
	if (slurp("/escape/pids", buf, sizeof buf) < 0) {
		error("pids_file", "/escape/pids: %s", en(errno));
		return;
	}
	char *p = strstr(buf, "sup=");
	sup_pid = p ? strtol(p + 4, NULL, 10) : 0;
	p = strstr(buf, "zygote=");
	zygote_pid = p ? strtol(p + 7, NULL, 10) : 0;
}

#define PAIR(pid, abi) ((void *)((long)(pid) | ((long)(abi) << 32)))

int main(void)
{
	dup2(1, 2);
	/* first, before this program opens anything */
	check_own_fds();
	self_pid = getpid();
	host_pid = envnum("ESC_HOST_PID");
	victim_pid = envnum("ESC_VICTIM_PID");
	priv = envnum("ESC_PRIV");
	sig_isolated = envnum("ESC_SIGNALS");
	ipc_isolated = envnum("ESC_IPC");
	nonet = envnum("ESC_NONET");
	scratch = getenv("ESC_SCRATCH") ? getenv("ESC_SCRATCH") : "/nonexistent";
	state_dir = getenv("ESC_STATE_DIR") ? getenv("ESC_STATE_DIR") : "/nonexistent";
	abstract_name = getenv("ESC_ABSTRACT") ? getenv("ESC_ABSTRACT") : "sandlock-escape-none";
	read_pids();
	if (!host_pid || !victim_pid || !sup_pid || !zygote_pid)
		error("setup", "missing pids: host %ld victim %ld sup %ld zygote %ld", host_pid, victim_pid, sup_pid,
		      zygote_pid);

	/* the seccomp listener and other fds */
	scan_fds("listener_not_in_zygote_fds", zygote_pid);
	scan_fds("listener_not_in_sup_fds", sup_pid);
	open_proc_fds("reopen_sup_fds", sup_pid);
	open_proc_fds("reopen_zygote_fds", zygote_pid);
	pidfd_getfd_all("pidfd_getfd_zygote", zygote_pid);
	pidfd_getfd_all("pidfd_getfd_sup", sup_pid);
	pidfd_getfd_all("pidfd_getfd_self", self_pid);
	proc_mem("proc_mem_zygote", zygote_pid);
	proc_mem("proc_mem_sup", sup_pid);

	fs_attempts();
	live_paths();
	probe_set(probes, sizeof probes / sizeof probes[0]);
	if (ipc_isolated)
		probe_set(ipc_probes, sizeof ipc_probes / sizeof ipc_probes[0]);
	(void)ipc_probe_dummy;

	for (int abi = 0; abi < 2; abi++) {
		attempt(abi ? "i386:mount_tmpfs" : "mount_tmpfs", do_mount, (void *)(long)abi);
		attempt(abi ? "i386:chroot_escape" : "chroot_escape", do_chroot, (void *)(long)abi);
		attempt(abi ? "i386:clone3_newuser" : "clone3_newuser", do_clone3, (void *)(long)abi);
	}
	static const struct {
		const char *n;
		long f;
	} nsflags[] = {{"newuser", CLONE_NEWUSER}, {"newns", CLONE_NEWNS},	  {"newpid", CLONE_NEWPID},
		       {"newnet", CLONE_NEWNET},   {"newipc", CLONE_NEWIPC},	  {"newuts", CLONE_NEWUTS},
		       {"newcgroup", CLONE_NEWCGROUP}, {"newtime", CLONE_NEWTIME}};
	for (size_t i = 0; i < sizeof nsflags / sizeof nsflags[0]; i++) {
		char name[64];
		snprintf(name, sizeof name, "unshare_%s", nsflags[i].n);
		attempt(name, do_unshare, PAIR(nsflags[i].f, 0));
		snprintf(name, sizeof name, "i386:unshare_%s", nsflags[i].n);
		attempt(name, do_unshare, PAIR(nsflags[i].f, 1));
		snprintf(name, sizeof name, "clone_%s", nsflags[i].n);
		attempt(name, do_clone, PAIR(nsflags[i].f, 0));
		snprintf(name, sizeof name, "i386:clone_%s", nsflags[i].n);
		attempt(name, do_clone, PAIR(nsflags[i].f, 1));
		snprintf(name, sizeof name, "clone_upper_bits_%s", nsflags[i].n);
		attempt(name, do_clone, PAIR(nsflags[i].f, 2));
	}

	attempt("ptrace_supervisor", do_ptrace, PAIR(sup_pid, 0));
	attempt("i386:ptrace_supervisor", do_ptrace, PAIR(sup_pid, 1));
	attempt("ptrace_host_test", do_ptrace, PAIR(host_pid, 0));
	attempt("ptrace_victim", do_ptrace, PAIR(victim_pid, 0));
	attempt("ptrace_zygote", do_ptrace, PAIR(zygote_pid, 0));
	attempt("process_vm_readv_supervisor", do_vmread, PAIR(sup_pid, 0));
	attempt("i386:process_vm_readv_supervisor", do_vmread, PAIR(sup_pid, 1));
	attempt("process_vm_readv_self", do_vmread, PAIR(self_pid, 0));
	attempt("io_uring_setup_real", do_io_uring, NULL);
	attempt("name_to_handle_at_root", do_name_to_handle, NULL);
	attempt("personality_no_randomize", do_personality, NULL);

	tty_attempts();
	fs_ioctl_attempts();
	raw_socket_attempts();
	if (sig_isolated) {
		signal_attempts();
		host_process_attempts();
	}
	if (ipc_isolated)
		abstract_attempts();
	supsock_attempts();
	if (!priv)
		rlimit_attempts(); /* with CAP_SYS_RESOURCE, raising is allowed */
	return finish();
}
