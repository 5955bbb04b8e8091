package notifsup

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// deterministic_dirs: every listing is made by the supervisor, sorted.
//
// A listing starts at position 0 (the open, rewinddir): the supervisor reads the whole
// directory through the process's own open file, applies the other features' views (the /proc
// filter of isolate_pids, num_cpus' CPU directory), sorts the entries by name (bytewise) and
// keeps that snapshot. The entries are then served from it, as many as the buffer holds, and
// the open file's position (shared by every copy of it) is set to a cookie naming the snapshot
// and the next entry: d_off of each entry is the cookie of the one after it, so telldir and
// seekdir work, and the next call goes on where the last one stopped.
//
// A cookie is listing<<cookieIdxBits | index, below 2^31 (an i386 telldir keeps 32 bits),
// listing counting 1..maxListing and wrapping. The snapshots are kept for the last
// maxSnapshots listings (and at most maxSnapshotBytes); a position from a listing no longer
// kept (or of another directory) resumes at the same index of a fresh snapshot.
const (
	cookieIdxBits    = 20
	maxSortedEntries = 1<<cookieIdxBits - 1
	maxListing       = 1<<(31-cookieIdxBits) - 1
	maxSnapshots     = 256
	maxSnapshotBytes = 64 << 20
	// maxListingBytes bounds one snapshot (its names, plus dentBytes an entry) while it is
	// read: a directory of long names the process made would otherwise hold hundreds of MiB
	// of the supervisor's memory (which no limit of the sandbox counts) per listing.
	maxListingBytes = 16 << 20
	// maxBuilds bounds the listings read at once: with maxListingBytes, what all of them
	// hold together, whatever the number of the process's threads.
	maxBuilds = 4
	dentBytes = 32 // a dent: ino, typ and the name's header
)

// dent is one directory entry of a snapshot.
type dent struct {
	ino  uint64
	typ  uint8
	name string
}

type dirSnapshot struct {
	dir    rootKey
	reader string // the credentials it was read with (readerOf)
	ents   []dent
	bytes  int
}

// sortedDirs is the feature behind SortedDirs.
type sortedDirs struct {
	views  []listingView
	builds chan struct{} // a slot per listing being read (maxBuilds)
	mu     sync.Mutex
	snaps  map[uint32]*dirSnapshot
	order  []uint32 // listings kept, oldest first
	bytes  int
	next   uint32
}

// SortedDirs (deterministic_dirs) lists every directory for the process, sorted by name,
// applying what the other features change in listings (declare it before them: it answers
// every getdents, so theirs are never asked), on every ABI: getdents64 has one layout
// everywhere, the old getdents the native one or the 32-bit compat one (i386, arm, s390).
func SortedDirs(others []Feature) Feature {
	s := &sortedDirs{snaps: map[uint32]*dirSnapshot{}, builds: make(chan struct{}, maxBuilds)}
	for _, f := range others {
		if f.listing != nil {
			s.views = append(s.views, f.listing)
		}
	}
	return Feature{Name: "sorted-dirs", AllArches: true, Handlers: map[string]Handler{
		"getdents64": pinned(true, s.handler(layout64)),
		"getdents":   pinned(true, s.handler(layoutOld)),
	}}
}

// direntLayout is a record layout of the getdents syscalls.
type direntLayout int

const (
	layout64     direntLayout = iota // linux_dirent64, every ABI
	layoutOld                        // linux_dirent: unsigned long d_ino, d_off
	layoutCompat                     // compat_linux_dirent: u32 d_ino, d_off
)

// compat32 are the ABIs whose old getdents has 32-bit fields.
var compat32 = map[seccomp.ScmpArch]bool{seccomp.ArchX86: true, seccomp.ArchARM: true, seccomp.ArchS390: true}

