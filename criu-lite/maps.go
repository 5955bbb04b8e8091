package criulite

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const pageSize = 4096

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end uint64
	perms      string // "rwxp"
	offset     uint64
	dev        string
	inode      uint64
	path       string
}

func (m mapping) prot() int {
	p := 0
	if m.perms[0] == 'r' {
		p |= unix.PROT_READ
	}
	if m.perms[1] == 'w' {
		p |= unix.PROT_WRITE
	}
	if m.perms[2] == 'x' {
		p |= unix.PROT_EXEC
	}
	return p
}

func (m mapping) shared() bool { return m.perms[3] == 's' }

// special: the kernel's own mappings, which the restore moves rather than maps.
func (m mapping) special() bool {
	switch m.path {
	case "[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]", "[uprobes]":
		return true
	}
	return false
}

func (m mapping) anon() bool {
	return m.inode == 0 && (m.path == "" || m.path == "[heap]" || strings.HasPrefix(m.path, "[stack") || strings.HasPrefix(m.path, "[anon:"))
}

func readMaps(pid int) ([]mapping, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m, err := parseMapsLine(sc.Text())
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// parseMapsLine parses "start-end perms offset dev inode   path".
func parseMapsLine(l string) (mapping, error) {
	var m mapping
	fields := strings.Fields(l)
	if len(fields) < 5 {
		return m, fmt.Errorf("maps line %q", l)
	}
	se := strings.SplitN(fields[0], "-", 2)
	var err1, err2, err3, err4 error
	m.start, err1 = strconv.ParseUint(se[0], 16, 64)
	if len(se) == 2 {
		m.end, err2 = strconv.ParseUint(se[1], 16, 64)
	}
	m.perms = fields[1]
	m.offset, err3 = strconv.ParseUint(fields[2], 16, 64)
	m.dev = fields[3]
	m.inode, err4 = strconv.ParseUint(fields[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || len(m.perms) != 4 {
		return m, fmt.Errorf("maps line %q", l)
	}
	// the path is everything after the inode column (it may hold spaces)
	rest := l
	for range 5 {
		rest = strings.TrimLeft(rest, " ")
		if i := strings.IndexByte(rest, ' '); i >= 0 {
			rest = rest[i:]
		} else {
			rest = ""
		}
	}
	m.path = strings.TrimLeft(rest, " ")
	return m, nil
}

// pagemap bits (Documentation/admin-guide/mm/pagemap.rst).
const (
	pmPresent = 1 << 63
	pmSwapped = 1 << 62
	pmFile    = 1 << 61
)

// pageFlags returns the pagemap entry of every page of m.
func pageFlags(pm *os.File, m mapping) ([]uint64, error) {
	n := (m.end - m.start) / pageSize
	buf := make([]byte, n*8)
	if _, err := pm.ReadAt(buf, int64(m.start/pageSize*8)); err != nil {
		return nil, fmt.Errorf("pagemap %#x-%#x: %w", m.start, m.end, err)
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(buf[i*8:])
	}
	return out, nil
}

// dirtyPage says whether page i must be saved: for anonymous memory any page that exists,
// for a private file mapping a page that no longer is the file's (copied on write).
func dirtyPage(e uint64, anon bool) bool {
	if e&pmSwapped != 0 {
		return true
	}
	if e&pmPresent == 0 {
		return false
	}
	return anon || e&pmFile == 0
}
