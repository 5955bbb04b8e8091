/* Syscalls by number (docs/security.md, "Syscalls the filter does not know"): a deny list
 * must hold for syscalls libseccomp has no name for, and every number above the highest the
 * filter knows is refused (ENOSYS) on the x86_64, i386 and x32 entries.
 *
 *   numbers    one line per attempt, as the other escape programs
 *
 * open_tree_attr (467) with invalid arguments: EINVAL means it reached the kernel (a hole: with
 * CAP_SYS_ADMIN it clones a mount and, with mount_setattr, makes /proc/sys writable), EPERM
 * that the filter refused it. Numbers the kernel does not have answer ENOSYS with or without
 * the filter: their lines prove only that nothing else happens. */
#include "common.h"

static const int eperm[] = {EPERM, 0};

static void judge(const char *name, long r, const int *refusals)
{
	if (refused_by(r, refusals))
		ok(name, "%s", en(-r));
	else if (r < 0)
		escaped(name, "reached the kernel: %s", en(-r));
	else
		escaped(name, "returned %ld", r);
}

static const int enosys[] = {ENOSYS, 0};

int main(void)
{
	dup2(1, 2);
	int i386 = i386_live();
	/* dirfd -1, path "" (below 4 GiB: a static string of this non-PIE binary), bad flags */
	static char emptystr[] = "";
	judge("open_tree_attr", RAW(467, -1, emptystr, 0xffffffff, 0, 0), eperm);
	if (i386)
		judge("i386_open_tree_attr", int80(467, -1, (long)emptystr, 0xffffffff, 0, 0, 0), eperm);
	else
		ok("i386_open_tree_attr", "n/a: this host has no i386 syscall entry");
	long unknown[] = {470, 471, 500, 1000, 4095};
	for (unsigned i = 0; i < sizeof unknown / sizeof *unknown; i++) {
		char name[64];
		snprintf(name, sizeof name, "unknown_%ld", unknown[i]);
		judge(name, RAW(unknown[i], 0, 0, 0, 0, 0, 0), enosys);
		snprintf(name, sizeof name, "i386_unknown_%ld", unknown[i]);
		if (i386)
			judge(name, int80(unknown[i], 0, 0, 0, 0, 0, 0), enosys);
		else
			ok(name, "n/a: this host has no i386 syscall entry");
	}
	return finish();
}
