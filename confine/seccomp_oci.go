package confine

import (
	"fmt"
	"io"
	"os"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// ExecFilters compiles what confines the user's programs and not the runtime: the policy's
// syscall list (deny_syscalls / allow_syscalls), then the OCI linux.seccomp profile. Compiled
// once at create (libseccomp); the drop-and-exec step loads them right before execve, for init
// and for every exec'd process (ProcessImage.Filters). A profile written for workloads knows
// nothing of the zygote's loop or init's last steps, and an allow list must not starve the
// runtime's own code: neither ever applies to it.
func ExecFilters(oci *specs.LinuxSeccomp, o SeccompOptions) ([]Filter, error) {
	var out []Filter
	pf, err := policyFilter(o)
	if err != nil {
		return nil, err
	}
	if pf != nil {
		insns, err := exportBPF(pf)
		pf.Release()
		if err != nil {
			return nil, fmt.Errorf("seccomp: compile the syscall list: %w", err)
		}
		out = append(out, Filter{Insns: insns})
	}
	if oci == nil {
		return out, nil
	}
	f, err := ociFilter(oci)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	insns, err := exportBPF(f)
	if err != nil {
		return nil, fmt.Errorf("seccomp: compile the profile: %w", err)
	}
	return append(out, Filter{Insns: insns,
		Log:       slices.Contains(oci.Flags, specs.LinuxSeccompFlagLog),
		SpecAllow: slices.Contains(oci.Flags, specs.LinuxSeccompFlagSpecAllow),
	}), nil
}

// exportBPF returns the filter's program. libseccomp 2.5 (Debian 12) can only export to an fd
// (seccomp_export_bpf_mem is 2.6), so it goes through a memfd.
func exportBPF(f *seccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("sandlock-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	mf := os.NewFile(uintptr(fd), "sandlock-seccomp")
	defer mf.Close()
	if err := f.ExportBPF(mf); err != nil {
		return nil, err
	}
	if _, err := mf.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(mf)
}
