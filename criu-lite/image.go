package criulite

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Image file names and identity (docs/checkpoint.md describes the format).
const (
	ManifestFile = "checkpoint.json"
	PagesFile    = "pages.img"
	SumFile      = "checkpoint.sha256"
	Format       = "sandlock-checkpoint"
	Version      = 1
	pagesMagic   = "SLCKPAGE"
	// InventoryFile is CRIU's file name, written so that podman finds the image complete.
	InventoryFile = "inventory.img"
	inventoryText = "not a CRIU image: a sandlock-runtime checkpoint (criu-lite), see " + ManifestFile + "\n"
)

// Image is a checkpoint: the manifest plus the pages blob it points into.
type Image struct {
	Format      string    `json:"format"`
	Version     int       `json:"version"`
	Arch        string    `json:"arch"`
	Kernel      string    `json:"kernel"`
	XstateSize  int       `json:"xstateSize"`
	Created     time.Time `json:"created"`
	Processes   []Process `json:"processes"` // the root first, every parent before its children
	Objects     []Object  `json:"objects"`   // open files, pipes, sockets, shared by fds
	Shms        []Shm     `json:"shms,omitempty"`
	PagesSHA256 string    `json:"pagesSha256"`
	PagesSize   int64     `json:"pagesSize"`
	AppState    []byte    `json:"appState,omitempty"` // the API's caller data (Sandbox.Checkpoint)
	Command     []string  `json:"command,omitempty"`  // the container's process.args, for a restore without a bundle
	// Workdir is the copy-on-write workdir (as the container saw it) whose layer the image
	// holds, a copy of its upper directory in COWDir; "" without one.
	Workdir string `json:"workdir,omitempty"`

	pages []byte
	dir   string // where Load read it
}

// COWDir is the directory of an image that holds its copy-on-write layer's upper directory.
const COWDir = "cow-upper"

// LayerDir is the copy of the layer's upper directory in a loaded image ("" without one).
func (img *Image) LayerDir() string {
	if img.Workdir == "" || img.dir == "" {
		return ""
	}
	return filepath.Join(img.dir, COWDir)
}

// Process is one saved process.
type Process struct {
	Pid         int         `json:"pid"`
	Ppid        int         `json:"ppid"`
	Pgid        int         `json:"pgid"`
	Sid         int         `json:"sid"`
	Comm        string      `json:"comm"`
	Uids        [4]int      `json:"uids"`
	Gids        [4]int      `json:"gids"`
	Threads     []Thread    `json:"threads"` // the leader first
	VMAs        []VMA       `json:"vmas"`
	Specials    []Special   `json:"specials"` // vdso, vvar: moved, not mapped
	FDs         []FD        `json:"fds"`
	Cwd         string      `json:"cwd"`
	Umask       uint32      `json:"umask"`
	Rlimits     []Rlimit    `json:"rlimits"`
	Sigactions  []Sigaction `json:"sigactions"`
	Personality uint32      `json:"personality"`
	MM          MM          `json:"mm"`
	Auxv        []byte      `json:"auxv"`
	Itimers     [3]Itimer   `json:"itimers"`
	Pending     [][]byte    `json:"pending,omitempty"` // the process's shared queue
}

// Thread is one saved thread.
type Thread struct {
	Tid        int             `json:"tid"`
	Comm       string          `json:"comm"`
	Regs       unix.PtraceRegs `json:"regs"`
	Xstate     Blob            `json:"xstate"`
	Sigmask    uint64          `json:"sigmask"`
	Rseq       *Rseq           `json:"rseq,omitempty"`
	TidAddr    uint64          `json:"tidAddress"`
	RobustList uint64          `json:"robustList"`
	RobustLen  uint64          `json:"robustLen"`
	Pending    [][]byte        `json:"pending,omitempty"` // queued siginfos (128 bytes each)
	AltStack   [3]uint64       `json:"altStack"`          // sigaltstack: sp, flags, size
}

// VMA is one saved mapping; Pages are its saved contents.
type VMA struct {
	Start  uint64 `json:"start"`
	End    uint64 `json:"end"`
	Prot   int    `json:"prot"`
	Shared bool   `json:"shared"`
	Stack  bool   `json:"stack,omitempty"` // the main stack: mapped MAP_GROWSDOWN
	Path   string `json:"path,omitempty"`  // file mappings: the path in the container
	Offset uint64 `json:"offset,omitempty"`
	Size   int64  `json:"fileSize,omitempty"`
	SHA256 string `json:"fileSha256,omitempty"` // the whole file's: a restore maps only the same file
	Pages  []Blob `json:"pages,omitempty"`
	Shm    int    `json:"shm,omitempty"` // shared anonymous memory: the Shm object (by ID) it maps
}

