package criulite

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// devices that reopen to the same thing by path.
var plainDevices = map[string]bool{"/dev/null": true, "/dev/zero": true, "/dev/full": true, "/dev/random": true, "/dev/urandom": true, "/dev/tty": true}

// captureFDs saves p's fd table; every fd points to an object shared by the fds (of any
// process) that share its open file description.
func (d *dumper) captureFDs(p *Process) error {
	fds, err := fdList(p.Pid)
	if err != nil {
		return err
	}
	for _, fd := range fds {
		info, err := fdinfo(p.Pid, fd)
		if err != nil {
			return err
		}
		if l, ok := info["lock"]; ok {
			return fmt.Errorf("process %d (%s) fd %d: a file lock (%s) cannot be checkpointed", p.Pid, p.Comm, fd, l)
		}
		flags, _ := strconv.ParseUint(info["flags"], 8, 64)
		id, err := d.object(p, fd, int(flags), info)
		if err != nil {
			return fmt.Errorf("process %d (%s) fd %d: %w", p.Pid, p.Comm, fd, err)
		}
		p.FDs = append(p.FDs, FD{Fd: fd, Object: id, Cloexec: flags&unix.O_CLOEXEC != 0})
	}
	return nil
}

func (d *dumper) object(p *Process, fd, flags int, info map[string]string) (int, error) {
	path := procPath(p.Pid, "fd/"+strconv.Itoa(fd))
	target, err := os.Readlink(path)
	if err != nil {
		return 0, err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	key := objKey{pid: p.Pid, fd: fd, dev: st.Dev, ino: st.Ino}
	if id, ok := d.sameFile(key); ok {
		return id, nil
	}
	o := Object{ID: len(d.img.Objects) + 1, Flags: flags &^ unix.O_CLOEXEC}
	pos, _ := strconv.ParseInt(info["pos"], 10, 64)
	switch {
	case p.Pid == d.o.Pids[0] && fd <= 2:
		o.Kind, o.Stdio = ObjStdio, fd
	case strings.HasPrefix(target, "pipe:"):
		if err := d.pipeObject(&o, path, st.Ino); err != nil {
			return 0, err
		}
	case strings.HasPrefix(target, "socket:"):
		if ok, err := d.unixPair(&o, p.Pid, st.Ino); ok || err != nil {
			if err != nil {
				return 0, err
			}
			break
		}
		if err := socketObject(&o, p.Pid, st.Ino); err != nil {
			return 0, err
		}
	case target == "anon_inode:[eventfd]":
		o.Kind = ObjEventfd
		o.Count, _ = strconv.ParseUint(info["eventfd-count"], 16, 64)
	case target == "anon_inode:[eventpoll]":
		o.Kind = ObjEpoll
		if o.Epoll, err = epollTargets(p.Pid, fd); err != nil {
			return 0, err
		}
	case target == "anon_inode:[signalfd]":
		o.Kind = ObjSignalfd
		if o.Count, err = strconv.ParseUint(info["sigmask"], 16, 64); err != nil {
			return 0, fmt.Errorf("signalfd: fdinfo sigmask %q", info["sigmask"])
		}
	case target == "anon_inode:[timerfd]":
		o.Kind = ObjTimerfd
		if o.Timer, err = timerfdInfo(info); err != nil {
			return 0, err
		}
	case strings.HasPrefix(target, "anon_inode:"):
		return 0, fmt.Errorf("%s cannot be checkpointed", strings.TrimPrefix(target, "anon_inode:"))
	case strings.HasSuffix(target, " (deleted)"):
		return 0, fmt.Errorf("the deleted file %s cannot be checkpointed", target)
	case st.Mode&syscall.S_IFMT == syscall.S_IFREG || st.Mode&syscall.S_IFMT == syscall.S_IFDIR:
		cp, ok := inRoot(d.o.Root, target)
		if !ok {
			return 0, fmt.Errorf("the file %s is outside the container's root", target)
		}
		o.Kind, o.Path, o.Pos = ObjFile, cp, pos
		if st.Mode&syscall.S_IFMT == syscall.S_IFREG {
			o.Size, o.Mtime = st.Size, st.Mtim.Nano()
		}
	case st.Mode&syscall.S_IFMT == syscall.S_IFCHR:
		cp, ok := inRoot(d.o.Root, target)
		if !ok || !(plainDevices[cp] || strings.HasPrefix(cp, "/dev/pts/")) {
			return 0, fmt.Errorf("the device %s cannot be checkpointed", target)
		}
		o.Kind, o.Path = ObjFile, cp
	default:
		return 0, fmt.Errorf("%s cannot be checkpointed", target)
	}
	d.img.Objects = append(d.img.Objects, o)
	key.id = o.ID
	d.objs = append(d.objs, key)
	return o.ID, nil
}

// sameFile finds an object already saved for the same open file description (kcmp).
func (d *dumper) sameFile(k objKey) (int, bool) {
	for _, o := range d.objs {
		if o.dev != k.dev || o.ino != k.ino {
			continue
		}
		r, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(o.pid), uintptr(k.pid), 0 /* KCMP_FILE */, uintptr(o.fd), uintptr(k.fd), 0)
		if e == 0 && r == 0 {
			return o.id, true
		}
	}
	return 0, false
}

