package confine

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	seccomp "github.com/seccomp/libseccomp-golang"
)

// BuildFilters returns all of a container's filters as libseccomp filters, so tests can load
// them in one process and check their answers: sandlock's own filter, then the OCI profile
// (omitted when nil), then the policy's syscall list (omitted when neither list is set). The
// runtime itself loads the first as compiled programs in init (Program, LoadPrograms) and the
// others right before execve (ExecFilters, ProcessImage.Filters), in the same order.
func BuildFilters(oci *specs.LinuxSeccomp, o SeccompOptions) ([]*seccomp.ScmpFilter, error) {
	own, err := sandlockFilter(o)
	if err != nil {
		return nil, err
	}
	fs := []*seccomp.ScmpFilter{own}
	build := []func() (*seccomp.ScmpFilter, error){
		func() (*seccomp.ScmpFilter, error) { return ociFilter(oci) },
		func() (*seccomp.ScmpFilter, error) { return policyFilter(o) },
	}
	for _, b := range build {
		f, err := b()
		if err != nil {
			releaseAll(fs)
			return nil, err
		}
		if f != nil {
			fs = append(fs, f)
		}
	}
	return fs, nil
}

func releaseAll(fs []*seccomp.ScmpFilter) {
	for _, f := range fs {
		f.Release()
	}
}

// LoadFilters loads the filters on the calling thread only (no TSYNC) and returns the
// user-notification listener fd, or -1 when no filter notifies. The thread must have
// no_new_privs set or hold CAP_SYS_ADMIN.
func LoadFilters(fs []*seccomp.ScmpFilter) (listener int, err error) {
	for i, f := range fs {
		if err := f.Load(); err != nil {
			return -1, fmt.Errorf("load seccomp filter %d: %w", i, err)
		}
	}
	if len(fs) == 0 {
		return -1, nil
	}
	// libseccomp keeps the listener of the (only) notifying filter in process-wide state.
	fd, err := fs[0].GetNotifFd()
	if err != nil || fd < 0 {
		return -1, nil
	}
	return int(fd), nil
}