// Shm is a shared anonymous memory object (MAP_SHARED|MAP_ANONYMOUS, shared by the processes
// forked after it was made): its size and the contents of its pages.
type Shm struct {
	ID    int    `json:"id"`
	Size  uint64 `json:"size"`
	Pages []Blob `json:"pages"` // Addr is the offset in the object
}

// Blob is Len bytes at Off in the pages file, for memory at Addr (pages) or a thread's state.
type Blob struct {
	Addr uint64 `json:"addr,omitempty"`
	Off  int64  `json:"off"`
	Len  int64  `json:"len"`
}

// Special is a kernel mapping (vdso, vvar) of the saved process.
type Special struct {
	Name  string `json:"name"`
	Start uint64 `json:"start"`
	End   uint64 `json:"end"`
}

// FD is one fd of a process, pointing to a shared object.
type FD struct {
	Fd      int  `json:"fd"`
	Object  int  `json:"object"`
	Cloexec bool `json:"cloexec"`
}

// Object kinds.
const (
	ObjStdio      = "stdio"   // the root's fd 0, 1 or 2 as the caller passed it: the restore's own
	ObjFile       = "file"    // a regular file, directory or device, reopened by path
	ObjPipeR      = "pipe-r"  // read end of pipe Pipe
	ObjPipeW      = "pipe-w"  // write end of pipe Pipe
	ObjEventfd    = "eventfd" // an eventfd with its counter
	ObjListen     = "tcp-listen"
	ObjEpoll      = "epoll"       // an epoll instance and what it watches
	ObjSignalfd   = "signalfd"    // Count holds the signal mask
	ObjTimerfd    = "timerfd"     // Timer holds clock, remaining time and interval
	ObjUnixEnd    = "unix-pair"   // one end (End 0 or 1) of a connected pair of unix sockets, Pipe names the pair
	ObjUnixListen = "unix-listen" // a listening unix socket: Path is its name (NUL first: abstract)
)

// EpollTarget is one fd an epoll instance watches: its number in the process that has the
// instance, the events and the user data.
type EpollTarget struct {
	Fd     int    `json:"fd"`
	Events uint32 `json:"events"`
	Data   uint64 `json:"data"`
}

// Object is an open file description.
type Object struct {
	ID     int           `json:"id"`
	Kind   string        `json:"kind"`
	Stdio  int           `json:"stdio,omitempty"`
	Path   string        `json:"path,omitempty"`
	Flags  int           `json:"flags,omitempty"`
	Pos    int64         `json:"pos,omitempty"`
	Pipe   int           `json:"pipe,omitempty"` // pipes: objects with the same Pipe are its ends
	Data   Blob          `json:"data,omitzero"`  // pipes: the bytes in the buffer
	Count  uint64        `json:"count,omitempty"`
	Family int           `json:"family,omitempty"`
	Addr   []byte        `json:"addr,omitempty"` // listening sockets: the local address (sockaddr)
	Size   int64         `json:"size,omitempty"`
	Mtime  int64         `json:"mtime,omitempty"`
	Epoll  []EpollTarget `json:"epoll,omitempty"`
	End    int           `json:"end,omitempty"`
	Timer  *Timerfd      `json:"timer,omitempty"`
	Type   int           `json:"type,omitempty"` // unix sockets: SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET
}

// Rlimit is one resource limit.
type Rlimit struct {
	Resource int    `json:"resource"`
	Cur      uint64 `json:"cur"`
	Max      uint64 `json:"max"`
}

// Sigaction is one installed signal disposition (a handler or SIG_IGN).
type Sigaction struct {
	Sig      int    `json:"sig"`
	Handler  uint64 `json:"handler"`
	Flags    uint64 `json:"flags"`
	Restorer uint64 `json:"restorer"`
	Mask     uint64 `json:"mask"`
}

// Itimer is one interval timer (ITIMER_REAL, VIRTUAL, PROF).
type Itimer struct {
	Interval [2]int64 `json:"interval"`
	Value    [2]int64 `json:"value"`
}

// MM is the memory descriptor's bounds (prctl PR_SET_MM_MAP).
type MM struct {
	StartCode, EndCode, StartData, EndData, StartBrk, Brk, StartStack uint64
	ArgStart, ArgEnd, EnvStart, EnvEnd                                uint64
}

// addBlob appends data to the pages blob.
func (img *Image) addBlob(addr uint64, data []byte) Blob {
	b := Blob{Addr: addr, Off: int64(len(img.pages)), Len: int64(len(data))}
	img.pages = append(img.pages, data...)
	return b
}

func (img *Image) blob(b Blob) ([]byte, error) {
	if b.Off < 0 || b.Len < 0 || b.Off > int64(len(img.pages)) || b.Len > int64(len(img.pages))-b.Off {
		return nil, fmt.Errorf("corrupt checkpoint image: a blob (%d bytes at %d) lies outside %s", b.Len, b.Off, PagesFile)
	}
	return img.pages[b.Off : b.Off+b.Len], nil
}

