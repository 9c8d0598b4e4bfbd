package server

import (
	"context"
	"testing"

	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestContainerCommitQuery(t *testing.T) {
	var got recorder[ContainerCommitRequest]
	b := &fakeBackend{
		commit: func(_ context.Context, req ContainerCommitRequest) (string, error) {
			got.add(req)
			return "sha256:abc", nil
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	res, err := c.ContainerCommit(ctx, "web", client.ContainerCommitOptions{
		Reference: "repo:v1",
		Comment:   "msg",
		Author:    "me",
		Changes:   []string{"CMD sh", "ENV A=1"},
	})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.ID, "sha256:abc"))

	_, err = c.ContainerCommit(ctx, "web", client.ContainerCommitOptions{NoPause: true})
	assert.NilError(t, err)

	assert.Check(t, is.DeepEqual(got.all(), []ContainerCommitRequest{
		{Container: "web", Repository: "docker.io/library/repo", Tag: "v1", Comment: "msg", Author: "me",
			Changes: []string{"CMD sh", "ENV A=1"}},
		{Container: "web", NoPause: true},
	}))
}
