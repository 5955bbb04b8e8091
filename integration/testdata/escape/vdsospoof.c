/* time_start's vDSO rewrite aimed elsewhere (TestEscapeVDSOSpoof): the supervisor finds the
 * vDSO by its name in /proc/PID/maps. A file whose name ends in " [vdso]", of the vDSO's
 * size and mapped shared and writable below the real vDSO, makes a maps line that ends the
 * same way: a rewrite that takes it for the vDSO writes its stub bytes into the file (a
 * shared mapping: another process's memory, a file on disk) and leaves the real vDSO reading
 * the host's clock.
 *
 *   vdsospoof DIR   DIR: a writable directory
 */
#include "common.h"
#include <asm/prctl.h>
#include <sys/mman.h>

/* vdso_size is the [vdso] mapping's size, from /proc/self/maps (0: none). */
static unsigned long vdso_size(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char l[512];
	unsigned long a, z, size = 0;
	if (!f)
		return 0;
	while (fgets(l, sizeof l, f))
		if (strstr(l, "[vdso]") && sscanf(l, "%lx-%lx", &a, &z) == 2)
			size = z - a;
	fclose(f);
	return size;
}

int main(int argc, char **argv)
{
	char path[4096];
	unsigned long size, fs, i;
	unsigned char *m;
	int fd;
	if (argc < 2) {
		error("usage", "vdsospoof DIR");
		return finish();
	}
	size = vdso_size();
	if (size == 0) {
		ok("vdso_spoof", "no vDSO in this process (vdso=0)");
		return finish();
	}
	snprintf(path, sizeof path, "%s/x [vdso]", argv[1]);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, size) < 0) {
		error("vdso_spoof", "create %s: %s", path, en(errno));
		return finish();
	}
	/* far below the real vDSO (near the stack's top): the first " [vdso]" line of maps */
	m = mmap((void *)0x20000000UL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (m == MAP_FAILED) {
		error("vdso_spoof", "mmap: %s", en(errno));
		return finish();
	}
	/* a second arch_prctl: the supervisor rewrites "the vDSO" again */
	long r = syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
	for (i = 0; i < size && m[i] == 0; i++)
		;
	if (i < size)
		escaped("vdso_spoof", "the supervisor wrote into a shared file mapping named \"x [vdso]\" at offset %lu (arch_prctl %ld)", i, r);
	else
		ok("vdso_spoof", "the shared file mapping is untouched (arch_prctl %ld %s)", r, r < 0 ? en(errno) : "");
	munmap(m, size);
	close(fd);
	unlink(path);
	return finish();
}
