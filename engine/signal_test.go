package engine

import (
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParseSignal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want syscall.Signal
	}{
		{"9", syscall.SIGKILL},
		{"KILL", syscall.SIGKILL},
		{"sigterm", syscall.SIGTERM},
		{"SIGUSR1", syscall.SIGUSR1},
		{"hup", syscall.SIGHUP},
		{"RTMIN", 34},
		{"SIGRTMIN+3", 37},
		{"rtmax-1", 63},
		{"64", 64},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSignal(tc.in)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(got, tc.want))
		})
	}
	for _, bad := range []string{"FOO", "0", "65", "-1", "", "RTMIN-1", "RTMAX+1", "RTMIN+40"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			_, err := ParseSignal(bad)
			assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
		})
	}
}
