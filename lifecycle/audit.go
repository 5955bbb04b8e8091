package lifecycle

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/notifsup"
)

// auditFile is the container's audit log in its state dir: one JSON object a line for every
// refusal the supervisor made for the policy (time, container, pid, syscall, object, rule,
// errno). `sandlock-runtime events --audit ID` reads it; it goes with the state dir.
const auditFile = "audit.jsonl"

// AuditRecord is one line of the audit log: a refusal the supervisor made for the policy.
type AuditRecord struct {
	Container string `json:"container"`
	notifsup.Denial
}

// auditLog makes the file at the first refusal: most containers have none, and a file made
// and removed for each costs more than the rest of the supervisor's state on a busy ext4
// (readers take a missing log for an empty one). It is made through a descriptor of the state
// dir opened at start, because record runs on the handlers' threads, which may have taken the
// container's root as theirs: a path would resolve there.
type auditLog struct {
	mu  sync.Mutex
	id  string
	dir int // the state dir (O_PATH), -1 once the file is open or could not be
	f   *os.File
}

func openAudit(stateDir string) *auditLog {
	dir, err := unix.Open(stateDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		logrus.Warnf("audit log: %v", err) // the refusals still happen; only their record is lost
		dir = -1
	}
	return &auditLog{id: filepath.Base(stateDir), dir: dir}
}

// file is the open log, made on first use; nil when it cannot be. l.mu is held.
func (l *auditLog) file() *os.File {
	if l.f != nil || l.dir < 0 {
		return l.f
	}
	fd, err := unix.Openat(l.dir, auditFile, unix.O_CREAT|unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	unix.Close(l.dir)
	l.dir = -1
	if err != nil {
		logrus.Warnf("audit log: %s: %v", auditFile, err)
		return nil
	}
	l.f = os.NewFile(uintptr(fd), auditFile)
	return l.f
}

// record appends one refusal, and logs it at debug level in the runtime's log.
func (l *auditLog) record(d notifsup.Denial) {
	b, err := json.Marshal(AuditRecord{Container: l.id, Denial: d})
	if err != nil {
		return
	}
	logrus.WithFields(logrus.Fields{"container": l.id, "pid": d.Pid, "syscall": d.Syscall,
		"object": d.Object, "rule": d.Rule}).Debug("refused")
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.file(); f != nil {
		_, _ = f.Write(append(b, '\n'))
	}
}

func (l *auditLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	if l.dir >= 0 {
		unix.Close(l.dir)
		l.dir = -1
	}
}

// Audit returns the refusals recorded for a container so far.
func (c *Container) Audit() ([]AuditRecord, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, auditFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []AuditRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var r AuditRecord
		if err := dec.Decode(&r); err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}
