package criulite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// restoreState sets the per-process state: mm bounds, personality, credentials, umask, cwd,
// limits, signal handlers, interval timers.
func (r *restorer) restoreState(p *rproc) error {
	sp, t := p.saved, p.t
	if err := r.setMM(p); err != nil {
		return err
	}
	if b, err := os.ReadFile(procPath(t.tid, "personality")); err == nil {
		cur, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 32)
		if uint32(cur) != sp.Personality {
			if _, err := t.call("personality", unix.SYS_PERSONALITY, uint64(sp.Personality)); err != nil {
				return err
			}
		}
	}
	if err := r.setCreds(p); err != nil {
		return err
	}
	if _, err := t.call("umask", unix.SYS_UMASK, uint64(sp.Umask)); err != nil {
		return err
	}
	a, err := r.putString(p, sp.Cwd)
	if err != nil {
		return err
	}
	if _, err := t.call("chdir("+sp.Cwd+")", unix.SYS_CHDIR, a); err != nil {
		return err
	}
	buf := make([]byte, 32)
	for _, l := range sp.Rlimits {
		binary.LittleEndian.PutUint64(buf[0:], l.Cur)
		binary.LittleEndian.PutUint64(buf[8:], l.Max)
		if err := p.mem.write(r.data(), buf[:16]); err != nil {
			return err
		}
		if _, err := t.call(fmt.Sprintf("prlimit(resource %d)", l.Resource), unix.SYS_PRLIMIT64, 0, uint64(l.Resource), r.data(), 0); err != nil {
			return err
		}
	}
	for _, sa := range sp.Sigactions {
		binary.LittleEndian.PutUint64(buf[0:], sa.Handler)
		binary.LittleEndian.PutUint64(buf[8:], sa.Flags)
		binary.LittleEndian.PutUint64(buf[16:], sa.Restorer)
		binary.LittleEndian.PutUint64(buf[24:], sa.Mask)
		if err := p.mem.write(r.data(), buf); err != nil {
			return err
		}
		if _, err := t.call(fmt.Sprintf("rt_sigaction(%d)", sa.Sig), unix.SYS_RT_SIGACTION, uint64(sa.Sig), r.data(), 0, 8); err != nil {
			return err
		}
	}
	for which, it := range sp.Itimers {
		if it.Value == [2]int64{} {
			continue
		}
		binary.LittleEndian.PutUint64(buf[0:], uint64(it.Interval[0]))
		binary.LittleEndian.PutUint64(buf[8:], uint64(it.Interval[1]))
		binary.LittleEndian.PutUint64(buf[16:], uint64(it.Value[0]))
		binary.LittleEndian.PutUint64(buf[24:], uint64(it.Value[1]))
		if err := p.mem.write(r.data(), buf); err != nil {
			return err
		}
		if _, err := t.call("setitimer", unix.SYS_SETITIMER, uint64(which), r.data(), 0); err != nil {
			return err
		}
	}
	return nil
}

// setMM restores the mm bounds (brk above all: malloc continues the saved heap) and auxv
// with prctl(PR_SET_MM_MAP), which needs no privilege: the kernel checks the values.
func (r *restorer) setMM(p *rproc) error {
	mm := p.saved.MM
	b := make([]byte, 104)
	for i, v := range []uint64{mm.StartCode, mm.EndCode, mm.StartData, mm.EndData, mm.StartBrk, mm.Brk, mm.StartStack, mm.ArgStart, mm.ArgEnd, mm.EnvStart, mm.EnvEnd} {
		binary.LittleEndian.PutUint64(b[i*8:], v)
	}
	auxv := p.saved.Auxv
	if len(auxv) > 0 && len(auxv) <= 4*pageSize {
		aa := r.data() + 2*pageSize
		if err := p.mem.write(aa, auxv); err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(b[88:], aa)
		binary.LittleEndian.PutUint32(b[96:], uint32(len(auxv)))
	}
	binary.LittleEndian.PutUint32(b[100:], ^uint32(0)) // exe_fd: keep the exec'd program
	if err := p.mem.write(r.data(), b); err != nil {
		return err
	}
	const prSetMM, prSetMMMap = 35, 14
	_, err := p.t.call("prctl(PR_SET_MM_MAP)", unix.SYS_PRCTL, prSetMM, prSetMMMap, r.data(), uint64(len(b)), 0)
	return err
}

