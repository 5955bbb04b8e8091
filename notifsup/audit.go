package notifsup

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// Denial is one refusal the supervisor made for the policy, as the audit log records it.
type Denial struct {
	Time    time.Time `json:"time"`
	Pid     int       `json:"pid"`
	Syscall string    `json:"syscall"`
	Object  string    `json:"object"` // a host path, or host:port
	Rule    string    `json:"rule"`   // the policy field that refused it
	Errno   string    `json:"errno"`
}

// Option configures Serve.
type Option func(*options)

type options struct {
	audit func(Denial)
}

// WithAudit has every refusal of the policy reported to fn (from the worker that made it:
// fn must be quick and safe for concurrent use).
func WithAudit(fn func(Denial)) Option {
	return func(o *options) { o.audit = fn }
}

// refusal is an answer the policy gave (not a failure of the call): the handler returns it as
// its errno and reports it.
type refusal struct {
	errno  unix.Errno
	object string
	rule   string
}

func (r *refusal) Error() string { return r.rule + ": " + r.object + ": " + r.errno.Error() }
func (r *refusal) Unwrap() error { return r.errno }

func refuse(errno unix.Errno, object, rule string) error {
	return &refusal{errno: errno, object: object, rule: rule}
}

// report sends err to the audit when it is a refusal of the policy.
func (c *Call) report(syscall string, err error) {
	var r *refusal
	if c.audit == nil || !errors.As(err, &r) {
		return
	}
	c.audit(Denial{Time: time.Now().UTC(), Pid: int(c.Req.Pid), Syscall: syscall, Object: r.object,
		Rule: r.rule, Errno: unix.ErrnoName(r.errno)})
}
