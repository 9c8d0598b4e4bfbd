package engine

import (
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	ctr "github.com/berth-engine/berth/container"
)

func TestRemoveConflictMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status  ctr.Status
		message string
	}{
		{ctr.Running, `cannot remove container "/web": container is running: stop the container before removing or force remove`},
		{ctr.Restarting, `cannot remove container "/web": container is restarting: stop the container before removing or force remove`},
		{ctr.Paused, `cannot remove container "/web": container is paused and must be unpaused first`},
	}
	for _, tc := range cases {
		err := removeConflict("web", tc.status)
		assert.Check(t, errdefs.IsConflict(err), "status %s: %v", tc.status, err)
		assert.Check(t, is.ErrorContains(err, tc.message))
	}
	for _, status := range []ctr.Status{ctr.Created, ctr.Exited, ctr.Dead} {
		assert.Check(t, is.Nil(removeConflict("web", status)), "status %s", status)
	}
}