// setCreds gives the process its saved ids when they differ from the container's (a
// process that changed its own); the kernel refuses any the process could not take itself.
func (r *restorer) setCreds(p *rproc) error {
	st, err := statusFields(p.t.tid)
	if err != nil {
		return err
	}
	sp := p.saved
	if g := ids(st["Gid"]); g != sp.Gids {
		if _, err := p.t.call("setresgid", unix.SYS_SETRESGID, uint64(sp.Gids[0]), uint64(sp.Gids[1]), uint64(sp.Gids[2])); err != nil {
			return err
		}
	}
	if u := ids(st["Uid"]); u != sp.Uids {
		if _, err := p.t.call("setresuid", unix.SYS_SETRESUID, uint64(sp.Uids[0]), uint64(sp.Uids[1]), uint64(sp.Uids[2])); err != nil {
			return err
		}
	}
	return nil
}

const threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM

// restoreThreads creates the other threads and sets every thread's own state.
func (r *restorer) restoreThreads(p *rproc) error {
	for _, st := range p.saved.Threads[1:] {
		flags := uint64(threadFlags)
		if st.TidAddr != 0 {
			flags |= unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID
		}
		var tid int
		p.t.fork = func(c int) { tid = c }
		_, err := p.t.call("clone(thread)", unix.SYS_CLONE, flags, 0, 0, st.TidAddr, 0)
		p.t.fork = nil
		if err != nil {
			return err
		}
		if tid == 0 {
			return errors.New("clone: no clone event")
		}
		t, err := r.newThread(tid, p.t.sys)
		if err != nil {
			return err
		}
		p.threads = append(p.threads, t)
	}
	for i, st := range p.saved.Threads {
		if err := r.threadState(p, p.threads[i], st, i == 0); err != nil {
			return fmt.Errorf("thread %d: %w", st.Tid, err)
		}
	}
	return nil
}

func (r *restorer) threadState(p *rproc, t *thread, st Thread, leader bool) error {
	if leader && st.TidAddr != 0 {
		if _, err := t.call("set_tid_address", unix.SYS_SET_TID_ADDRESS, st.TidAddr); err != nil {
			return err
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(t.tid))
		if err := p.mem.write(st.TidAddr, b[:]); err != nil {
			return err
		}
	}
	if st.Comm != "" {
		a, err := r.putString(p, st.Comm)
		if err != nil {
			return err
		}
		if _, err := t.call("prctl(PR_SET_NAME)", unix.SYS_PRCTL, unix.PR_SET_NAME, a); err != nil {
			return err
		}
	}
	if st.AltStack[1]&ssDisable == 0 && st.AltStack[2] != 0 {
		b := make([]byte, 24)
		binary.LittleEndian.PutUint64(b[0:], st.AltStack[0])
		binary.LittleEndian.PutUint32(b[8:], uint32(st.AltStack[1]&^ssOnStack))
		binary.LittleEndian.PutUint64(b[16:], st.AltStack[2])
		if err := p.mem.write(r.data(), b); err != nil {
			return err
		}
		if _, err := t.call("sigaltstack", unix.SYS_SIGALTSTACK, r.data(), 0); err != nil {
			return err
		}
	}
	if st.RobustList != 0 {
		if _, err := t.call("set_robust_list", unix.SYS_SET_ROBUST_LIST, st.RobustList, st.RobustLen); err != nil {
			return err
		}
	}
	if st.Rseq != nil {
		if _, err := t.call("rseq", unix.SYS_RSEQ, st.Rseq.Addr, uint64(st.Rseq.Len), 0, uint64(st.Rseq.Sig)); err != nil {
			return err
		}
	}
	return nil
}

