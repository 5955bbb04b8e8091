package openat2

import "golang.org/x/sys/unix"

// Open is unix.Openat2, retried on EAGAIN and EINTR. A lookup confined to a tree
// (RESOLVE_BENEATH, RESOLVE_IN_ROOT) fails with EAGAIN when a rename or a mount anywhere on
// the host races its ".." steps: the kernel's way of saying "try again", which a busy host
// (containers starting, mounts coming and going) says often enough to fail a sandbox's open
// now and then. RESOLVE_CACHED's EAGAIN ("not in the cache") is the caller's to handle: the
// runtime never passes that flag.
func Open(dirfd int, path string, how *unix.OpenHow) (int, error) {
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, path, how)
		if (err != unix.EAGAIN && err != unix.EINTR) || i == 100 {
			return fd, err
		}
	}
}
