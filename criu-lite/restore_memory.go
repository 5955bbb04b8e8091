package criulite

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// prepareRoot maps the scratch pages in the fresh process and stages every saved object
// there, at fds above all the saved ones, for the children to inherit.
func (r *restorer) prepareRoot(p *rproc) error {
	t := p.t
	regs, err := getRegs(t.tid)
	if err != nil {
		return err
	}
	t.base = regs
	if p.mem, err = openMem(t.tid, true); err != nil {
		return err
	}
	if err := r.checkXstate(t.tid); err != nil {
		return err
	}
	maps, err := readMaps(t.tid)
	if err != nil {
		return err
	}
	if t.sys, err = findSyscall(p.mem, maps); err != nil {
		return err
	}
	r.scratch = r.findHole(maps, scratchPages*pageSize)
	if r.scratch == 0 {
		return errors.New("no room for the restorer's scratch pages")
	}
	if _, err := t.call("mmap(scratch)", unix.SYS_MMAP, r.scratch, pageSize, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0); err != nil {
		return err
	}
	if _, err := t.call("mmap(scratch)", unix.SYS_MMAP, r.data(), (scratchPages-1)*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0); err != nil {
		return err
	}
	if err := p.mem.write(r.scratch, []byte{0x0f, 0x05}); err != nil {
		return err
	}
	t.sys = r.scratch
	r.all = append(r.all, t)
	p.threads = []*thread{t}
	if err := r.stageShms(p, maps); err != nil {
		return err
	}
	return r.stageObjects(p)
}

func (r *restorer) checkXstate(tid int) error {
	xs, err := getXstate(tid)
	if err != nil {
		return err
	}
	if len(xs) != r.img.XstateSize {
		return fmt.Errorf("the image's FPU state is %d bytes, this CPU's is %d: restore on a machine with the same CPU features", r.img.XstateSize, len(xs))
	}
	return nil
}

// findHole finds an address range free in the fresh process and in every saved process.
func (r *restorer) findHole(cur []mapping, size uint64) uint64 {
	busy := func(a uint64) bool {
		e := a + size
		for _, m := range cur {
			if a < m.end && m.start < e {
				return true
			}
		}
		if a < r.scratch+scratchPages*pageSize && r.scratch < e && r.scratch != 0 {
			return true
		}
		for _, s := range r.reserved {
			if a < s[1] && s[0] < e {
				return true
			}
		}
		for _, p := range r.img.Processes {
			for _, v := range p.VMAs {
				if a < v.End && v.Start < e {
					return true
				}
			}
			for _, s := range p.Specials {
				if a < s.End && s.Start < e {
					return true
				}
			}
		}
		return false
	}
	for a := uint64(0x200000000); a < 0x7f0000000000; a += 0x40000000 {
		if !busy(a) {
			return a
		}
	}
	return 0
}

// stageShms makes every shared anonymous memory object in the root, at an address free
// everywhere, with its saved contents: the forked processes inherit it (shared), and each
// maps its saved ranges of it in place (mremap with old size 0 maps the same pages again).
func (r *restorer) stageShms(p *rproc, maps []mapping) error {
	r.shmAt = map[int]uint64{}
	for _, sh := range r.img.Shms {
		size := (sh.Size + pageSize - 1) &^ (pageSize - 1)
		a := r.findHole(maps, size)
		if a == 0 {
			return errors.New("no room to stage shared memory")
		}
		if _, err := p.t.call("mmap(shared)", unix.SYS_MMAP, a, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0); err != nil {
			return err
		}
		r.shmAt[sh.ID] = a
		r.reserved = append(r.reserved, [2]uint64{a, a + size})
		for _, b := range sh.Pages {
			data, err := r.img.blob(b)
			if err != nil {
				return err
			}
			if b.Addr+uint64(len(data)) > size {
				return errors.New("checkpoint image: shared memory pages outside the object")
			}
			if err := p.mem.write(a+b.Addr, data); err != nil {
				return err
			}
		}
	}
	return nil
}

