package confine

/*
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// sl_probe_i386 forks a child that calls getpid through int 0x80 and returns the child's wait
// status, or -errno. The child resets SIGSEGV and friends to their defaults first (it would
// otherwise run the Go runtime's handler, which has no business in a forked child), runs no
// code but this, and _exits.
static int sl_probe_i386(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGSYS};
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct sigaction dfl;
		long ret;

		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
			sigaction(sigs[i], &dfl, NULL);
		__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
		_exit(ret == (long)getpid() ? 0 : 1);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return st;
}
*/
import "C"

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// CompatABIs says which compat syscall entry points of x86_64 this host offers. sandlock's
// filter lists both whatever the answer, so their numbers meet the same rules where they exist.
type CompatABIs struct {
	I386     bool   // int 0x80 from 64-bit code reaches the i386 syscall table
	I386Note string // why not, when it does not
	X32      bool   // syscall numbers with bit 30 set reach the x32 table
}

// ProbeCompatABIs asks the running kernel: i386 in a forked child (a host without IA32
// emulation kills the caller with SIGSEGV), x32 directly (without it the call fails ENOSYS).
func ProbeCompatABIs() CompatABIs {
	var c CompatABIs
	r := int(C.sl_probe_i386())
	switch st := unix.WaitStatus(r); {
	case r < 0:
		c.I386Note = fmt.Sprintf("probe: fork: %v", unix.Errno(-r))
	case st.Signaled():
		c.I386Note = fmt.Sprintf("int 0x80 dies by %v (kernel without IA32 emulation, or ia32_emulation=0)", st.Signal())
	case st.ExitStatus() != 0:
		c.I386Note = "int 0x80 getpid did not return our pid"
	default:
		c.I386 = true
	}
	pid, _, errno := unix.RawSyscall(unix.SYS_GETPID|0x40000000, 0, 0, 0)
	c.X32 = errno == 0 && int(pid) == unix.Getpid()
	return c
}
