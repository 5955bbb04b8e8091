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

// OCIProgram is the OCI linux.seccomp profile compiled to a seccomp BPF program, ready for
// ProcessImage.Filter.
type OCIProgram struct {
	Insns []byte
	Flags FilterFlags
}

// CompileOCI compiles the OCI profile once (libseccomp), at create. The program is loaded by
// the drop-and-exec step right before execve (ProcessImage.Filter), for init and for every
// exec'd process: the profile confines the user's programs, as runc's does, and never the
// runtime's own code (the zygote's loop, init's last steps), which a profile written for
// workloads knows nothing about. nil when the config has no profile.
func CompileOCI(p *specs.LinuxSeccomp) (*OCIProgram, error) {
	if p == nil {
		return nil, nil
	}
	f, err := ociFilter(p)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	insns, err := exportBPF(f)
	if err != nil {
		return nil, fmt.Errorf("seccomp: compile the profile: %w", err)
	}
	return &OCIProgram{Insns: insns, Flags: FilterFlags{
		Log:       slices.Contains(p.Flags, specs.LinuxSeccompFlagLog),
		SpecAllow: slices.Contains(p.Flags, specs.LinuxSeccompFlagSpecAllow),
	}}, nil
}

// Apply puts the program into the image (nil-safe).
func (o *OCIProgram) Apply(img *ProcessImage) {
	if o == nil {
		return
	}
	img.Filter, img.FilterFlags = o.Insns, o.Flags
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