// pagesHeader is the pages file's header: magic, version, length of the data that follows.
func pagesHeader(n int) []byte {
	h := make([]byte, 24)
	copy(h, pagesMagic)
	binary.LittleEndian.PutUint32(h[8:], Version)
	binary.LittleEndian.PutUint64(h[16:], uint64(n))
	return h
}

// Write stores the image in dir (created if needed).
func (img *Image) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	img.Format, img.Version, img.Arch = Format, Version, runtime.GOARCH
	sum := sha256.Sum256(img.pages)
	img.PagesSHA256, img.PagesSize = hex.EncodeToString(sum[:]), int64(len(img.pages))
	if err := writeFile(filepath.Join(dir, PagesFile), append(pagesHeader(len(img.pages)), img.pages...)); err != nil {
		return err
	}
	m, err := json.MarshalIndent(img, "", " ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, ManifestFile), m); err != nil {
		return err
	}
	ms := sha256.Sum256(m)
	if err := writeFile(filepath.Join(dir, SumFile), []byte(hex.EncodeToString(ms[:])+"  "+ManifestFile+"\n")); err != nil {
		return err
	}
	// podman takes a checkpoint as complete when CRIU's inventory.img exists; it only stats it
	return writeFile(filepath.Join(dir, InventoryFile), []byte(inventoryText))
}

func writeFile(p string, b []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// ErrNotImage says a directory holds no sandlock checkpoint.
var ErrNotImage = errors.New("not a sandlock checkpoint image")

// Load reads and verifies an image: a missing, foreign, corrupt or truncated image is an
// error, before anything of it is used.
func Load(dir string) (*Image, error) {
	m, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		if _, e := os.Stat(filepath.Join(dir, "inventory.img")); e == nil {
			return nil, fmt.Errorf("%s: %w (it looks like a CRIU image: no %s, an inventory.img)", dir, ErrNotImage, ManifestFile)
		}
		return nil, fmt.Errorf("%s: %w (no %s)", dir, ErrNotImage, ManifestFile)
	}
	if err != nil {
		return nil, err
	}
	if err := checkSum(dir, m); err != nil {
		return nil, err
	}
	var img Image
	if err := json.Unmarshal(m, &img); err != nil {
		return nil, fmt.Errorf("corrupt checkpoint image %s: %s: %w", dir, ManifestFile, err)
	}
	if img.Format != Format {
		return nil, fmt.Errorf("%s: %w (format %q)", dir, ErrNotImage, img.Format)
	}
	if img.Version != Version {
		return nil, fmt.Errorf("checkpoint image %s has version %d; this runtime reads version %d", dir, img.Version, Version)
	}
	if img.Arch != runtime.GOARCH {
		return nil, fmt.Errorf("checkpoint image %s is for %s, this machine is %s", dir, img.Arch, runtime.GOARCH)
	}
	if err := img.loadPages(dir); err != nil {
		return nil, err
	}
	img.dir = dir
	return &img, nil
}

func checkSum(dir string, m []byte) error {
	s, err := os.ReadFile(filepath.Join(dir, SumFile))
	if err != nil {
		return fmt.Errorf("corrupt checkpoint image %s: %w", dir, err)
	}
	want := sha256.Sum256(m)
	got := bytes.Fields(s)
	if len(got) == 0 || string(got[0]) != hex.EncodeToString(want[:]) {
		return fmt.Errorf("corrupt checkpoint image %s: %s does not match %s", dir, ManifestFile, SumFile)
	}
	return nil
}

func (img *Image) loadPages(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, PagesFile))
	if err != nil {
		return fmt.Errorf("corrupt checkpoint image %s: %w", dir, err)
	}
	if len(b) < 24 || string(b[:8]) != pagesMagic {
		return fmt.Errorf("corrupt checkpoint image %s: %s has no %s header", dir, PagesFile, pagesMagic)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != Version {
		return fmt.Errorf("checkpoint image %s: %s has version %d", dir, PagesFile, v)
	}
	n := binary.LittleEndian.Uint64(b[16:])
	if n != uint64(len(b)-24) || int64(n) != img.PagesSize {
		return fmt.Errorf("corrupt checkpoint image %s: %s is truncated (%d bytes of %d)", dir, PagesFile, len(b)-24, img.PagesSize)
	}
	sum := sha256.Sum256(b[24:])
	if hex.EncodeToString(sum[:]) != img.PagesSHA256 {
		return fmt.Errorf("corrupt checkpoint image %s: %s checksum mismatch", dir, PagesFile)
	}
	img.pages = b[24:]
	return nil
}

// Timerfd is a timerfd's clock and setting: the time left to its next expiry (relative) and
// its interval, and whether one expiry was pending unread.
type Timerfd struct {
	Clock    int      `json:"clock"`
	Value    [2]int64 `json:"value"`
	Interval [2]int64 `json:"interval"`
	Pending  bool     `json:"pending,omitempty"`
}
