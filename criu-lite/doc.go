// Package criulite checkpoints the processes of a container and restores them into a fresh,
// already confined container (x86-64 only).
//
// Checkpoint: the caller freezes the container's cgroup; Dump seizes every thread of every
// process with ptrace, interrupts it, thaws the cgroup (the threads stop in their ptrace trap
// before running any user instruction) and captures registers (general, xstate, fs/gs base),
// signal mask, rseq registration, the tid address and robust futex list of each thread;
// memory (anonymous pages present or swapped, the modified pages of private file mappings;
// file mappings by container path and offset), brk and the mm bounds, the fd table, cwd,
// umask, rlimits, signal handlers (read by syscalls injected into the stopped process),
// credentials and the process tree. Anything it cannot capture faithfully makes Dump fail
// with an error naming the resource.
//
// Restore: the container's init is created and confined the normal way (chroot, Landlock,
// seccomp, credentials) and execs the bundle's program under ptrace; the restorer takes the
// process at its exec stop, before it runs one instruction of its own, and rebuilds the saved
// processes in it by injected syscalls: every injected syscall runs under the container's
// confinement (an open goes through Landlock and the supervisor), so nothing the image says
// can widen what the restored program may do. See docs/checkpoint.md.
package criulite