// queueSignals puts the saved pending signals back: those the thread (for the shared queue,
// the leader) blocks are queued again with their siginfo by the thread itself
// (rt_tgsigqueueinfo to oneself may carry any si_code); one that is not blocked is delivered
// when the thread is let go, as the signal of its detach. Signals are given in the order saved.
func (r *restorer) queueSignals(p *rproc) error {
	queue := func(t *thread, mask uint64, infos [][]byte, shared bool) error {
		for _, si := range infos {
			if len(si) != 128 {
				return errors.New("checkpoint image: a pending siginfo is not 128 bytes")
			}
			sig := int(binary.LittleEndian.Uint32(si))
			if sig < 1 || sig > 64 {
				return fmt.Errorf("checkpoint image: pending signal %d", sig)
			}
			if mask&(1<<(sig-1)) == 0 {
				if len(t.sigs) > 0 {
					return fmt.Errorf("thread %d had several unblocked signals pending: cannot restore them all", t.tid)
				}
				t.sigs = append(t.sigs, unix.Signal(sig))
				continue
			}
			if err := p.mem.write(r.data(), si); err != nil {
				return err
			}
			var err error
			if shared {
				_, err = t.call("rt_sigqueueinfo", unix.SYS_RT_SIGQUEUEINFO, uint64(p.t.tid), uint64(sig), r.data())
			} else {
				_, err = t.call("rt_tgsigqueueinfo", unix.SYS_RT_TGSIGQUEUEINFO, uint64(p.t.tid), uint64(t.tid), uint64(sig), r.data())
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	for i, st := range p.saved.Threads {
		if err := queue(p.threads[i], st.Sigmask, st.Pending, false); err != nil {
			return err
		}
	}
	return queue(p.t, p.saved.Threads[0].Sigmask, p.saved.Pending, true)
}

// release unmaps the scratch pages, sets every thread's saved registers and detaches.
func (r *restorer) release() error {
	for _, sp := range r.img.Processes {
		p := r.procs[sp.Pid]
		maps, err := readMaps(p.t.tid)
		if err != nil {
			return err
		}
		var others []mapping
		for _, m := range maps {
			if !r.staged(m.start, m.end) {
				others = append(others, m)
			}
		}
		sys, err := findSyscall(p.mem, others)
		if err != nil {
			return err
		}
		p.t.sys = sys
		for _, s := range r.reserved {
			if _, err := p.t.call("munmap(staged)", unix.SYS_MUNMAP, s[0], s[1]-s[0]); err != nil {
				return err
			}
		}
		for i, st := range sp.Threads {
			if err := setSigmask(p.threads[i].tid, st.Sigmask); err != nil {
				return fmt.Errorf("ptrace(SETSIGMASK): %w", err)
			}
		}
		if err := r.queueSignals(p); err != nil {
			return err
		}
		if _, err := p.t.call("munmap(scratch)", unix.SYS_MUNMAP, r.scratch, scratchPages*pageSize); err != nil {
			return err
		}
		for i, st := range sp.Threads {
			t := p.threads[i]
			xs, err := r.img.blob(st.Xstate)
			if err != nil {
				return err
			}
			if err := setXstate(t.tid, xs); err != nil {
				return err
			}
			regs := st.Regs
			regs.Orig_rax = ^uint64(0)
			if err := unix.PtraceSetRegs(t.tid, &regs); err != nil {
				return fmt.Errorf("ptrace(SETREGS, %d): %w", t.tid, err)
			}
		}
		p.mem.close()
	}
	var errs []error
	for _, t := range r.all {
		sig := 0
		if len(t.sigs) > 0 {
			sig = int(t.sigs[0]) // a pending signal the thread does not block: delivered now
		}
		if err := ptrace(unix.PTRACE_DETACH, t.tid, 0, uintptr(sig)); err != nil {
			errs = append(errs, fmt.Errorf("ptrace(DETACH, %d): %w", t.tid, err))
		}
	}
	return errors.Join(errs...)
}
