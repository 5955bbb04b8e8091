package criulite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// stageObjects creates every object in the root process at fds from r.base on.
func (r *restorer) stageObjects(p *rproc) error {
	hi := 2
	for _, sp := range r.img.Processes {
		for _, f := range sp.FDs {
			hi = max(hi, f.Fd)
		}
	}
	if fds, err := fdList(p.t.tid); err == nil {
		for _, f := range fds {
			hi = max(hi, f)
		}
	}
	// Each object is made at the lowest free fds (a pipe or socketpair: two), then moved to
	// base+i: base is above every fd the making can take, so a new object never lands on a
	// slot still to be filled (a three-process shell pipeline did: "staging fd 5 landed at 7").
	r.base = hi + 1 + 2*len(r.img.Objects)
	r.objFd = map[int]int{}
	pipes := map[int][2]int{}
	for i, o := range r.img.Objects {
		fd, err := r.createObject(p, o, pipes)
		if err != nil {
			return fmt.Errorf("object %d (%s %s): %w", o.ID, o.Kind, o.Path, err)
		}
		at, err := p.t.call("fcntl(F_DUPFD_CLOEXEC)", unix.SYS_FCNTL, uint64(fd), unix.F_DUPFD_CLOEXEC, uint64(r.base+i))
		if err != nil {
			return err
		}
		if int(at) != r.base+i {
			return fmt.Errorf("staging fd %d landed at %d", r.base+i, at)
		}
		r.objFd[o.ID] = r.base + i
	}
	// the temporary fds (below base) are closed when each process's table is rebuilt
	return nil
}

func (r *restorer) createObject(p *rproc, o Object, pipes map[int][2]int) (int, error) {
	t := p.t
	switch o.Kind {
	case ObjStdio:
		return o.Stdio, nil
	case ObjFile:
		a, err := r.putString(p, o.Path)
		if err != nil {
			return 0, err
		}
		flags := o.Flags &^ (unix.O_CREAT | unix.O_TRUNC | unix.O_EXCL)
		fd, err := t.call("openat", unix.SYS_OPENAT, atFdcwd, a, uint64(flags|unix.O_CLOEXEC), 0)
		if err != nil {
			return 0, err
		}
		if o.Pos != 0 {
			if _, err := t.call("lseek", unix.SYS_LSEEK, fd, uint64(o.Pos), 0); err != nil {
				return 0, err
			}
		}
		return int(fd), nil
	case ObjPipeR, ObjPipeW:
		pp, ok := pipes[o.Pipe]
		if !ok {
			if _, err := t.call("pipe2", unix.SYS_PIPE2, r.data(), unix.O_CLOEXEC); err != nil {
				return 0, err
			}
			var b [8]byte
			if err := p.mem.read(r.data(), b[:]); err != nil {
				return 0, err
			}
			pp = [2]int{int(binary.LittleEndian.Uint32(b[0:])), int(binary.LittleEndian.Uint32(b[4:]))}
			pipes[o.Pipe] = pp
		}
		if o.Data.Len > 0 {
			if err := r.fillPipe(t.tid, pp[1], o.Data); err != nil {
				return 0, err
			}
		}
		fd := pp[0]
		if o.Kind == ObjPipeW {
			fd = pp[1]
		}
		if o.Flags&unix.O_NONBLOCK != 0 {
			if _, err := t.call("fcntl(F_SETFL)", unix.SYS_FCNTL, uint64(fd), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
				return 0, err
			}
		}
		return fd, nil
	case ObjEventfd:
		fl := unix.EFD_CLOEXEC | (o.Flags & unix.O_NONBLOCK)
		fd, err := t.call("eventfd2", unix.SYS_EVENTFD2, o.Count, uint64(fl))
		return int(fd), err
	case ObjListen:
		return r.listenSocket(p, o)
	case ObjSignalfd:
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, o.Count)
		if err := p.mem.write(r.data(), b); err != nil {
			return 0, err
		}
		fd, err := t.call("signalfd4", unix.SYS_SIGNALFD4, ^uint64(0), r.data(), 8, uint64(unix.SFD_CLOEXEC|(o.Flags&unix.O_NONBLOCK)))
		return int(fd), err
	case ObjTimerfd:
		return r.timerfd(p, o)
	case ObjUnixEnd:
		pp, ok := r.pairs[o.Pipe]
		if !ok {
			if _, err := t.call("socketpair", unix.SYS_SOCKETPAIR, unix.AF_UNIX, uint64(o.Type|unix.SOCK_CLOEXEC), 0, r.data()); err != nil {
				return 0, err
			}
			var b [8]byte
			if err := p.mem.read(r.data(), b[:]); err != nil {
				return 0, err
			}
			pp = [2]int{int(binary.LittleEndian.Uint32(b[0:])), int(binary.LittleEndian.Uint32(b[4:]))}
			r.pairs[o.Pipe] = pp
		}
		fd := pp[o.End&1]
		if o.Flags&unix.O_NONBLOCK != 0 {
			if _, err := t.call("fcntl(F_SETFL)", unix.SYS_FCNTL, uint64(fd), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
				return 0, err
			}
		}
		return fd, nil
	case ObjUnixListen:
		return r.unixListen(p, o)
	case ObjEpoll:
		fd, err := t.call("epoll_create1", unix.SYS_EPOLL_CREATE1, unix.EPOLL_CLOEXEC)
		return int(fd), err
	}
	return 0, fmt.Errorf("unknown object kind %q", o.Kind)
}