// staged says whether [start, end) is the scratch pages or a staged shared memory object.
func (r *restorer) staged(start, end uint64) bool {
	if start >= r.scratch && end <= r.scratch+scratchPages*pageSize {
		return true
	}
	for _, s := range r.reserved {
		if start >= s[0] && end <= s[1] {
			return true
		}
	}
	return false
}

// putString writes a NUL-terminated string in the scratch data pages.
func (r *restorer) putString(p *rproc, s string) (uint64, error) {
	if len(s) >= 8*pageSize {
		return 0, fmt.Errorf("path too long: %q", s)
	}
	a := r.data() + 8*pageSize
	return a, p.mem.write(a, append([]byte(s), 0))
}

// restoreMemory replaces the fresh program's memory with the saved mappings.
func (r *restorer) restoreMemory(p *rproc) error {
	maps, err := readMaps(p.t.tid)
	if err != nil {
		return err
	}
	var specials []mapping
	for _, m := range maps {
		switch {
		case r.staged(m.start, m.end):
		case m.special():
			if m.path != "[vsyscall]" {
				specials = append(specials, m)
			}
		default:
			if _, err := p.t.call("munmap", unix.SYS_MUNMAP, m.start, m.end-m.start); err != nil {
				return err
			}
		}
	}
	if err := r.moveSpecials(p, specials); err != nil {
		return err
	}
	for _, v := range p.saved.VMAs {
		if err := r.mapVMA(p, v); err != nil {
			return fmt.Errorf("mapping %#x-%#x %s: %w", v.Start, v.End, v.Path, err)
		}
	}
	return nil
}

// moveSpecials moves the fresh process's vdso and vvar to the saved addresses: the saved
// program's libc keeps pointers into its vdso.
func (r *restorer) moveSpecials(p *rproc, cur []mapping) error {
	saved := map[string]Special{}
	for _, s := range p.saved.Specials {
		saved[s.Name] = s
	}
	for _, m := range cur {
		s, ok := saved[m.path]
		if !ok {
			continue // the saved process had none: it never calls into it
		}
		if s.End-s.Start != m.end-m.start {
			return fmt.Errorf("the kernel's %s is %d bytes here and was %d: restore on the same kernel", m.path, m.end-m.start, s.End-s.Start)
		}
	}
	// two moves, through addresses free everywhere, since a saved place may be a current one
	tmp := r.scratch + 0x10000000
	for i, m := range cur {
		to := tmp + uint64(i)*0x100000
		if _, err := p.t.call("mremap("+m.path+")", unix.SYS_MREMAP, m.start, m.end-m.start, m.end-m.start, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, to); err != nil {
			return err
		}
		cur[i].end, cur[i].start = to+m.end-m.start, to
	}
	for _, m := range cur {
		s, ok := saved[m.path]
		if !ok {
			if _, err := p.t.call("munmap", unix.SYS_MUNMAP, m.start, m.end-m.start); err != nil {
				return err
			}
			continue
		}
		if _, err := p.t.call("mremap("+m.path+")", unix.SYS_MREMAP, m.start, m.end-m.start, m.end-m.start, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, s.Start); err != nil {
			return err
		}
	}
	// The first arch_prctl of a program image, made for the fresh program, which stopped at
	// its exec before making one: a supervisor that rewrites each image's vDSO there (the
	// time_start feature, notifsup/vdso_amd64.go) rewrites this one, now at the saved address.
	// ARCH_GET_FS changes nothing (the thread's registers are restored later anyway).
	_, err := p.t.call("arch_prctl(ARCH_GET_FS)", unix.SYS_ARCH_PRCTL, archGetFS, r.data())
	return err
}

