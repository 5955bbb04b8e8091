/* devproc: devices, /proc and /sys from inside a container (or a direct-mode sandbox).
 * Attempts:
 *   dev_mem, dev_kmem, dev_port, dev_kmsg        the host's nodes by path: absent (ENOENT)
 *   mknod_{mem,kmsg,disk}_open                   a node made in a scratch dir, then opened
 *                                                (disk: the block device holding this program)
 *   dev_console_host                             /dev/console is not the host's console (5:1)
 *   proc_kcore, proc_timer_list, proc_keys       maskedPaths: open fails or the file is /dev/null
 *   sys_firmware, proc_acpi, proc_scsi           masked directories list empty or are absent
 *   proc_sysrq_trigger_w, proc_sys_core_pattern_w, proc_sys_via_self_root_w,
 *   proc_irq_w, proc_bus_w, proc_fs_w,
 *   sys_kernel_w, sys_uevent_helper_w, sys_thp_w open for writing: refused (nothing is written)
 *   inotify_denied{,_dot,_opath,_symlink}        inotify_add_watch on an fs_denied directory
 *                                                (ESC_DENIED) by name, through /proc/self/fd
 *                                                of an O_PATH fd and a symlink; inotify_allowed:
 *                                                a watch on the scratch dir reports a creation;
 *                                                i386:inotify_denied through int 0x80
 * Harmless if they succeed: opens are never followed by a write, reads are of 0 or a few
 * bytes of a file we never print, nodes are made under /escape/mnt (or ESC_SCRATCH) and
 * removed. ESC_HOSTPROC=1 (the direct mode: the host's /proc, by design) skips the masks. */
#include "common.h"

#include <dirent.h>
#include <sys/inotify.h>
#include <sys/sysmacros.h>

static void absent(const char *name, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		struct stat st;
		fstat(fd, &st);
		close(fd);
		escaped(name, "opened %s (rdev %u:%u)", path, major(st.st_rdev), minor(st.st_rdev));
	} else
		ok(name, "%s: %s", path, en(errno));
}

/* mknod_open makes a node in /escape/mnt and opens it read-only: either step must fail. */
static void mknod_open(const char *name, mode_t type, dev_t dev)
{
	char p[256];
	const char *dir = getenv("ESC_SCRATCH");
	snprintf(p, sizeof p, "%s/%s", dir && *dir ? dir : "/escape/mnt", name);
	unlink(p);
	if (mknod(p, type | 0600, dev) < 0) {
		ok(name, "mknod %u:%u: %s", major(dev), minor(dev), en(errno));
		return;
	}
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	int e = errno;
	unlink(p);
	if (fd >= 0) {
		close(fd);
		escaped(name, "made and opened %u:%u", major(dev), minor(dev));
	} else
		ok(name, "made %u:%u, open: %s", major(dev), minor(dev), en(e));
}

/* masked: the path is absent, unreadable, or the host's /dev/null (char 1:3) */
static void masked(const char *name, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		ok(name, "%s: %s", path, en(errno));
		return;
	}
	struct stat st;
	fstat(fd, &st);
	char c;
	long n = read(fd, &c, 1);
	close(fd);
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))
		ok(name, "%s is /dev/null", path);
	else if (n <= 0)
		ok(name, "%s reads nothing (%s)", path, n < 0 ? en(errno) : "EOF");
	else
		escaped(name, "%s is readable and not masked", path);
}

static void masked_dir(const char *name, const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		ok(name, "%s: %s", path, en(errno));
		return;
	}
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	if (n)
		escaped(name, "%s lists %d entries", path, n);
	else
		ok(name, "%s is empty", path);
}

/* no_write: opening for writing must fail; nothing is ever written */
static void no_write(const char *name, const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		escaped(name, "%s opened for writing", path);
	} else if (errno == ENOENT)
		ok(name, "%s: absent", path);
	else
		ok(name, "%s: %s", path, en(errno));
}

/* the block device of /escape's file system, as a node, must not open */
static void disk(void)
{
	struct stat st;
	if (stat("/proc/self/exe", &st) < 0) {
		error("mknod_disk_open", "stat /proc/self/exe: %s", en(errno));
		return;
	}
	if (major(st.st_dev) == 0) {
		/* overlay, tmpfs: no block device behind it; try the first SCSI/virtio disks */
		mknod_open("mknod_disk_open", S_IFBLK, makedev(8, 0));
		return;
	}
	mknod_open("mknod_disk_open", S_IFBLK, st.st_dev);
}

static void console(void)
{
	struct stat st;
	int fd = open("/dev/console", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ok("dev_console_host", "/dev/console: %s", en(errno));
		return;
	}
	fstat(fd, &st);
	close(fd);
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(5, 1))
		escaped("dev_console_host", "/dev/console is the host's console 5:1");
	else
		ok("dev_console_host", "/dev/console is %u:%u, not the host's", major(st.st_rdev), minor(st.st_rdev));
}

