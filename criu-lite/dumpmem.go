package criulite

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// captureMemory saves the mappings of p and the pages the file cannot give back.
func (d *dumper) captureMemory(p *Process) error {
	maps, err := readMaps(p.Pid)
	if err != nil {
		return err
	}
	m, err := openMem(p.Pid, false)
	if err != nil {
		return err
	}
	defer m.close()
	pm, err := os.Open(procPath(p.Pid, "pagemap"))
	if err != nil {
		return err
	}
	defer pm.Close()
	for _, mp := range maps {
		if mp.special() {
			if mp.path != "[vsyscall]" {
				p.Specials = append(p.Specials, Special{Name: mp.path, Start: mp.start, End: mp.end})
			}
			continue
		}
		v, err := d.captureVMA(p, mp, m, pm)
		if err != nil {
			return fmt.Errorf("process %d (%s): mapping %#x-%#x %s: %w", p.Pid, p.Comm, mp.start, mp.end, mp.path, err)
		}
		p.VMAs = append(p.VMAs, *v)
	}
	return nil
}

func (d *dumper) captureVMA(p *Process, mp mapping, m *mem, pm *os.File) (*VMA, error) {
	v := &VMA{Start: mp.start, End: mp.end, Prot: mp.prot(), Shared: mp.shared(), Stack: mp.path == "[stack]"}
	deleted := strings.HasSuffix(mp.path, " (deleted)")
	anon := mp.anon()
	if v.Shared {
		if mp.path == "/dev/zero (deleted)" || (anon && mp.inode != 0) {
			return v, d.shmVMA(v, mp, m)
		}
		if anon || deleted || strings.HasPrefix(mp.path, "/SYSV") {
			return nil, fmt.Errorf("shared memory of a deleted file, memfd or SysV segment (%s) cannot be checkpointed", describe(mp))
		}
		return v, d.fileVMA(p.Pid, v, mp)
	}
	if !anon && !deleted {
		if err := d.fileVMA(p.Pid, v, mp); err != nil {
			return nil, err
		}
	}
	var whole bool
	if deleted {
		whole = true // the file is gone: every page comes from the image
	}
	flags, err := pageFlags(pm, mp)
	if err != nil {
		return nil, err
	}
	n := len(flags)
	for i := 0; i < n; {
		if !whole && !dirtyPage(flags[i], anon) {
			i++
			continue
		}
		j := i
		for j < n && (whole || dirtyPage(flags[j], anon)) {
			j++
		}
		addr := mp.start + uint64(i)*pageSize
		buf := make([]byte, (j-i)*pageSize)
		if err := m.read(addr, buf); err != nil {
			return nil, err
		}
		v.Pages = append(v.Pages, d.img.addBlob(addr, buf))
		i = j
	}
	return v, nil
}

func describe(mp mapping) string {
	if mp.path == "" {
		return "anonymous"
	}
	return mp.path
}

// fileVMA records the container path of a file mapping and the file's identity.
func (d *dumper) fileVMA(pid int, v *VMA, mp mapping) error {
	cp, ok := inRoot(d.o.Root, mp.path)
	if !ok {
		return fmt.Errorf("the file %s is outside the container's root", mp.path)
	}
	// the mapped file itself, through map_files: never a path the container could have
	// pointed elsewhere (a symlink renamed over it) since it mapped the file
	f, err := os.Open(fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, mp.start, mp.end))
	if err != nil {
		return err
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Ino != mp.inode {
		return fmt.Errorf("the file %s was replaced while mapped", mp.path)
	}
	key := fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	sum, ok := d.hashes[key]
	if !ok {
		if sum, err = sha256Of(f); err != nil {
			return err
		}
		d.hashes[key] = sum
	}
	v.Path, v.Offset, v.Size, v.SHA256 = cp, mp.offset, st.Size, sum
	return nil
}

// fileHashes caches the SHA-256 of the files mapped (a program and its libraries are mapped
// several times, in several processes).
type fileHashes map[string]string

// sha256Of is the hex SHA-256 of what r reads.
func sha256Of(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// shmVMA records a mapping of shared anonymous memory: the object is known by its inode
// (the same in every process that shares it) and its pages are saved once per page.
func (d *dumper) shmVMA(v *VMA, mp mapping, m *mem) error {
	var sh *Shm
	for i := range d.img.Shms {
		if d.shmIno[d.img.Shms[i].ID] == mp.inode {
			sh = &d.img.Shms[i]
		}
	}
	if sh == nil {
		d.img.Shms = append(d.img.Shms, Shm{ID: len(d.img.Shms) + 1})
		sh = &d.img.Shms[len(d.img.Shms)-1]
		d.shmIno[sh.ID] = mp.inode
	}
	v.Shm = sh.ID
	v.Offset = mp.offset
	sh.Size = max(sh.Size, mp.offset+mp.end-mp.start)
	for _, b := range sh.Pages {
		if b.Addr == mp.offset && b.Len == int64(mp.end-mp.start) {
			return nil // this range is saved (another process maps the same pages)
		}
	}
	buf := make([]byte, mp.end-mp.start)
	if err := m.read(mp.start, buf); err != nil {
		return err
	}
	sh.Pages = append(sh.Pages, d.img.addBlob(mp.offset, buf))
	return nil
}
