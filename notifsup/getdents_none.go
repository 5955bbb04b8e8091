//go:build arm64 || riscv64 || loong64

package notifsup

// sysGetdents: these arches have only getdents64; the "getdents" handler resolves to no
// syscall there and is never called.
const sysGetdents = ^uintptr(0)