// timerfd re-creates a timerfd with the time its next expiry had left and its interval; an
// expiry that was pending unread is made pending again by arming it to fire at once.
func (r *restorer) timerfd(p *rproc, o Object) (int, error) {
	tm := o.Timer
	if tm == nil {
		return 0, errors.New("checkpoint image: a timerfd without its timer")
	}
	fd, err := p.t.call("timerfd_create", unix.SYS_TIMERFD_CREATE, uint64(tm.Clock), uint64(unix.TFD_CLOEXEC|(o.Flags&unix.O_NONBLOCK)))
	if err != nil {
		return 0, err
	}
	value := tm.Value
	if tm.Pending {
		value = [2]int64{0, 1}
	}
	if value == [2]int64{} {
		return int(fd), nil // disarmed
	}
	b := make([]byte, 32)
	for i, v := range []int64{tm.Interval[0], tm.Interval[1], value[0], value[1]} {
		binary.LittleEndian.PutUint64(b[i*8:], uint64(v))
	}
	if err := p.mem.write(r.data(), b); err != nil {
		return 0, err
	}
	if _, err := p.t.call("timerfd_settime", unix.SYS_TIMERFD_SETTIME, fd, 0, r.data(), 0); err != nil {
		return 0, err
	}
	return int(fd), nil
}

// fillPipe writes a pipe's saved bytes through /proc/PID/fd (from the restorer). The fd
// number was read from the process's memory, and the restorer's open of it is not confined:
// anything but a pipe there is refused, never written with the restorer's rights.
func (r *restorer) fillPipe(pid, fd int, b Blob) error {
	data, err := r.img.blob(b)
	if err != nil {
		return err
	}
	p := procPath(pid, "fd/"+strconv.Itoa(fd))
	var st unix.Stat_t // the process is stopped: its fd table cannot change before the open
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return fmt.Errorf("restoring a pipe: fd %d of process %d is not the pipe made for it", fd, pid)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(data)
	return err
}

// listenSocket re-creates a listening TCP socket on its saved address, inside the
// container (its bind is checked by Landlock and seccomp like the original's).
func (r *restorer) listenSocket(p *rproc, o Object) (int, error) {
	t := p.t
	var sa []byte
	switch {
	case o.Family == unix.AF_INET && len(o.Addr) == 6:
		sa = make([]byte, 16)
		binary.LittleEndian.PutUint16(sa, unix.AF_INET)
		copy(sa[2:4], o.Addr[4:6])
		for i := range 4 {
			sa[4+i] = o.Addr[3-i]
		}
	case o.Family == unix.AF_INET6 && len(o.Addr) == 18:
		sa = make([]byte, 28)
		binary.LittleEndian.PutUint16(sa, unix.AF_INET6)
		copy(sa[2:4], o.Addr[16:18])
		for w := range 4 {
			for i := range 4 {
				sa[8+w*4+i] = o.Addr[w*4+3-i]
			}
		}
	default:
		return 0, errors.New("bad saved address")
	}
	typ := unix.SOCK_STREAM | unix.SOCK_CLOEXEC | (o.Flags & unix.O_NONBLOCK)
	fd, err := t.call("socket", unix.SYS_SOCKET, uint64(o.Family), uint64(typ), 0)
	if err != nil {
		return 0, err
	}
	one := r.data() + 4*pageSize
	if err := p.mem.write(one, []byte{1, 0, 0, 0}); err != nil {
		return 0, err
	}
	if _, err := t.call("setsockopt(SO_REUSEADDR)", unix.SYS_SETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, one, 4); err != nil {
		return 0, err
	}
	a := r.data() + 5*pageSize
	if err := p.mem.write(a, sa); err != nil {
		return 0, err
	}
	if _, err := t.call("bind", unix.SYS_BIND, fd, a, uint64(len(sa))); err != nil {
		return 0, err
	}
	if _, err := t.call("listen", unix.SYS_LISTEN, fd, 4096); err != nil {
		return 0, err
	}
	return int(fd), nil
}

