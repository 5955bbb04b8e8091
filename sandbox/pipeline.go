package sandbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

// Stage is a command bound to a sandbox, run later as part of a Pipeline (the seed's
// sandbox.cmd(args)).
type Stage struct {
	sb   *Sandbox
	args []string
}

// Cmd returns a lazy stage running args in s.
func (s *Sandbox) Cmd(args []string) *Stage { return &Stage{sb: s, args: slices.Clone(args)} }

// Pipe makes a pipeline of st then next (the seed's `|`).
func (st *Stage) Pipe(next *Stage) *Pipeline { return Pipe(st, next) }

// Run runs the stage alone, as Sandbox.Run.
func (st *Stage) Run(ctx context.Context) (*Result, error) { return Pipe(st).Run(ctx) }

// Pipeline chains stages: each stage's stdout is the next one's stdin, each stage runs in its
// own sandbox under its own policy.
type Pipeline struct{ stages []*Stage }

// Pipe returns a pipeline of the stages, in order.
func Pipe(stages ...*Stage) *Pipeline { return &Pipeline{stages: slices.Clone(stages)} }

// Pipe returns a new pipeline with next appended.
func (p *Pipeline) Pipe(next *Stage) *Pipeline { return Pipe(append(slices.Clone(p.stages), next)...) }

// Run runs every stage at once and returns the last stage's Result, with its stdout and
// stderr captured (the other stages' stderr is discarded). The first stage reads its sandbox's
// WithStdin, or /dev/null. When ctx ends, every stage is killed. A stage that fails to start
// kills the ones already started and its error is returned.
func (p *Pipeline) Run(ctx context.Context) (*Result, error) {
	if len(p.stages) == 0 {
		return nil, newError(kindSandbox, "run", errors.New("empty pipeline"))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := p.wire()
	if err != nil {
		return nil, newError(kindSandbox, "run", err)
	}
	defer w.close()
	hs, err := p.startAll(ctx, w)
	if err != nil {
		cancel()
		p.waitAll(ctx, hs)
		return nil, err
	}
	codes, errs := p.waitAll(ctx, hs)
	last := len(p.stages) - 1
	res := &Result{ExitCode: codes[last], Stdout: w.out.bytes(), Stderr: w.errs.bytes(), Err: errs[last]}
	return res, res.Err
}

// startAll starts the stages in order, closing our copies of each stage's fds once it holds
// them, so that a reader sees EOF when its writer is gone.
func (p *Pipeline) startAll(ctx context.Context, w *wiring) ([]*lifecycle.Handle, error) {
	var hs []*lifecycle.Handle
	for i, st := range p.stages {
		h, err := st.sb.start(ctx, st.args, w.stdio[i])
		w.release(i)
		if err != nil {
			return hs, err
		}
		hs = append(hs, h)
	}
	return hs, nil
}

func (p *Pipeline) waitAll(ctx context.Context, hs []*lifecycle.Handle) ([]int, []error) {
	codes, errs := make([]int, len(hs)), make([]error, len(hs))
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() { codes[i], errs[i] = p.stages[i].sb.wait(ctx, h) })
	}
	wg.Wait()
	return codes, errs
}

// wiring holds the fds of a pipeline run: stdio[i] is stage i's stdin, stdout, stderr.
type wiring struct {
	stdio []([3]*os.File)
	out   *capture // the last stage's stdout
	errs  *capture // the last stage's stderr
	owned [][]*os.File
}

func (p *Pipeline) wire() (w *wiring, err error) {
	n := len(p.stages)
	w = &wiring{stdio: make([][3]*os.File, n), owned: make([][]*os.File, n)}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if err = w.firstStdin(p.stages[0].sb.opts.stdin); err != nil {
		return w, err
	}
	for i := 0; i < n-1; i++ {
		r, wr, err := os.Pipe()
		if err != nil {
			return w, err
		}
		w.set(i, 1, wr)
		w.set(i+1, 0, r)
		if w.stdio[i][2], err = w.devNull(i); err != nil {
			return w, err
		}
	}
	if w.out, err = newCapture(); err != nil {
		return w, err
	}
	w.set(n-1, 1, w.out.w)
	if w.errs, err = newCapture(); err != nil {
		return w, err
	}
	w.set(n-1, 2, w.errs.w)
	return w, nil
}

func (w *wiring) set(stage, fd int, f *os.File) {
	w.stdio[stage][fd] = f
	w.owned[stage] = append(w.owned[stage], f)
}

func (w *wiring) devNull(stage int) (*os.File, error) {
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err == nil {
		w.owned[stage] = append(w.owned[stage], f)
	}
	return f, err
}

// firstStdin gives the first stage /dev/null, the caller's file, or a pipe fed from r.
func (w *wiring) firstStdin(r io.Reader) error {
	if f, ok := r.(*os.File); ok {
		w.stdio[0][0] = f // the caller's: not ours to close
		return nil
	}
	if r == nil {
		f, err := w.devNull(0)
		w.stdio[0][0] = f
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	w.set(0, 0, pr)
	go func() {
		_, _ = io.Copy(pw, r)
		pw.Close()
	}()
	return nil
}

// release closes our copies of stage i's fds (the container holds its own now).
func (w *wiring) release(i int) {
	for _, f := range w.owned[i] {
		f.Close()
	}
	w.owned[i] = nil
}

func (w *wiring) close() {
	for i := range w.owned {
		w.release(i)
	}
	for _, c := range []*capture{w.out, w.errs} {
		if c != nil {
			c.w.Close()
			c.bytes()
		}
	}
}

// capture collects what a pipe's readers get until every writer has closed it.
type capture struct {
	r, w *os.File
	buf  bytes.Buffer
	done chan struct{}
}

func newCapture() (*capture, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c := &capture{r: r, w: w, done: make(chan struct{})}
	go func() {
		_, _ = io.Copy(&c.buf, r)
		close(c.done)
	}()
	return c, nil
}

// captureGrace is how long bytes waits for EOF once the command is gone: a process that
// escaped the container's tracking (possible without a cgroup) may still hold the pipe.
const captureGrace = time.Second

// bytes returns what was captured, once the writers are gone or the grace period is over.
func (c *capture) bytes() []byte {
	select {
	case <-c.done:
	case <-time.After(captureGrace):
		c.r.Close()
		<-c.done
	}
	c.r.Close()
	return c.buf.Bytes()
}
