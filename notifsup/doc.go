// Package notifsup is the supervisor's seccomp user-notification engine and its features.
//
// A Feature is one unit: the syscalls it needs trapped and their handlers (the filter is built
// from the same declaration). Serve takes the notifications on leader/follower worker threads
// (workers.go), each with its own file-system context so that it can take a process's root,
// cwd and credentials and act on its behalf in place. Features: UnameFeature (a container's
// hostname), FSMeta (chmod/chown/utimes/xattr/inode flags, readlink/getxattr/listxattr,
// performed on behalf of the process where the policy's path rules allow them; with
// ConnectConfig, connect(2), sendto(2), sendmsg(2) and sendmmsg(2) performed on behalf to the
// destinations the path rules and net_allow_hosts allow; with a PortMap, port_remap's bind,
// getsockname and getpeername), Files (opens of named paths answered with a sealed memfd:
// HostsFile, ProcNetFiles), ListenBound (net_bind: listen(2) on a TCP socket never bound is
// refused, the others performed on the process's socket). Every handle on a target is pinned by SECCOMP_IOCTL_NOTIF_ID_VALID (target.go); no
// handler answers CONTINUE; refusals of the policy are reported through WithAudit.
package notifsup