// handler performs the listing on behalf of the process, on its own open file (pidfd_getfd):
// never CONTINUE, since the fd number is the process's to change between a check and the
// kernel's call.
func (s *sortedDirs) handler(layout direntLayout) func(c *Call, t *target) seccomp.ScmpNotifResp {
	return func(c *Call, t *target) seccomp.ScmpNotifResp {
		a := c.Req.Data.Args
		layout := layout
		if layout == layoutOld && compat32[c.Req.Data.Arch] {
			layout = layoutCompat
		}
		fd, err := t.fd(int(int32(a[0])))
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		defer unix.Close(fd)
		var edits []func([]byte) []byte
		for _, v := range s.views {
			edit, err := v(c, t, fd)
			if err != nil {
				c.report("getdents", err)
				return errnoResp(errnoOf(err))
			}
			if edit != nil {
				edits = append(edits, edit)
			}
		}
		// With the process's credentials: some listings are checked by the kernel at each
		// read, against the reader (/proc/PID/map_files asks ptrace access, the /proc root
		// hides the pids hidepid= hides from it), and the supervisor's would list them all.
		var out listed
		_, err = c.w.inView(t, noCwd, func() (uint64, error) {
			var err error
			out, err = s.list(fd, int(uint32(a[2])), layout, edits, readerOf(t.creds))
			return 0, err
		})
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		if err := t.writeBytes(a[1], out.data); err != nil {
			_, _ = unix.Seek(fd, out.from, unix.SEEK_SET) // nothing was read
			return errnoResp(unix.EFAULT)
		}
		if out.next >= 0 {
			if _, err := unix.Seek(fd, out.next, unix.SEEK_SET); err != nil {
				return errnoResp(errnoOf(err))
			}
		}
		return seccomp.ScmpNotifResp{Val: uint64(len(out.data))}
	}
}

// listed is one answer: the records, the position after them (-1: unchanged) and the one
// before.
type listed struct {
	data       []byte
	next, from int64
}

// list makes the answer to a listing of fd into a buffer of count bytes.
func (s *sortedDirs) list(fd, count int, layout direntLayout, edits []func([]byte) []byte, reader string) (listed, error) {
	var st unix.Stat_t
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_PATH != 0 {
		return listed{next: -1}, unix.EBADF // an O_PATH file, as getdents says
	}
	if err := unix.Fstat(fd, &st); err != nil {
		return listed{next: -1}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return listed{next: -1}, unix.ENOTDIR
	}
	pos, err := unix.Seek(fd, 0, unix.SEEK_CUR)
	if err != nil {
		return listed{next: -1}, err
	}
	if pos < 0 || pos > 1<<31-1 {
		return listed{next: -1}, nil // not a position a listing gave: the end
	}
	dir := rootKey{dev: st.Dev, ino: st.Ino}
	id, idx := uint32(pos>>cookieIdxBits), int(pos&maxSortedEntries)
	snap := s.snapshot(id, dir, reader)
	if pos == 0 || snap == nil {
		s.builds <- struct{}{}
		ents, err := readSorted(fd, edits)
		<-s.builds
		if err != nil {
			_, _ = unix.Seek(fd, pos, unix.SEEK_SET)
			return listed{next: -1}, err
		}
		id, snap = s.keep(dir, reader, ents)
	}
	out, err := pack(snap.ents, id, idx, count, layout)
	out.from = pos
	if err != nil || out.next < 0 {
		_, _ = unix.Seek(fd, pos, unix.SEEK_SET) // the snapshot's read moved it
	}
	return out, err
}

// pack serves the entries from index idx that fit in count bytes.
func pack(ents []dent, id uint32, idx, count int, layout direntLayout) (listed, error) {
	if idx >= len(ents) {
		return listed{next: cookie(id, len(ents))}, nil
	}
	var out []byte
	i := idx
	for ; i < len(ents); i++ {
		rec := encodeDirent(ents[i], cookie(id, i+1), layout)
		if rec == nil {
			return listed{next: -1}, unix.EOVERFLOW // an inode number past 32 bits, as the kernel says
		}
		if len(out)+len(rec) > count {
			break
		}
		out = append(out, rec...)
	}
	if i == idx {
		return listed{next: -1}, unix.EINVAL // no room for one entry, as the kernel says
	}
	return listed{data: out, next: cookie(id, i)}, nil
}

func cookie(id uint32, idx int) int64 { return int64(id)<<cookieIdxBits | int64(idx) }