static void watch_refused(const char *name, int in, const char *path)
{
	int w = inotify_add_watch(in, path, IN_ALL_EVENTS);
	if (w >= 0)
		escaped(name, "watching %s", path);
	else
		ok(name, "inotify_add_watch %s: %s", path, en(errno));
}

/* inotify on an fs_denied directory: every spelling refused; a watch on the scratch dir works
 * and reports the file made there (the watches are added for the process, not refused). */
static void inotify_denied(const char *dir, const char *scratch)
{
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in < 0) {
		error("inotify_init", "inotify_init1: %s", en(errno));
		return;
	}
	char p[512];
	watch_refused("inotify_denied", in, dir);
	snprintf(p, sizeof p, "%s/.", dir);
	watch_refused("inotify_denied_dot", in, p);
	int fd = open(dir, O_PATH | O_CLOEXEC);
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	if (fd < 0)
		ok("inotify_denied_opath", "open O_PATH %s: %s", dir, en(errno));
	else
		watch_refused("inotify_denied_opath", in, p);
	/* i386 entry: the path in a global (below 4 GiB, -no-pie) */
	static char dir32[512];
	snprintf(dir32, sizeof dir32, "%s", dir);
	long r = int80(292 /* i386 inotify_add_watch */, in, (long)dir32, IN_ALL_EVENTS, 0, 0, 0);
	if (r >= 0)
		escaped("i386:inotify_denied", "watching %s", dir);
	else
		ok("i386:inotify_denied", "inotify_add_watch %s: %s", dir, en(-r));
	snprintf(p, sizeof p, "%s/link-to-denied", scratch);
	unlink(p);
	if (symlink(dir, p) < 0)
		error("inotify_denied_symlink", "symlink %s: %s", p, en(errno));
	else
		watch_refused("inotify_denied_symlink", in, p);
	int w = inotify_add_watch(in, scratch, IN_CREATE);
	if (w < 0) {
		error("inotify_allowed", "inotify_add_watch %s: %s", scratch, en(errno));
		return;
	}
	snprintf(p, sizeof p, "%s/inotify-made", scratch);
	int f = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (f >= 0)
		close(f);
	char buf[4096] __attribute__((aligned(8)));
	long n = read(in, buf, sizeof buf);
	struct inotify_event *ev = (struct inotify_event *)buf;
	if (n > (long)sizeof *ev && ev->wd == w && (ev->mask & IN_CREATE) && strcmp(ev->name, "inotify-made") == 0)
		ok("inotify_allowed", "IN_CREATE inotify-made on the watch of %s", scratch);
	else
		error("inotify_allowed", "no IN_CREATE event for %s (read %ld: %s)", p, n, n < 0 ? en(errno) : "");
	unlink(p);
	close(in);
}

int main(void)
{
	absent("dev_mem", "/dev/mem");
	absent("dev_kmem", "/dev/kmem");
	absent("dev_port", "/dev/port");
	absent("dev_kmsg", "/dev/kmsg");
	mknod_open("mknod_mem_open", S_IFCHR, makedev(1, 1));
	mknod_open("mknod_kmsg_open", S_IFCHR, makedev(1, 11));
	mknod_open("mknod_port_open", S_IFCHR, makedev(1, 4));
	disk();
	console();
	if (getenv("ESC_HOSTPROC")) /* the direct mode reads the host's /proc: nothing is masked */
		goto writes;
	masked("proc_kcore", "/proc/kcore");
	masked("proc_timer_list", "/proc/timer_list");
	masked("proc_keys", "/proc/keys");
	masked("proc_latency_stats", "/proc/latency_stats");
	masked("proc_sched_debug", "/proc/sched_debug");
	masked_dir("sys_firmware", "/sys/firmware");
	masked_dir("proc_acpi", "/proc/acpi");
	masked_dir("proc_scsi", "/proc/scsi");
writes:
	no_write("proc_sysrq_trigger_w", "/proc/sysrq-trigger");
	no_write("proc_sys_core_pattern_w", "/proc/sys/kernel/core_pattern");
	no_write("proc_sys_via_self_root_w", "/proc/self/root/proc/sys/kernel/core_pattern");
	no_write("proc_sys_via_thread_self_w", "/proc/thread-self/root/proc/sys/kernel/modprobe");
	no_write("proc_irq_w", "/proc/irq/default_smp_affinity");
	no_write("proc_bus_w", "/proc/bus/pci/devices");
	no_write("proc_fs_w", "/proc/fs/nfsd/threads");
	no_write("sys_uevent_helper_w", "/sys/kernel/uevent_helper");
	no_write("sys_thp_w", "/sys/kernel/mm/transparent_hugepage/enabled");
	no_write("sys_module_param_w", "/sys/module/printk/parameters/time");
	no_write("sys_cgroup_w", "/sys/fs/cgroup/cgroup.procs");
	const char *d = getenv("ESC_DENIED"), *sc = getenv("ESC_SCRATCH");
	if (d && *d)
		inotify_denied(d, sc && *sc ? sc : "/escape/mnt");
	return finish();
}
