package notifsup

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// The streams of random_seed. Each is Go's ChaCha8 (math/rand/v2) keyed by 32 bytes: the seed
// (int64, little-endian), the stream's kind (one byte at offset 8) and its number (uint64,
// little-endian, at offset 16); the other bytes are zero. The container has one getrandom
// stream (number 0), drawn in the order the supervisor answers the calls; the n-th open of a
// random device (counted from 0, in the container) reads stream n of its kind, and so does the
// n-th open of /proc/sys/kernel/random/uuid; boot_id is stream 0 of its kind.
const (
	streamGetrandom = 'g'
	streamDevice    = 'd'
	streamUUID      = 'u'
	streamBootID    = 'b'
)

// streamKey is the ChaCha8 key of stream n of kind for seed.
func streamKey(seed int64, kind byte, n uint64) [32]byte {
	var k [32]byte
	binary.LittleEndian.PutUint64(k[0:], uint64(seed))
	k[8] = kind
	binary.LittleEndian.PutUint64(k[16:], n)
	return k
}

// getrandom(2)'s flags.
const (
	grndNonblock = 0x1
	grndRandom   = 0x2
	grndInsecure = 0x4
)

// maxGetrandom bounds one answer: the kernel may return fewer bytes than asked (a signal,
// more than its per-call limit), and callers loop.
const maxGetrandom = 1 << 22

// maxStreams bounds the device streams open at once (each is a pipe and a goroutine in the
// supervisor); an open past it fails with EMFILE.
const maxStreams = 1024

// randomSeed is the feature behind RandomSeed.
type randomSeed struct {
	seed    int64
	mu      sync.Mutex
	getrand *rand.ChaCha8
	devices atomic.Uint64 // device streams handed out
	uuids   atomic.Uint64
	live    atomic.Int64 // device streams still fed
	m       *fsMeta      // the policy's path rules, for the access an injection stands for
}

// RandomSeed (random_seed) answers every source of kernel randomness the process can read
// from seeded streams: getrandom(2), on every ABI (its arguments are registers of the same
// meaning everywhere), and the opens for reading of the random devices (char 1:8, 1:9 and
// 10:183 hwrng, by any name that reaches them: a symlink, a node of another name,
// /proc/self/fd/N, /dev/fd/N) and of /proc/sys/kernel/random/uuid and boot_id. fs are the
// policy's path rules: a stream is given only for an open the process could make itself (see
// docs/security.md).
//
// Every handler decodes every ABI (the open arguments are registers of one meaning, open_how
// has one layout): an i386 open of another file goes on to the next feature, and is refused
// where a feature that decodes only the native opens traps them too (resolve).
func RandomSeed(seed int64, fs FSMetaConfig) []Feature {
	r := &randomSeed{seed: seed, getrand: rand.NewChaCha8(streamKey(seed, streamGetrandom, 0)), m: &fsMeta{given: fs.Rules}}
	if fs.Carve != nil {
		r.m.carve = newCarveModel(*fs.Carve, fs.Rules)
	}
	opens := Feature{Name: "random-devices", AllArches: true, Handlers: map[string]Handler{},
		Start: func() { r.m.rules = canonicalRules(r.m.given) }}
	for name, s := range openSpecs {
		opens.Handlers[name] = r.openHandler(s)
	}
	return []Feature{
		{Name: "random-seed", AllArches: true, Handlers: map[string]Handler{"getrandom": pinned(true, r.getrandom)}},
		opens,
	}
}

// getrandom fills the buffer from the container's getrandom stream. The flags are checked as
// the kernel does; none changes the bytes (GRND_RANDOM draws from the same pool since Linux
// 5.6) and none can block. A buffer that cannot be written is EFAULT, or the bytes written
// before the fault.
func (r *randomSeed) getrandom(c *Call, t *target) seccomp.ScmpNotifResp {
	a := c.Req.Data.Args
	flags, n := uint32(a[2]), a[1]
	if flags&^(grndNonblock|grndRandom|grndInsecure) != 0 || flags&(grndRandom|grndInsecure) == grndRandom|grndInsecure {
		return errnoResp(unix.EINVAL)
	}
	if compat32[c.Req.Data.Arch] {
		n = uint64(uint32(n)) // a 32-bit size_t
	}
	n = min(n, maxGetrandom)
	r.mu.Lock()
	defer r.mu.Unlock()
	buf := make([]byte, min(n, 1<<16))
	done := uint64(0)
	for done < n {
		chunk := buf[:min(n-done, uint64(len(buf)))]
		_, _ = r.getrand.Read(chunk)
		if err := t.writeBytes(a[0]+done, chunk); err != nil {
			if done == 0 {
				return errnoResp(unix.EFAULT)
			}
			break
		}
		done += uint64(len(chunk))
	}
	return seccomp.ScmpNotifResp{Val: done}
}

