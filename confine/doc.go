// Package confine holds what a container process applies to itself before exec: the Landlock
// ruleset, the seccomp filters (the OCI profile and sandlock's own deny list), and the final
// privilege drop (groups, uid/gid, capabilities, umask) followed by execve, written in C so the
// same code serves the init process and the zygote's children.
//
// Every step acts on the calling thread only. Callers lock the goroutine to its OS thread
// (runtime.LockOSThread) and exec from that same thread, because Landlock domains, seccomp
// filters, capabilities and uids are per-thread credentials that execve keeps.
package confine
