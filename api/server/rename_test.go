package server

import (
	"context"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestContainerRename(t *testing.T) {
	var got recorder[[2]string]
	b := &fakeBackend{
		rename: func(_ context.Context, id, newName string) error {
			got.add([2]string{id, newName})
			if newName == "taken" {
				return errdefs.ErrConflict.WithMessage(`Conflict. The container name "/taken" is already in use`)
			}
			return nil
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	_, err := c.ContainerRename(ctx, "web", client.ContainerRenameOptions{NewName: "api"})
	assert.NilError(t, err)

	_, err = c.ContainerRename(ctx, "web", client.ContainerRenameOptions{NewName: "taken"})
	assert.Check(t, errdefs.IsConflict(err), "got %v", err)
	assert.Check(t, is.ErrorContains(err, `The container name "/taken" is already in use`))

	assert.Check(t, is.DeepEqual(got.all(), [][2]string{{"web", "api"}, {"web", "taken"}}))
}
