/* shm: a parent and its child share an anonymous MAP_SHARED page: the child increments a
 * counter in it, the parent prints it. After a restore the parent still sees the child's
 * increments (the page is still shared) and the numbers go on from where they were. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
	volatile long *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		return 1;
	if (fork() == 0) {
		for (;;) {
			__atomic_add_fetch(shared, 1, __ATOMIC_SEQ_CST);
			usleep(20000);
		}
	}
	long last = -1;
	for (;;) {
		long v = __atomic_load_n(shared, __ATOMIC_SEQ_CST);
		if (v != last) {
			printf("%ld\n", v);
			fflush(stdout);
			last = v;
		}
		usleep(5000);
	}
}