// pipeObject saves a pipe end; the pipe's buffered bytes are saved once, read without
// consuming them (tee into a pipe of ours).
func (d *dumper) pipeObject(o *Object, path string, ino uint64) error {
	o.Pipe = int(ino)
	switch o.Flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		o.Kind = ObjPipeR
	case unix.O_WRONLY:
		o.Kind = ObjPipeW
	default:
		return fmt.Errorf("a pipe opened read-write cannot be checkpointed")
	}
	for _, other := range d.img.Objects {
		if other.Pipe == o.Pipe && other.Data.Len > 0 {
			return nil
		}
	}
	data, err := pipeData(path)
	if err != nil {
		return fmt.Errorf("reading the pipe's buffer: %w", err)
	}
	if len(data) > 0 {
		o.Data = d.img.addBlob(0, data)
	}
	return nil
}

func pipeData(path string) ([]byte, error) {
	in, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	n, err := unix.IoctlGetInt(int(in.Fd()), unix.TIOCINQ)
	if err != nil || n == 0 {
		return nil, err
	}
	var pp [2]int
	if err := unix.Pipe2(pp[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	defer unix.Close(pp[0])
	defer unix.Close(pp[1])
	if sz, err := unix.FcntlInt(in.Fd(), unix.F_GETPIPE_SZ, 0); err == nil {
		_, _ = unix.FcntlInt(uintptr(pp[1]), unix.F_SETPIPE_SZ, sz)
	}
	got, err := unix.Tee(int(in.Fd()), pp[1], n, unix.SPLICE_F_NONBLOCK)
	if err != nil {
		return nil, err
	}
	if int(got) != n {
		return nil, fmt.Errorf("copied %d of %d bytes", got, n)
	}
	buf := make([]byte, n)
	if _, err := unix.Read(pp[0], buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// socketObject accepts a listening TCP socket (re-created on its address at restore) and
// refuses every other socket with its description.
func socketObject(o *Object, pid int, ino uint64) error {
	for _, t := range []struct {
		file   string
		family int
	}{{"tcp", unix.AF_INET}, {"tcp6", unix.AF_INET6}} {
		local, remote, state, ok := findInet(procPath(pid, "net/"+t.file), ino)
		if !ok {
			continue
		}
		if state != "0A" {
			return fmt.Errorf("a TCP connection %s -> %s (state %s) cannot be checkpointed: established connections are not saved", local, remote, tcpState(state))
		}
		addr, err := hex.DecodeString(local)
		if err != nil {
			return err
		}
		o.Kind, o.Family, o.Addr = ObjListen, t.family, addr
		return nil
	}
	for _, f := range []string{"udp", "udp6", "raw", "raw6"} {
		if _, _, _, ok := findInet(procPath(pid, "net/"+f), ino); ok {
			return fmt.Errorf("a %s socket cannot be checkpointed", f)
		}
	}
	if unixSocket(pid, ino) {
		return fmt.Errorf("a unix socket (socket:[%d]) cannot be checkpointed", ino)
	}
	return fmt.Errorf("socket:[%d] (a netlink or other socket) cannot be checkpointed", ino)
}

func tcpState(s string) string {
	switch s {
	case "01":
		return "ESTABLISHED"
	case "02":
		return "SYN_SENT"
	case "06":
		return "TIME_WAIT"
	case "08":
		return "CLOSE_WAIT"
	}
	return s
}

// findInet finds socket ino in a /proc/net/{tcp,udp,...} table: its local and remote
// addresses (hex, "ADDR:PORT" with the colon removed for local) and its state.
func findInet(file string, ino uint64) (local, remote, state string, ok bool) {
	f, err := os.Open(file)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	want := strconv.FormatUint(ino, 10)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[9] != want {
			continue
		}
		return strings.Replace(fs[1], ":", "", 1), fs[2], fs[3], true
	}
	return
}

func unixSocket(pid int, ino uint64) bool {
	b, err := os.ReadFile(procPath(pid, "net/unix"))
	if err != nil {
		return false
	}
	want := " " + strconv.FormatUint(ino, 10)
	for _, l := range strings.Split(string(b), "\n") {
		if fs := strings.Fields(l); len(fs) >= 7 && " "+fs[6] == want {
			return true
		}
	}
	return false
}

// epollTargets reads what epoll instance fd watches ("tfd:" lines of its fdinfo), checking
// that each watched fd still is the file it was added as (the number may have been reused).
func epollTargets(pid, fd int) ([]EpollTarget, error) {
	b, err := os.ReadFile(procPath(pid, "fdinfo/"+strconv.Itoa(fd)))
	if err != nil {
		return nil, err
	}
	var out []EpollTarget
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "tfd:") {
			continue
		}
		f := strings.Fields(l)
		kv := map[string]string{}
		for i := 0; i+1 < len(f); i += 2 {
			kv[strings.TrimSuffix(f[i], ":")] = f[i+1]
		}
		// "pos:0" and "ino:..." are written without a space
		for _, x := range f {
			if k, v, ok := strings.Cut(x, ":"); ok && v != "" {
				kv[k] = v
			}
		}
		tfd, err1 := strconv.Atoi(kv["tfd"])
		ev, err2 := strconv.ParseUint(kv["events"], 16, 32)
		data, err3 := strconv.ParseUint(kv["data"], 16, 64)
		ino, err4 := strconv.ParseUint(kv["ino"], 16, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return nil, fmt.Errorf("epoll fdinfo line %q", l)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(procPath(pid, "fd/"+strconv.Itoa(tfd)), &st); err != nil || st.Ino != ino {
			return nil, fmt.Errorf("an epoll instance watches a file whose fd %d was closed or reused: it cannot be checkpointed", tfd)
		}
		out = append(out, EpollTarget{Fd: tfd, Events: uint32(ev), Data: data})
	}
	return out, nil
}

// unixPair takes a unix socket connected to another socket of the saved processes (a
// socketpair, or a connection between them whose listener is gone) as one end of a pair, re-made
// with socketpair(2). Bound sockets, sockets connected outside, and sockets with queued data are
// refused, naming them.
func (d *dumper) unixPair(o *Object, pid int, ino uint64) (bool, error) {
	if d.unix == nil {
		m, err := unixSockets(pid)
		if err != nil {
			return false, err
		}
		d.unix = m
	}
	s, ok := d.unix[ino]
	if !ok {
		return false, nil
	}
	const tcpListen = 10
	switch {
	case s.name != "" && s.state == tcpListen:
		return true, d.unixListener(o, s)
	case s.name != "" && s.peer != 0:
		return true, fmt.Errorf("an accepted unix connection on %q cannot be checkpointed (only pairs between the container's processes are)", strings.TrimRight(s.name, "\x00"))
	case s.name != "":
		return true, fmt.Errorf("a unix socket bound to %q cannot be checkpointed", strings.TrimRight(s.name, "\x00"))
	case s.peer == 0:
		return true, fmt.Errorf("an unconnected unix socket (socket:[%d]) cannot be checkpointed", ino)
	case s.rqueue != 0:
		return true, fmt.Errorf("a unix socket with %d bytes queued (socket:[%d]) cannot be checkpointed; try again", s.rqueue, ino)
	}
	if !d.ownSocket(s.peer) {
		return true, fmt.Errorf("a unix socket connected outside the container (socket:[%d] to socket:[%d]) cannot be checkpointed", ino, s.peer)
	}
	if peer := d.unix[s.peer]; peer.rqueue != 0 {
		return true, fmt.Errorf("a unix socket with %d bytes queued (socket:[%d]) cannot be checkpointed; try again", peer.rqueue, s.peer)
	}
	o.Kind, o.Type, o.Pipe = ObjUnixEnd, s.typ, int(min(ino, s.peer))
	if ino > s.peer {
		o.End = 1
	}
	return true, nil
}

// ownSocket says whether socket inode ino is open in one of the saved processes.
func (d *dumper) ownSocket(ino uint64) bool {
	want := fmt.Sprintf("socket:[%d]", ino)
	for _, pid := range d.o.Pids {
		fds, _ := fdList(pid)
		for _, fd := range fds {
			if t, _ := os.Readlink(procPath(pid, "fd/"+strconv.Itoa(fd))); t == want {
				return true
			}
		}
	}
	return false
}

// timerfdInfo reads a timerfd's fdinfo ("clockid", "ticks", "it_value: (s, ns)", ...).
func timerfdInfo(info map[string]string) (*Timerfd, error) {
	pair := func(v string) ([2]int64, error) {
		var p [2]int64
		_, err := fmt.Sscanf(v, "(%d, %d)", &p[0], &p[1])
		return p, err
	}
	t := &Timerfd{}
	var err error
	if t.Clock, err = strconv.Atoi(info["clockid"]); err != nil {
		return nil, fmt.Errorf("timerfd: fdinfo clockid %q", info["clockid"])
	}
	if t.Value, err = pair(info["it_value"]); err != nil {
		return nil, fmt.Errorf("timerfd: fdinfo it_value %q", info["it_value"])
	}
	if t.Interval, err = pair(info["it_interval"]); err != nil {
		return nil, fmt.Errorf("timerfd: fdinfo it_interval %q", info["it_interval"])
	}
	ticks, _ := strconv.ParseUint(info["ticks"], 10, 64)
	if ticks > 1 {
		return nil, fmt.Errorf("a timerfd with %d expirations unread cannot be checkpointed; try again", ticks)
	}
	t.Pending = ticks == 1
	return t, nil
}

// unixListener takes a listening unix socket bound to an absolute path or an abstract name;
// connections waiting to be accepted are refused (they would be lost).
func (d *dumper) unixListener(o *Object, s unixSock) error {
	if s.rqueue != 0 {
		return fmt.Errorf("the unix socket listening on %q has %d connections waiting to be accepted; try again", s.name, s.rqueue)
	}
	if !strings.HasPrefix(s.name, "/") && !strings.HasPrefix(s.name, "\x00") {
		return fmt.Errorf("the unix socket listening on the relative path %q cannot be checkpointed", s.name)
	}
	name := s.name
	if strings.HasPrefix(name, "/") {
		name = strings.TrimRight(name, "\x00") // bind's length may have covered the NULs after the path
	}
	o.Kind, o.Type, o.Path = ObjUnixListen, s.typ, name
	return nil
}
