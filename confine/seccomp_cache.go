package confine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Program returns sandlock's own filters for o (the deny list, and the deny list's syscalls
// libseccomp cannot name) compiled to seccomp BPF programs, in load order: what init loads
// before the zygote is forked, so it binds the runtime's own code too. libseccomp
// needs about 5 ms for it (three architectures, argument rules), which would be most of a
// container's start, so the program is cached in cacheDir ("" = no cache), keyed by the
// options, this binary (path, size, mtime, inode) and libseccomp's version: a new build or
// another libseccomp never reuses a stale program.
func Program(o SeccompOptions, cacheDir string) ([][]byte, error) {
	key, err := programKey(o)
	if err != nil || cacheDir == "" {
		return compilePrograms(o)
	}
	path := filepath.Join(cacheDir, key+".json")
	if b, err := os.ReadFile(path); err == nil {
		var progs [][]byte
		if json.Unmarshal(b, &progs) == nil && validPrograms(progs) {
			return progs, nil
		}
	}
	progs, err := compilePrograms(o)
	if err != nil {
		return nil, err
	}
	if b, err := json.Marshal(progs); err == nil {
		storeProgram(cacheDir, path, b)
	}
	return progs, nil
}

func validPrograms(progs [][]byte) bool {
	for _, p := range progs {
		if len(p) == 0 || len(p)%8 != 0 {
			return false
		}
	}
	return len(progs) > 0
}

func compilePrograms(o SeccompOptions) ([][]byte, error) {
	f, err := sandlockFilter(o)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	b, err := exportBPF(f)
	if err != nil {
		return nil, err
	}
	return [][]byte{b, numbersProgram(deniedSyscalls)}, nil
}

func programKey(o SeccompOptions) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	var st unix.Stat_t
	if err := unix.Stat(exe, &st); err != nil {
		return "", err
	}
	maj, min, mic := seccomp.GetLibraryVersion()
	b, err := json.Marshal(struct {
		O                SeccompOptions
		Exe              string
		Size, Mtime, Ino int64
		Maj, Min, Mic    uint
		Arch             string
	}{o, exe, st.Size, st.Mtim.Nano(), int64(st.Ino), maj, min, mic, runtime.GOARCH})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}

// storeProgram writes the cache entry atomically; a failure only costs the next start 5 ms.
func storeProgram(dir, path string, b []byte) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(dir, ".bpf-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
	}
}

// LoadPrograms installs compiled programs on the calling thread in order, the first with a
// user-notification listener (sandlock's own filter, which notifies uname), and returns the
// listener fd. The thread must have no_new_privs set.
func LoadPrograms(progs [][]byte) (int, error) {
	listener := -1
	for i, prog := range progs {
		flags := uintptr(0)
		if i == 0 {
			// WAIT_KILLABLE_RECV: once the supervisor has taken a notification, only a fatal
			// signal interrupts the waiting thread. Without it a signal (a shell pipeline's
			// SIGCHLD) makes the syscall restart as a new notification while the supervisor
			// is still performing the first one on its behalf: EINTR storms, work done twice.
			flags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
		}
		fd, err := loadProgram(prog, flags)
		if err != nil {
			if listener >= 0 {
				unix.Close(listener)
			}
			return -1, err
		}
		if i == 0 {
			listener = fd
		}
	}
	return listener, nil
}

func loadProgram(prog []byte, flags uintptr) (int, error) {
	if len(prog) == 0 || len(prog)%8 != 0 || len(prog)/8 > 4096 {
		return -1, fmt.Errorf("seccomp: bad program of %d bytes", len(prog))
	}
	insns := make([]unix.SockFilter, len(prog)/8)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&insns[0])), len(prog)), prog)
	fprog := unix.SockFprog{Len: uint16(len(insns)), Filter: &insns[0]}
	fd, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		flags, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(insns)
	if errno != 0 {
		return -1, fmt.Errorf("seccomp: load filter: %w", errno)
	}
	return int(fd), nil
}
