package lifecycle

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on. Their texts are the phrases containerd's go-runc client
// and podman match on, so they must not be reworded.
var (
	ErrNotExist   = errors.New("container does not exist")
	ErrExist      = errors.New("container with given ID already exists")
	ErrNotRunning = errors.New("container not running")
	ErrNotPaused  = errors.New("container not paused")
)

// TransitionError reports an operation asked of a container in a state that does not allow it.
// It changes nothing: the container stays as it was.
type TransitionError struct {
	Op     string
	ID     string
	Status Status
}

func (e *TransitionError) Error() string {
	switch e.Op {
	case "start":
		if e.Status == Stopped {
			return "cannot start a container that has stopped"
		}
		return fmt.Sprintf("cannot start an already %s container", e.Status)
	case "delete":
		return fmt.Sprintf("cannot delete container %s that is not stopped: %s", e.ID, e.Status)
	case "exec":
		return fmt.Sprintf("cannot exec in a %s container", e.Status)
	case "events":
		return fmt.Sprintf("container %s is %s: it has no events or statistics", e.ID, e.Status)
	}
	return fmt.Sprintf("cannot %s container %s: it is %s", e.Op, e.ID, e.Status)
}
