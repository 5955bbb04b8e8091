/* fsgaps: Landlock's known gaps on a file the policy lets the process read but not write
 * (ESC_RO, a test-owned file), from a directory it may write (ESC_SCRATCH, same file system):
 *   ro_truncate, ro_open_trunc, ro_open_write        truncate(2), O_TRUNC, O_WRONLY by name
 *   ro_opath_reopen                                  O_PATH, then /proc/self/fd/N for writing
 *   ro_hardlink_write                                link(2) into the scratch dir, then write it
 *   ro_linkat_procfd                                 linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N
 *   ro_linkat_empty_path                             linkat(AT_EMPTY_PATH) of an O_RDONLY fd
 *   ro_rename_into_scratch                           rename(2) the file into the scratch dir
 *   ro_symlink_write                                 a symlink in the scratch dir, opened to write
 *   ro_fd_write                                      write(2) on an O_RDONLY fd (the kernel's EBADF)
 *   ro_mmap_shared_write                             mmap(PROT_WRITE, MAP_SHARED) of an O_RDONLY fd
 * Harmless if they succeed: nothing is written (opens are closed at once); the test checks the
 * file's content and names afterwards; links made in the scratch dir are removed. */
#include "common.h"

#include <sys/mman.h>

static const char *ro, *scratch;
static char lnk[512];

static void refused_open(const char *name, const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		escaped(name, "opened %s with flags %#x", path, flags);
	} else
		ok(name, "%s: %s", path, en(errno));
}

/* linked: a name made in the scratch dir for the read-only file must not open for writing */
static void linked(const char *name, int r, int e)
{
	if (r < 0) {
		ok(name, "no link: %s", en(e));
		return;
	}
	int fd = open(lnk, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
	e = errno;
	unlink(lnk);
	if (fd >= 0) {
		close(fd);
		escaped(name, "linked into %s and opened it for writing", scratch);
	} else
		ok(name, "linked, but the link does not open for writing: %s", en(e));
}

int main(void)
{
	ro = getenv("ESC_RO");
	scratch = getenv("ESC_SCRATCH");
	if (!ro || !scratch) {
		error("setup", "ESC_RO and ESC_SCRATCH must be set");
		return finish();
	}
	snprintf(lnk, sizeof lnk, "%s/ro-link", scratch);
	unlink(lnk);
	if (truncate(ro, 0) == 0)
		escaped("ro_truncate", "truncated %s", ro);
	else
		ok("ro_truncate", "%s", en(errno));
	refused_open("ro_open_trunc", ro, O_RDONLY | O_TRUNC);
	refused_open("ro_open_write", ro, O_WRONLY);
	char p[64];
	int fd = open(ro, O_PATH | O_CLOEXEC);
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	refused_open("ro_opath_reopen", p, O_WRONLY);
	int r = link(ro, lnk);
	linked("ro_hardlink_write", r, errno);
	r = linkat(AT_FDCWD, p, AT_FDCWD, lnk, AT_SYMLINK_FOLLOW);
	linked("ro_linkat_procfd", r, errno);
	close(fd);
	fd = open(ro, O_RDONLY | O_CLOEXEC);
	r = linkat(fd, "", AT_FDCWD, lnk, AT_EMPTY_PATH);
	linked("ro_linkat_empty_path", r, errno);
	if (write(fd, "", 0) == 0 && write(fd, "x", 1) >= 0)
		escaped("ro_fd_write", "wrote through an O_RDONLY fd");
	else
		ok("ro_fd_write", "%s", en(errno));
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m != MAP_FAILED) {
		munmap(m, 4096);
		escaped("ro_mmap_shared_write", "writable shared mapping of an O_RDONLY fd");
	} else
		ok("ro_mmap_shared_write", "%s", en(errno));
	close(fd);
	if (rename(ro, lnk) == 0) {
		rename(lnk, ro); /* put it back */
		escaped("ro_rename_into_scratch", "moved %s into %s", ro, scratch);
	} else
		ok("ro_rename_into_scratch", "%s", en(errno));
	if (symlink(ro, lnk) < 0)
		error("ro_symlink_write", "symlink: %s", en(errno));
	else {
		refused_open("ro_symlink_write", lnk, O_WRONLY);
		unlink(lnk);
	}
	return finish();
}
