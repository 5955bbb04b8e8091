package notifsup

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPackCookies: a listing served in small buffers gives every entry once, in order, each
// d_off the cookie of the next entry; a buffer too small for one is EINVAL; the end is empty.
func TestPackCookies(t *testing.T) {
	ents := []dent{{1, unix.DT_DIR, "."}, {2, unix.DT_DIR, ".."}, {3, unix.DT_REG, "a"}, {4, unix.DT_REG, "bb"}}
	for _, layout := range []direntLayout{layout64, layoutOld} {
		var names []string
		for idx := 0; ; {
			out, err := pack(ents, 7, idx, 30, layout)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.data) == 0 {
				break
			}
			nameOff := 18
			if layout == layout64 {
				nameOff = 19
			}
			eachDirent(out.data, nameOff, func(rec []byte, name string) {
				names = append(names, name)
				idx++
				if off := int64(rec[8]) | int64(rec[9])<<8 | int64(rec[10])<<16 | int64(rec[11])<<24; off != cookie(7, idx) {
					t.Errorf("%s: d_off %#x, want %#x", name, off, cookie(7, idx))
				}
			})
			if out.next != cookie(7, idx) {
				t.Errorf("position after %v: %#x, want %#x", names, out.next, cookie(7, idx))
			}
		}
		if want := []string{".", "..", "a", "bb"}; !slices.Equal(names, want) {
			t.Errorf("layout %d: got %v, want %v", layout, names, want)
		}
	}
	if _, err := pack(ents, 1, 0, 20, layout64); err != unix.EINVAL {
		t.Errorf("a buffer of 20 bytes: got %v, want EINVAL", err)
	}
	// compat_linux_dirent: u32 d_ino, u32 d_off, u16 d_reclen, the name, the type last.
	if r := encodeDirent(dent{ino: 5, typ: unix.DT_REG, name: "ab"}, 9, layoutCompat); len(r) != 16 || r[0] != 5 || r[4] != 9 || r[8] != 16 || string(r[10:12]) != "ab" || r[12] != 0 || r[15] != unix.DT_REG {
		t.Errorf("compat record %v", r)
	}
	if encodeDirent(dent{ino: 1 << 32, name: "x"}, 1, layoutCompat) != nil {
		t.Errorf("an inode past 32 bits encoded in a compat record")
	}
	if cookie(maxListing, maxSortedEntries) > 1<<31-1 {
		t.Errorf("cookies exceed 31 bits")
	}
}

// TestSnapshotsBounded: the snapshots kept are bounded, the oldest dropped first, and a
// snapshot is found only for its own directory, read with the same credentials.
func TestSnapshotsBounded(t *testing.T) {
	s := &sortedDirs{snaps: map[uint32]*dirSnapshot{}}
	dir := rootKey{dev: 1, ino: 2}
	var ids []uint32
	for range maxSnapshots + 10 {
		id, _ := s.keep(dir, "r", []dent{{name: "x"}})
		ids = append(ids, id)
	}
	if len(s.snaps) != maxSnapshots || len(s.order) != maxSnapshots {
		t.Errorf("%d snapshots kept, want %d", len(s.snaps), maxSnapshots)
	}
	if s.snapshot(ids[0], dir, "r") != nil || s.snapshot(ids[len(ids)-1], dir, "r") == nil {
		t.Errorf("the oldest snapshot kept or the newest dropped")
	}
	if s.snapshot(ids[len(ids)-1], rootKey{dev: 1, ino: 3}, "r") != nil {
		t.Errorf("a snapshot found for another directory")
	}
	if s.snapshot(ids[len(ids)-1], dir, readerOf(creds{euid: 65534})) != nil {
		t.Errorf("a snapshot found for a reader of other credentials")
	}
}
