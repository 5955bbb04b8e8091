// Package lifecycle implements the OCI lifecycle of sandlock-runtime containers: the state
// directory, the state machine, one file per verb (create, start, kill, delete, exec, pause,
// resume, ps, state, list), the init and supervisor processes, rootfs mounts, cgroup tracking,
// console handling and hooks. See docs/design.md for the process picture.
package lifecycle
