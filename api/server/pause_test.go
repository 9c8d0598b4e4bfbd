package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestContainerPauseUnpause(t *testing.T) {
	var paused, unpaused recorder[string]
	b := &fakeBackend{
		pause: func(_ context.Context, id string) error {
			paused.add(id)
			return nil
		},
		unpause: func(_ context.Context, id string) error {
			unpaused.add(id)
			return fmt.Errorf("Container %s is not paused: %w", id, errdefs.ErrConflict)
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	_, err := c.ContainerPause(ctx, "web", client.ContainerPauseOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(paused.all(), []string{"web"}))

	_, err = c.ContainerUnpause(ctx, "web", client.ContainerUnpauseOptions{})
	assert.Check(t, errdefs.IsConflict(err), "got %v", err)
	assert.Check(t, is.Error(err, "Error response from daemon: Container web is not paused"))
	assert.Check(t, is.DeepEqual(unpaused.all(), []string{"web"}))
}
