package lifecycle

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"

	"github.com/sirupsen/logrus"

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

type auditLog struct {
	mu sync.Mutex
	id string
	f  *os.File
}

func openAudit(stateDir string) *auditLog {
	f, err := os.OpenFile(filepath.Join(stateDir, auditFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		logrus.Warnf("audit log: %v", err) // the refusals still happen; only their record is lost
	}
	return &auditLog{id: filepath.Base(stateDir), f: f}
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
	if l.f != nil {
		_, _ = l.f.Write(append(b, '\n'))
	}
}

func (l *auditLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
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
