//go:build !arm64 && !riscv64 && !loong64

package notifsup

import "golang.org/x/sys/unix"

// sysGetdents is the old getdents(2) (struct linux_dirent), which the newer arches lack.
const sysGetdents = unix.SYS_GETDENTS
