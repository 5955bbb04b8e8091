package confine

/*
#cgo CFLAGS: -Wall
#include <stdlib.h>
#include "sl_exec.h"
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultPath is searched for a bare program name when the image's Env has no PATH.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Caps holds the capability sets; bit N stands for capability N.
type Caps struct{ Bounding, Effective, Inheritable, Permitted, Ambient uint64 }

// Rlimit is one setrlimit call; Type is an RLIMIT_* resource number.
type Rlimit struct {
	Type       int
	Soft, Hard uint64
}

// ProcessImage is everything the final step before execve needs, packed into a flat byte
// buffer (Pack) so C code running after fork (no Go runtime) can apply it.
type ProcessImage struct {
	// Path is an absolute path to exec, or a bare name looked up in PATH from Env
	// (DefaultPath when Env has none). "" means Args[0].
	Path string
	Args []string
	Env  []string
	// Cwd is entered before the uid change, so a cwd only root can reach works; a chdir
	// failure fails the exec. "" stays in the current directory.
	Cwd      string
	UID, GID uint32
	Groups   []uint32 // the supplementary groups; empty clears them
	Umask    int      // -1 leaves the umask alone
	Caps     Caps
	// KeepCaps ignores Caps and keeps the thread's own capability sets (bounding, effective,
	// permitted, inheritable, ambient) across the uid change. When false the sets become
	// exactly Caps; bits past the kernel's last capability are ignored.
	KeepCaps bool
	Setsid   bool // setsid() before exec
	// NoNewPrivs sets no_new_privs right before execve. Without it (and without no_new_privs
	// already on the thread) Filters load before the credential step, while CAP_SYS_ADMIN is
	// still held, as runc does: the kernel needs one of the two to load a seccomp program.
	NoNewPrivs bool
	SetCtty    bool // then make fd 0 the controlling terminal (TIOCSCTTY)
	Rlimits    []Rlimit
	// Filters are compiled seccomp programs loaded, in order, as the very last step before
	// execve, so they confine the program and nothing of the runtime: the policy's syscall
	// list and the OCI linux.seccomp profile go here (ExecFilters).
	Filters []Filter
}

// Filter is one compiled seccomp program (a struct sock_filter array, 8 bytes an instruction)
// with the seccomp(2) flags it is loaded with.
type Filter struct {
	Insns          []byte
	Log, SpecAllow bool
}

// Layout constants of the packed format; the authoritative description is at the top of
// sl_exec.c.
const (
	imgMagic       = 0x31584c53
	imgHdrLen      = 80
	imgRlimitLen   = 24
	imgMaxGroups   = 65536
	imgFlagKeep    = 0x1
	imgFlagSetsid  = 0x2
	imgFlagSetctty = 0x4
	imgFlagNNP     = 0x8
	imgMaxFilter   = 4096 // BPF_MAXINSNS
	imgMaxFilters  = 8
)

// Pack encodes the image in the format sl_exec.c parses.
func (p *ProcessImage) Pack() ([]byte, error) {
	path := p.Path
	if path == "" && len(p.Args) > 0 {
		path = p.Args[0]
	}
	if err := p.validate(path); err != nil {
		return nil, fmt.Errorf("pack process image: %w", err)
	}
	le := binary.LittleEndian
	b := make([]byte, imgHdrLen, imgHdrLen+4*len(p.Groups)+imgRlimitLen*len(p.Rlimits)+p.filterLen()+p.strLen(path))
	le.PutUint32(b[0:], imgMagic)
	le.PutUint32(b[4:], p.flags())
	le.PutUint32(b[8:], p.UID)
	le.PutUint32(b[12:], p.GID)
	le.PutUint32(b[16:], uint32(int32(p.Umask)))
	le.PutUint32(b[20:], uint32(len(p.Groups)))
	le.PutUint32(b[24:], uint32(len(p.Rlimits)))
	le.PutUint32(b[28:], uint32(len(p.Args)))
	le.PutUint32(b[32:], uint32(len(p.Env)))
	le.PutUint32(b[36:], uint32(p.filterLen()/8))
	for i, c := range []uint64{p.Caps.Bounding, p.Caps.Effective, p.Caps.Inheritable, p.Caps.Permitted, p.Caps.Ambient} {
		le.PutUint64(b[40+8*i:], c)
	}
	for _, g := range p.Groups {
		b = le.AppendUint32(b, g)
	}
	for _, r := range p.Rlimits {
		b = le.AppendUint32(b, uint32(r.Type))
		b = le.AppendUint32(b, 0)
		b = le.AppendUint64(b, r.Soft)
		b = le.AppendUint64(b, r.Hard)
	}
	for _, f := range p.Filters {
		b = le.AppendUint32(b, uint32(len(f.Insns)/8))
		b = le.AppendUint32(b, f.flags())
		b = append(b, f.Insns...)
	}
	for _, s := range p.strs(path) {
		b = append(append(b, s...), 0)
	}
	return b, nil
}

func (p *ProcessImage) flags() uint32 {
	var f uint32
	if p.KeepCaps {
		f |= imgFlagKeep
	}
	if p.Setsid {
		f |= imgFlagSetsid
	}
	if p.SetCtty {
		f |= imgFlagSetctty
	}
	if p.NoNewPrivs {
		f |= imgFlagNNP
	}
	return f
}

func (f Filter) flags() uint32 {
	var v uint32
	if f.Log {
		v |= 0x1
	}
	if f.SpecAllow {
		v |= 0x2
	}
	return v
}

// filterLen is the size of the packed filter area: an 8-byte record header per program.
func (p *ProcessImage) filterLen() int {
	n := 0
	for _, f := range p.Filters {
		n += 8 + len(f.Insns)
	}
	return n
}

// strs lists the image's strings in packed order.
func (p *ProcessImage) strs(path string) []string {
	s := make([]string, 0, 2+len(p.Args)+len(p.Env))
	s = append(s, path, p.Cwd)
	s = append(s, p.Args...)
	return append(s, p.Env...)
}

func (p *ProcessImage) strLen(path string) int {
	n := 0
	for _, s := range p.strs(path) {
		n += len(s) + 1
	}
	return n
}

// validate rejects what the C side would refuse or what cannot be encoded, so the error
// surfaces in the caller rather than after fork.
func (p *ProcessImage) validate(path string) error {
	if path == "" {
		return errors.New("no path and no args")
	}
	for _, s := range p.strs(path) {
		if strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("string %q contains a NUL byte", s)
		}
	}
	if p.Umask < -1 || p.Umask > 0o777 {
		return fmt.Errorf("umask %#o out of range", p.Umask)
	}
	if len(p.Filters) > imgMaxFilters {
		return fmt.Errorf("%d seccomp programs, limit %d", len(p.Filters), imgMaxFilters)
	}
	for _, f := range p.Filters {
		if n := len(f.Insns); n == 0 || n%8 != 0 || n/8 > imgMaxFilter {
			return fmt.Errorf("seccomp program of %d bytes: want 1 to %d whole instructions", n, imgMaxFilter)
		}
	}
	if len(p.Groups) > imgMaxGroups {
		return fmt.Errorf("%d supplementary groups, limit %d", len(p.Groups), imgMaxGroups)
	}
	if len(p.Args) > math.MaxUint32 || len(p.Env) > math.MaxUint32 {
		return errors.New("too many args or env entries")
	}
	for _, r := range p.Rlimits {
		if r.Type < 0 || r.Type > math.MaxInt32 {
			return fmt.Errorf("rlimit type %d out of range", r.Type)
		}
		if r.Soft > r.Hard {
			return fmt.Errorf("rlimit %d: soft limit %d above hard limit %d", r.Type, r.Soft, r.Hard)
		}
	}
	return nil
}

// ExecError is a failed drop-and-exec step: Msg reads "<step>: <reason>" and Errno is the
// failing errno (errors.Is(err, unix.ENOENT) works).
type ExecError struct {
	Msg   string
	Errno unix.Errno
}

func (e *ExecError) Error() string { return e.Msg }

func (e *ExecError) Unwrap() error { return e.Errno }

// ExecPacked applies the packed image to the calling thread and execve()s. It only returns on
// failure, with an *ExecError naming the failed step. The caller must have locked its OS
// thread (runtime.LockOSThread): every step acts on the calling thread only.
//
// After a failure the thread may be half-dropped (some ids or capabilities changed), so
// ExecPacked locks it once more: the caller's UnlockOSThread then cannot hand it back to the
// scheduler, and the thread dies with the goroutine. The caller should exit.
func ExecPacked(buf []byte) error {
	if len(buf) == 0 {
		return &ExecError{Msg: "process image: empty", Errno: unix.EINVAL}
	}
	var errbuf [512]byte
	rc := C.sl_apply_and_exec((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)),
		(*C.char)(unsafe.Pointer(&errbuf[0])), C.size_t(len(errbuf)))
	runtime.LockOSThread()
	return &ExecError{Msg: cString(errbuf[:]), Errno: unix.Errno(-rc)}
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// parsePacked runs the C parser (sl_image_parse) on buf and rebuilds the image from what it
// found, so tests can check Pack and the parser agree. The copy lives in C memory because the
// parser stores pointers into it.
func parsePacked(buf []byte) (*ProcessImage, error) {
	cbuf := C.CBytes(buf)
	defer C.free(cbuf)
	img := (*C.struct_sl_image)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_sl_image{}))))
	defer C.free(unsafe.Pointer(img))
	var errbuf [256]byte
	if rc := C.sl_image_parse((*C.char)(cbuf), C.size_t(len(buf)), img,
		(*C.char)(unsafe.Pointer(&errbuf[0])), C.size_t(len(errbuf))); rc != 0 {
		return nil, &ExecError{Msg: cString(errbuf[:]), Errno: unix.Errno(-rc)}
	}
	off := func(p unsafe.Pointer) int { return int(uintptr(p) - uintptr(cbuf)) }
	p := &ProcessImage{
		UID: uint32(img.uid), GID: uint32(img.gid), Umask: int(img.umask),
		Caps: Caps{Bounding: uint64(img.cap_bnd), Effective: uint64(img.cap_eff),
			Inheritable: uint64(img.cap_inh), Permitted: uint64(img.cap_prm), Ambient: uint64(img.cap_amb)},
		KeepCaps: img.flags&imgFlagKeep != 0, Setsid: img.flags&imgFlagSetsid != 0,
		SetCtty: img.flags&imgFlagSetctty != 0, NoNewPrivs: img.flags&imgFlagNNP != 0,
	}
	le := binary.LittleEndian
	for i, g := 0, off(unsafe.Pointer(img.groups)); i < int(img.ngroups); i++ {
		p.Groups = append(p.Groups, le.Uint32(buf[g+4*i:]))
	}
	for i, r := 0, off(unsafe.Pointer(img.rlimits)); i < int(img.nrlimits); i++ {
		rec := buf[r+imgRlimitLen*i:]
		p.Rlimits = append(p.Rlimits, Rlimit{Type: int(le.Uint32(rec)), Soft: le.Uint64(rec[8:]), Hard: le.Uint64(rec[16:])})
	}
	for f, end := off(unsafe.Pointer(img.filter)), off(unsafe.Pointer(img.filter))+8*int(img.nfilter); f < end; {
		n, fl := int(le.Uint32(buf[f:])), le.Uint32(buf[f+4:])
		p.Filters = append(p.Filters, Filter{Insns: append([]byte(nil), buf[f+8:f+8+8*n]...),
			Log: fl&0x1 != 0, SpecAllow: fl&0x2 != 0})
		f += 8 + 8*n
	}
	p.Path = splitStrs(buf, off(unsafe.Pointer(img.path)), 1)[0]
	p.Cwd = splitStrs(buf, off(unsafe.Pointer(img.cwd)), 1)[0]
	p.Args = splitStrs(buf, off(unsafe.Pointer(img.args)), int(img.nargs))
	p.Env = splitStrs(buf, off(unsafe.Pointer(img.env)), int(img.nenv))
	return p, nil
}

// splitStrs reads n NUL-terminated strings starting at buf[at] (already validated by C).
func splitStrs(buf []byte, at, n int) []string {
	var out []string
	for ; n > 0; n-- {
		end := at + bytes.IndexByte(buf[at:], 0)
		out = append(out, string(buf[at:end]))
		at = end + 1
	}
	return out
}

// cStrerror exposes the C errno table (sl_strerror) to tests; ok is false for errnos it lacks.
func cStrerror(e unix.Errno) (s string, ok bool) {
	p := C.sl_strerror(C.int(e))
	if p == nil {
		return "", false
	}
	return C.GoString(p), true
}
