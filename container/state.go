package container

import (
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// Status is the lifecycle state of a container, with the names the Engine
// API uses.
type Status string

// The container states. A container moves between them only along the edges
// in transitions.
const (
	Created    Status = "created"
	Running    Status = "running"
	Paused     Status = "paused"
	Restarting Status = "restarting"
	Removing   Status = "removing"
	Exited     Status = "exited"
	Dead       Status = "dead"
)

// transitions lists, for each state, the states it may move to.
var transitions = map[Status][]Status{
	Created:    {Running, Exited, Removing, Dead},
	Running:    {Exited, Paused, Restarting, Dead},
	Paused:     {Running, Exited, Dead},
	Restarting: {Running, Exited, Removing, Dead},
	Exited:     {Running, Restarting, Removing, Dead},
	Removing:   {Dead, Exited},
	Dead:       {Removing},
}

// TransitionError reports a state change the lifecycle does not allow.
type TransitionError struct {
	From, To Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("container is %s, cannot move to %s", e.From, e.To)
}

// Unwrap classifies a forbidden transition as a conflict.
func (e *TransitionError) Unwrap() error { return errdefs.ErrConflict }

// ValidStatus reports whether s names a container state.
func ValidStatus(s string) bool {
	_, ok := transitions[Status(s)]
	return ok
}

// CanMove reports whether a container in state from may move to state to.
func CanMove(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// State is the persisted runtime state of a container.
type State struct {
	Status     Status
	Pid        int
	ExitCode   int
	Error      string `json:",omitempty"`
	OOMKilled  bool   `json:",omitempty"`
	StartedAt  time.Time
	FinishedAt time.Time
	// Health is the health check state, nil when the container has no
	// health check. It is kept after the container stops.
	Health *container.Health `json:",omitempty"`
}

// Move changes the status to to, or returns a *TransitionError.
func (s *State) Move(to Status) error {
	if s.Status == to {
		return nil
	}
	if !CanMove(s.Status, to) {
		return &TransitionError{From: s.Status, To: to}
	}
	s.Status = to
	return nil
}

// SetRunning records a started process.
func (s *State) SetRunning(pid int, at time.Time) error {
	if err := s.Move(Running); err != nil {
		return err
	}
	s.Pid = pid
	s.ExitCode = 0
	s.Error = ""
	s.OOMKilled = false
	s.StartedAt = at
	s.FinishedAt = time.Time{}
	return nil
}

// SetExited records how the process ended.
func (s *State) SetExited(code int, oomKilled bool, at time.Time, errMsg string) error {
	if err := s.Move(Exited); err != nil {
		return err
	}
	s.Pid = 0
	s.ExitCode = code
	s.OOMKilled = oomKilled
	s.Error = errMsg
	s.FinishedAt = at
	return nil
}

// IsRunning reports whether the container has a live process.
func (s *State) IsRunning() bool {
	return s.Status == Running || s.Status == Paused
}