// openHandler answers an open that reaches a random source, for reading, with its stream. The
// path is copied once and resolved (O_PATH) in the process's view; what it reaches decides.
// Anything else, and any open this handler cannot judge, is NotMine: the kernel then opens
// what the process names, under Landlock. That continue is decided on memory the process can
// change, which is safe here because the handler makes no access decision by it: losing the
// race gives the real device (randomness not seeded), never more access.
func (r *randomSeed) openHandler(s openSpec) Handler {
	full := pinned(false, func(c *Call, t *target) seccomp.ScmpNotifResp {
		a := c.Req.Data.Args
		o, err := r.decodeOpen(t, s, a)
		if err != nil {
			return NotMine()
		}
		defer o.close()
		if o.flags&(unix.O_PATH|unix.O_DIRECTORY) != 0 || o.flags&unix.O_ACCMODE == unix.O_WRONLY || o.selfLink != "" {
			return NotMine() // nothing to read through it
		}
		kind, err := r.reached(c, t, o)
		if err != nil || kind == 0 {
			return NotMine()
		}
		fd, err := r.source(kind)
		if err != nil {
			return errnoResp(errnoOf(err))
		}
		defer unix.Close(fd)
		return c.InjectFD(fd, o.flags&unix.O_CLOEXEC != 0) // a failed injection fails the call
	})
	return func(c *Call) seccomp.ScmpNotifResp {
		if !maybeRandom(c, s) {
			return NotMine()
		}
		return full(c)
	}
}

// maybeRandom is the quick look that spares most opens the full handling (the process's
// credentials and view taken, the object checked): false when the open cannot read a random
// source. A write-only, O_PATH or O_DIRECTORY open is decided by its flags (registers). A read
// of an absolute path, or of a relative one from the cwd, is resolved from the thread's root
// (RESOLVE_IN_ROOT) or cwd (RESOLVE_BENEATH: what leaves it is judged in full) through its
// /proc links, without magic links: a missing file or one that is no random source is false.
// Everything else, and every other failure, goes to the full handling. Like every NotMine of
// this feature, a wrong false costs the seeding, never access.
func maybeRandom(c *Call, s openSpec) bool {
	a := c.Req.Data.Args
	if s.flags >= 0 {
		f := uint32(a[s.flags])
		if f&unix.O_ACCMODE == unix.O_WRONLY || f&(unix.O_PATH|unix.O_DIRECTORY) != 0 {
			return false
		}
	} else if s.how < 0 {
		return false // creat: write-only
	}
	t := peekTarget(c.Listener, c.Req)
	defer t.close()
	path, err := t.readString(a[s.path], pathMax)
	if err != nil || path == "" || strings.HasPrefix(path, "/proc/") || strings.HasPrefix(path, "/dev/fd/") {
		return true
	}
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_MAGICLINKS}
	base := "root"
	if path[0] == '/' {
		how.Resolve |= unix.RESOLVE_IN_ROOT
		path = strings.TrimLeft(path, "/")
		if path == "" {
			path = "."
		}
	} else if s.dir < 0 || int32(a[s.dir]) == unix.AT_FDCWD {
		base = "cwd"
		how.Resolve |= unix.RESOLVE_BENEATH
	} else {
		return true // a dirfd: the full handling copies it
	}
	dir, err := procOpen(t.procPath(base), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return true
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, path, &how)
	if err == unix.ENOENT || err == unix.ENOTDIR {
		return false
	}
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	return randomKind(fd) != 0
}

// randomOpen is an open copied out of the process.
type randomOpen struct {
	*object
	flags uint64
}

// decodeOpen copies the open's path and flags. openat2 with resolve flags is left to the
// kernel (NotMine): its constraints are not modelled.
func (r *randomSeed) decodeOpen(t *target, s openSpec, a []uint64) (randomOpen, error) {
	var o randomOpen
	switch {
	case s.flags >= 0:
		o.flags = uint64(uint32(a[s.flags]))
	case s.how < 0: // creat
		o.flags = unix.O_WRONLY
	default:
		var resolve uint64
		var err error
		if o.flags, _, resolve, err = t.openHow(a[s.how], a[s.how+1]); err != nil || resolve != 0 {
			return o, unix.EINVAL
		}
	}
	path, err := t.readString(a[s.path], pathMax)
	if err != nil {
		return o, err
	}
	dirfd := unix.AT_FDCWD
	if s.dir >= 0 {
		dirfd = int(int32(a[s.dir]))
	}
	if rest, ok := strings.CutPrefix(path, "/dev/fd/"); ok {
		path = "/proc/self/fd/" + rest // the process's own fd, as /dev/fd's link says
	}
	o.object = &object{fd: -1, dirfd: -1, nofollow: o.flags&unix.O_NOFOLLOW != 0}
	if err := o.setPath(t, path, dirfd, false); err != nil {
		o.close()
		return o, err
	}
	return o, nil
}