func (r *restorer) mapVMA(p *rproc, v VMA) error {
	t := p.t
	mapProt := v.Prot
	if len(v.Pages) > 0 {
		mapProt |= unix.PROT_READ | unix.PROT_WRITE
	}
	length := v.End - v.Start
	if v.Shm != 0 {
		return r.mapShm(p, v)
	}
	if v.Path == "" {
		flags := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED
		if v.Stack {
			flags |= unix.MAP_GROWSDOWN
		}
		if _, err := t.call("mmap", unix.SYS_MMAP, v.Start, length, uint64(mapProt), uint64(flags), ^uint64(0), 0); err != nil {
			return err
		}
	} else {
		if err := r.mapFile(p, v, mapProt); err != nil {
			return err
		}
	}
	for _, b := range v.Pages {
		data, err := r.img.blob(b)
		if err != nil {
			return err
		}
		if err := p.mem.write(b.Addr, data); err != nil {
			return err
		}
	}
	if mapProt != v.Prot {
		if _, err := t.call("mprotect", unix.SYS_MPROTECT, v.Start, length, uint64(v.Prot)); err != nil {
			return err
		}
	}
	return nil
}

// mapShm maps a saved range of a staged shared memory object in place.
func (r *restorer) mapShm(p *rproc, v VMA) error {
	at, ok := r.shmAt[v.Shm]
	if !ok {
		return fmt.Errorf("checkpoint image: a mapping names shared memory object %d, which it does not hold", v.Shm)
	}
	length := v.End - v.Start
	if _, err := p.t.call("mremap(shared)", unix.SYS_MREMAP, at+v.Offset, 0, length, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, v.Start); err != nil {
		return err
	}
	if v.Prot != unix.PROT_READ|unix.PROT_WRITE {
		if _, err := p.t.call("mprotect", unix.SYS_MPROTECT, v.Start, length, uint64(v.Prot)); err != nil {
			return err
		}
	}
	return nil
}

// mapFile maps a file opened inside the container (under its Landlock rules), after
// checking that it is the file that was mapped.
func (r *restorer) mapFile(p *rproc, v VMA, prot int) error {
	t := p.t
	a, err := r.putString(p, v.Path)
	if err != nil {
		return err
	}
	oflags := unix.O_RDONLY
	if v.Shared && v.Prot&unix.PROT_WRITE != 0 {
		oflags = unix.O_RDWR
	}
	// O_NONBLOCK: a FIFO named by the image must not hold the process (and the restore) in open
	fd, err := t.call("openat("+v.Path+")", unix.SYS_OPENAT, atFdcwd, a, uint64(oflags|unix.O_CLOEXEC|unix.O_NONBLOCK), 0)
	if err != nil {
		return err
	}
	defer func() { _, _ = t.inject(unix.SYS_CLOSE, fd) }()
	if err := r.verify(t.tid, int(fd), v); err != nil {
		return err
	}
	flags := unix.MAP_PRIVATE | unix.MAP_FIXED
	if v.Shared {
		flags = unix.MAP_SHARED | unix.MAP_FIXED
	}
	_, err = t.call("mmap", unix.SYS_MMAP, v.Start, v.End-v.Start, uint64(prot), uint64(flags), fd, v.Offset)
	return err
}

// verify checks that the file open at fd is the one the checkpoint mapped (contents hashed
// once per path). Only a regular file is read: an image naming a device (/dev/zero) or a pipe
// would otherwise keep the hash reading for ever.
func (r *restorer) verify(pid, fd int, v VMA) error {
	p := procPath(pid, "fd/"+strconv.Itoa(fd))
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("the file %s is not the one the checkpoint mapped (not a regular file)", v.Path)
	}
	if sum, ok := r.hashes[v.Path]; ok && sum == v.SHA256 {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	sum, err := sha256Of(f)
	if err != nil {
		return err
	}
	if sum != v.SHA256 {
		return fmt.Errorf("the file %s is not the one the checkpoint mapped (its contents differ)", v.Path)
	}
	r.hashes[v.Path] = sum
	return nil
}

// archGetFS is ARCH_GET_FS (asm/prctl.h), which x/sys/unix does not define.
const archGetFS = 0x1003
