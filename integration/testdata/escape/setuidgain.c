/* process.noNewPrivileges false: run as uid 65534 from a setuid-root (or file-capability)
 * copy of itself, the program must gain what runc would give it (euid 0 or the file's
 * capabilities, within the bounding set), and Landlock and seccomp must still bind it. argv[1]
 * prefixes the line names. Every probe runs with every permitted capability made effective. */
#include "common.h"
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sched.h>

static unsigned long long field(const char *key)
{
	char buf[4096];
	if (slurp("/proc/self/status", buf, sizeof buf) < 0)
		return ~0ULL;
	char *p = strstr(buf, key);
	return p ? strtoull(p + strlen(key), NULL, 16) : ~0ULL;
}

/* raise_effective makes every permitted capability effective (a file-capability program
 * without the effective bit starts with none). */
static void raise_effective(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) == 0) {
		d[0].effective = d[0].permitted;
		d[1].effective = d[1].permitted;
		syscall(SYS_capset, &h, d);
	}
}

static char name[64];

static const char *nm(const char *pre, const char *what)
{
	snprintf(name, sizeof name, "%s_%s", pre, what);
	return name;
}

/* probe judges one syscall result: refused when the errno is EPERM/EACCES (seccomp, Landlock). */
static void probe(const char *pre, const char *what, long ret)
{
	if (ret < 0 && (-ret == EPERM || -ret == EACCES))
		ok(nm(pre, what), "%s", en(-ret));
	else
		escaped(nm(pre, what), "returned %ld (%s) with gained privileges", ret, ret < 0 ? en(-ret) : "success");
}

int main(int argc, char **argv)
{
	dup2(1, 2);
	const char *pre = argc > 1 ? argv[1] : "gain";
	uid_t r, e, s;
	getresuid(&r, &e, &s);
	raise_effective();
	unsigned long long prm = field("CapPrm:\t"), bnd = field("CapBnd:\t"), eff = field("CapEff:\t");
	int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	/* It must have gained something, and nothing outside the bounding set. */
	if (nnp == 0 && prm != 0 && prm != ~0ULL && (prm & ~bnd) == 0)
		ok(nm(pre, "gained"), "uids %d/%d/%d, CapPrm %llx CapEff %llx within CapBnd %llx, no_new_privs 0",
		   r, e, s, prm, eff, bnd);
	else
		error(nm(pre, "gained"), "uids %d/%d/%d, CapPrm %llx CapBnd %llx, no_new_privs %d: not what runc gives",
		      r, e, s, prm, bnd, nnp);

	/* seccomp: the mount and namespace syscalls stay denied whatever the capabilities */
	probe(pre, "mount_tmpfs", RAW(SYS_mount, "none", "/escape/mnt", "tmpfs", 0, NULL));
	if (RAW(SYS_umount2, "/escape/mnt", MNT_DETACH) == 0)
		escaped(nm(pre, "mount_undone"), "a tmpfs was mounted");
	probe(pre, "unshare_newns", RAW(SYS_unshare, CLONE_NEWNS));
	probe(pre, "chroot", RAW(SYS_chroot, "/escape"));
	probe(pre, "init_module", RAW(SYS_init_module, NULL, 0, ""));
	probe(pre, "open_by_handle_at", RAW(SYS_open_by_handle_at, -1, NULL, 0));
	/* Landlock: /secret is in fs_denied (root-owned, 0600: DAC lets only root in) */
	long fd = RAW(SYS_openat, AT_FDCWD, "/secret/key", O_RDONLY | O_CLOEXEC, 0);
	probe(pre, "read_fs_denied", fd);
	if (fd >= 0)
		close(fd);
	return finish();
}