// restoreFDs puts every saved fd in place from the staged objects and closes the rest.
func (r *restorer) restoreFDs(p *rproc) error {
	want := map[int]bool{}
	for _, f := range p.saved.FDs {
		fl := uint64(0)
		if f.Cloexec {
			fl = unix.O_CLOEXEC
		}
		if _, err := p.t.call("dup3", unix.SYS_DUP3, uint64(r.objFd[f.Object]), uint64(f.Fd), fl); err != nil {
			return fmt.Errorf("fd %d: %w", f.Fd, err)
		}
		want[f.Fd] = true
	}
	if err := r.fillEpolls(p); err != nil {
		return err
	}
	fds, err := fdList(p.t.tid)
	if err != nil {
		return err
	}
	for _, fd := range fds {
		if !want[fd] {
			if _, err := p.t.call("close", unix.SYS_CLOSE, uint64(fd)); err != nil {
				return err
			}
		}
	}
	return nil
}

// fillEpolls adds their watched fds to the epoll instances of p, once its fds are in place
// (an instance shared by several processes is filled once, by the first).
func (r *restorer) fillEpolls(p *rproc) error {
	byID := map[int]Object{}
	for _, o := range r.img.Objects {
		byID[o.ID] = o
	}
	for _, f := range p.saved.FDs {
		o := byID[f.Object]
		if o.Kind != ObjEpoll || r.filled[o.ID] {
			continue
		}
		r.filled[o.ID] = true
		for _, tg := range o.Epoll {
			ev := make([]byte, 12) // struct epoll_event is packed on x86-64
			binary.LittleEndian.PutUint32(ev[0:], tg.Events)
			binary.LittleEndian.PutUint64(ev[4:], tg.Data)
			if err := p.mem.write(r.data(), ev); err != nil {
				return err
			}
			if _, err := p.t.call(fmt.Sprintf("epoll_ctl(fd %d)", tg.Fd), unix.SYS_EPOLL_CTL, uint64(f.Fd), unix.EPOLL_CTL_ADD, uint64(tg.Fd), r.data()); err != nil {
				return err
			}
		}
	}
	return nil
}

// unixListen re-creates a listening unix socket on its name, inside the container: a stale
// socket file left at the path by the checkpointed process is unlinked first (only a socket:
// the unlink is the container's own, checked by Landlock like its bind).
func (r *restorer) unixListen(p *rproc, o Object) (int, error) {
	t := p.t
	if len(o.Path) == 0 || len(o.Path) > 107 {
		return 0, fmt.Errorf("bad unix socket name %q", o.Path)
	}
	fd, err := t.call("socket", unix.SYS_SOCKET, unix.AF_UNIX, uint64(o.Type|unix.SOCK_CLOEXEC|(o.Flags&unix.O_NONBLOCK)), 0)
	if err != nil {
		return 0, err
	}
	sa := make([]byte, 2+len(o.Path))
	binary.LittleEndian.PutUint16(sa, unix.AF_UNIX)
	copy(sa[2:], o.Path)
	if o.Path[0] == '/' {
		a, err := r.putString(p, o.Path)
		if err != nil {
			return 0, err
		}
		st := r.data() + 6*pageSize
		if _, err := t.call("newfstatat", unix.SYS_NEWFSTATAT, atFdcwd, a, st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
			b := make([]byte, 144)
			if err := p.mem.read(st, b); err != nil {
				return 0, err
			}
			if binary.LittleEndian.Uint32(b[24:])&unix.S_IFMT == unix.S_IFSOCK {
				if _, err := t.call("unlinkat", unix.SYS_UNLINKAT, atFdcwd, a, 0); err != nil {
					return 0, err
				}
			}
		}
	}
	a := r.data() + 5*pageSize
	if err := p.mem.write(a, sa); err != nil {
		return 0, err
	}
	if _, err := t.call("bind("+o.Path+")", unix.SYS_BIND, fd, a, uint64(len(sa))); err != nil {
		return 0, err
	}
	if _, err := t.call("listen", unix.SYS_LISTEN, fd, 4096); err != nil {
		return 0, err
	}
	return int(fd), nil
}
