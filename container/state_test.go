package container

import (
	"errors"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
)

func TestStateMove(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		from    Status
		to      Status
		allowed bool
	}{
		{"start created", Created, Running, true},
		{"stop running", Running, Exited, true},
		{"restart exited", Exited, Running, true},
		{"pause running", Running, Paused, true},
		{"pause exited", Exited, Paused, false},
		{"remove running", Running, Removing, false},
		{"revive dead", Dead, Running, false},
		{"same state", Exited, Exited, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := State{Status: tc.from}
			err := s.Move(tc.to)
			if tc.allowed {
				assert.NilError(t, err)
				assert.Equal(t, s.Status, tc.to)
				return
			}
			var te *TransitionError
			assert.Assert(t, errors.As(err, &te))
			assert.Assert(t, errdefs.IsConflict(err))
			assert.Equal(t, s.Status, tc.from)
		})
	}
}

func TestStateRunExit(t *testing.T) {
	t.Parallel()
	s := State{Status: Created}
	now := time.Now()
	assert.NilError(t, s.SetRunning(42, now))
	assert.Equal(t, s.Pid, 42)
	assert.Assert(t, s.IsRunning())

	assert.NilError(t, s.SetExited(3, false, now.Add(time.Second), ""))
	assert.Equal(t, s.Pid, 0)
	assert.Equal(t, s.ExitCode, 3)
	assert.Assert(t, !s.IsRunning())
	assert.Assert(t, s.FinishedAt.After(s.StartedAt))
}
