package notifsup

import (
	"maps"
	"slices"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Feature is one thing the supervisor does for a container, as one unit: the syscalls it
// needs trapped (the filter is built from Syscalls and Ioctls, so what is trapped and what is
// handled cannot drift apart) and their handlers.
type Feature struct {
	Name string
	// Handlers by syscall name. They decode the native ABI's arguments: the same names on the
	// compat ABIs (i386) are refused with EPERM unless AllArches says the handlers are
	// ABI-neutral (uname's struct is the same everywhere).
	Handlers  map[string]Handler
	AllArches bool
	// Ioctls are handlers by ioctl request number (the low 32 bits, as the kernel reads it).
	Ioctls map[uint32]Handler
	// Start, when set, runs once in the supervisor before the first notification, on a
	// thread with the supervisor's own root (the workers may have taken a process's).
	Start func()
	// listing, when set, is what the feature changes in directory listings (linux_dirent64
	// records): SortedDirs, which then lists every directory, applies it.
	listing listingView
}

// listingView says what a feature changes in the listing of the directory open on fd (nil:
// nothing), or the refusal of the listing.
type listingView func(c *Call, t *target, fd int) (func([]byte) []byte, error)

// Syscalls are the names this feature needs trapped (ioctl excluded: see IoctlRequests).
func (f Feature) Syscalls() []string {
	return slices.Sorted(maps.Keys(f.Handlers))
}

// IoctlRequests are the ioctl request numbers this feature needs trapped.
func (f Feature) IoctlRequests() []uint64 {
	var rs []uint64
	for r := range f.Ioctls {
		rs = append(rs, uint64(r))
	}
	slices.Sort(rs)
	return rs
}

// handlers adds the ioctl dispatcher to the named handlers.
func (f Feature) handlers() map[string]Handler {
	if len(f.Ioctls) == 0 {
		return f.Handlers
	}
	hs := maps.Clone(f.Handlers)
	if hs == nil {
		hs = map[string]Handler{}
	}
	ioctls := f.Ioctls
	hs["ioctl"] = func(c *Call) seccomp.ScmpNotifResp {
		if h, ok := ioctls[uint32(c.Req.Data.Args[1])]; ok {
			return h(c)
		}
		return errnoResp(unix.EPERM) // trapped but not ours: cannot happen with a matching filter
	}
	return hs
}

// Trapped returns what the filter must send to the supervisor for these features.
func Trapped(features []Feature) (names []string, ioctls []uint64) {
	for _, f := range features {
		names = append(names, f.Syscalls()...)
		ioctls = append(ioctls, f.IoctlRequests()...)
	}
	slices.Sort(names)
	return slices.Compact(names), ioctls
}

func errnoResp(e unix.Errno) seccomp.ScmpNotifResp {
	return seccomp.ScmpNotifResp{Error: int32(e)}
}

// UnameFeature answers uname(2) with hostname as the nodename (see Uname).
func UnameFeature(hostname string) Feature {
	return Feature{Name: "hostname", AllArches: true, Handlers: map[string]Handler{"uname": Uname(hostname)}}
}