// reached resolves the open in the process's view and says which random source it reaches (0:
// none), after checking the process could open it for reading itself: the kernel's DAC and
// nodev checks (a read-only open made with its credentials, in its view) and the policy's
// path rules (what Landlock grants, fsMeta.check). A source the process may not read is not
// this handler's: the kernel gives its own answer.
func (r *randomSeed) reached(c *Call, t *target, o randomOpen) (byte, error) {
	w := c.w
	if o.fd >= 0 {
		// The process's own fd (/proc/self/fd/N): checked by its name from the host's root,
		// as FSMeta does, then reopened in the process's view.
		if err := w.takeHostRoot(); err != nil {
			return 0, err
		}
		if randomKind(o.fd) == 0 {
			return 0, nil
		}
		if err := r.m.check(w, t, o.fd, false, false); err != nil {
			return 0, err
		}
		k, err := w.inView(t, noCwd, func() (uint64, error) { return readable(o.fd) })
		return byte(k), err
	}
	dirfd := o.dirfd
	if strings.HasPrefix(o.path, "/") {
		dirfd = noCwd
	}
	k, err := w.inView(t, dirfd, func() (uint64, error) {
		fd, err := w.resolvePath(o.path, o.nofollow)
		if err != nil {
			return 0, err
		}
		defer unix.Close(fd)
		if randomKind(fd) == 0 {
			return 0, nil
		}
		// Resolved in the process's root without magic links: its name is unambiguous there.
		if err := r.m.check(w, t, fd, false, false); err != nil {
			return 0, err
		}
		return readable(fd)
	})
	return byte(k), err
}

// readable opens fd's object again for reading, on the thread holding the process's view and
// credentials (the kernel's DAC and nodev checks), and says which random source it is.
func readable(fd int) (uint64, error) {
	rd, err := unix.Openat(hostProc, "thread-self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return 0, err
	}
	unix.Close(rd)
	return uint64(randomKind(fd)), nil
}

// randomKind says which random source fd is on: a random device (char 1:8 random, 1:9
// urandom, 10:183 hwrng, whatever its name), the uuid or boot_id file of procfs, or none (0).
func randomKind(fd int) byte {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		maj, mnr := unix.Major(st.Rdev), unix.Minor(st.Rdev)
		if maj == 1 && (mnr == 8 || mnr == 9) || maj == 10 && mnr == 183 { // random, urandom, hwrng
			return streamDevice
		}
	case unix.S_IFREG:
		if !isProcFS(fd) {
			return 0
		}
		name, err := fdName(fd)
		switch {
		case err != nil:
		case strings.HasSuffix(name, "/sys/kernel/random/uuid"):
			return streamUUID
		case strings.HasSuffix(name, "/sys/kernel/random/boot_id"):
			return streamBootID
		}
	}
	return 0
}

// source is a new open file on the next stream of kind.
func (r *randomSeed) source(kind byte) (int, error) {
	switch kind {
	case streamUUID:
		return memFile(r.uuid(streamUUID, r.uuids.Add(1)-1))
	case streamBootID:
		return memFile(r.uuid(streamBootID, 0))
	}
	return r.deviceStream(r.devices.Add(1) - 1)
}

// uuid is stream n of kind read as a random (version 4) UUID, as the kernel's uuid file
// prints it.
func (r *randomSeed) uuid(kind byte, n uint64) []byte {
	var u [16]byte
	_, _ = rand.NewChaCha8(streamKey(r.seed, kind, n)).Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Appendf(nil, "%x-%x-%x-%x-%x\n", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// deviceStream is the read end of a pipe the supervisor keeps full with device stream n,
// until every copy of the read end is closed (the write then fails with EPIPE). The read end
// stays blocking: a read never fails with EAGAIN, as a random device's never does.
func (r *randomSeed) deviceStream(n uint64) (int, error) {
	if r.live.Add(1) > maxStreams {
		r.live.Add(-1)
		return -1, unix.EMFILE
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		r.live.Add(-1)
		return -1, err
	}
	if err := unix.SetNonblock(p[1], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		r.live.Add(-1)
		return -1, err
	}
	w := os.NewFile(uintptr(p[1]), "random") // non-blocking: writes wait in the poller
	go func() {
		defer r.live.Add(-1)
		defer w.Close()
		rng := rand.NewChaCha8(streamKey(r.seed, streamDevice, n))
		buf := make([]byte, 16<<10)
		for {
			_, _ = rng.Read(buf)
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}()
	return p[0], nil
}