// encodeDirent is e as a record of layout with off as d_off (nil: its inode number does not
// fit). The old layouts have the type in the record's last byte.
func encodeDirent(e dent, off int64, layout direntLayout) []byte {
	switch layout {
	case layout64:
		r := make([]byte, (19+len(e.name)+1+7)&^7)
		binary.NativeEndian.PutUint64(r[0:], e.ino)
		binary.NativeEndian.PutUint64(r[8:], uint64(off))
		binary.NativeEndian.PutUint16(r[16:], uint16(len(r)))
		r[18] = e.typ
		copy(r[19:], e.name)
		return r
	case layoutCompat:
		if e.ino > 1<<32-1 {
			return nil
		}
		r := make([]byte, (10+len(e.name)+2+3)&^3)
		binary.NativeEndian.PutUint32(r[0:], uint32(e.ino))
		binary.NativeEndian.PutUint32(r[4:], uint32(off))
		binary.NativeEndian.PutUint16(r[8:], uint16(len(r)))
		copy(r[10:], e.name)
		r[len(r)-1] = e.typ
		return r
	}
	r := make([]byte, (18+len(e.name)+2+7)&^7)
	binary.NativeEndian.PutUint64(r[0:], e.ino)
	binary.NativeEndian.PutUint64(r[8:], uint64(off))
	binary.NativeEndian.PutUint16(r[16:], uint16(len(r)))
	copy(r[18:], e.name)
	r[len(r)-1] = e.typ
	return r
}

// readSorted reads the whole directory open on fd from its start, with the views' edits, and
// sorts it by name.
func readSorted(fd int, edits []func([]byte) []byte) ([]dent, error) {
	if _, err := unix.Seek(fd, 0, unix.SEEK_SET); err != nil {
		return nil, err
	}
	var ents []dent
	size := 0
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		b := buf[:n]
		for _, edit := range edits {
			b = edit(b)
		}
		eachDirent(b, 19, func(rec []byte, name string) {
			ents = append(ents, dent{ino: binary.NativeEndian.Uint64(rec), typ: rec[18], name: name})
			size += len(name) + dentBytes
		})
		if len(ents) > maxSortedEntries || size > maxListingBytes {
			return nil, unix.ENOMEM // more than a snapshot holds: see docs/policy.md
		}
	}
	slices.SortFunc(ents, func(x, y dent) int { return strings.Compare(x.name, y.name) })
	return ents, nil
}

// snapshot is listing id's snapshot when it is of dir and was read with reader's credentials:
// procfs decides some listings at each read by the reader's (map_files, hidepid=), and a
// position is only a number, which a process with fewer rights can seek to.
func (s *sortedDirs) snapshot(id uint32, dir rootKey, reader string) *dirSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if snap := s.snaps[id]; snap != nil && snap.dir == dir && snap.reader == reader {
		return snap
	}
	return nil
}

// keep stores a new snapshot under the next listing number, dropping the oldest ones past the
// bounds.
func (s *sortedDirs) keep(dir rootKey, reader string, ents []dent) (uint32, *dirSnapshot) {
	snap := &dirSnapshot{dir: dir, reader: reader, ents: ents}
	for _, e := range ents {
		snap.bytes += len(e.name) + dentBytes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = s.next%maxListing + 1
	id := s.next
	s.drop(id)
	for len(s.order) > 0 && (len(s.order) >= maxSnapshots || s.bytes+snap.bytes > maxSnapshotBytes) {
		s.drop(s.order[0])
	}
	s.snaps[id], s.order, s.bytes = snap, append(s.order, id), s.bytes+snap.bytes
	return id, snap
}

func (s *sortedDirs) drop(id uint32) {
	if old := s.snaps[id]; old != nil {
		s.bytes -= old.bytes
		delete(s.snaps, id)
		s.order = slices.DeleteFunc(s.order, func(x uint32) bool { return x == id })
	}
}

// readerOf names the credentials a listing is read with (inView takes them all).
func readerOf(c creds) string {
	return fmt.Sprint(c.ruid, c.euid, c.suid, c.fsuid, c.rgid, c.egid, c.sgid, c.fsgid, c.groups, c.capEff)
}
