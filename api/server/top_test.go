package server

import (
	"context"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestContainerTop(t *testing.T) {
	var got recorder[string]
	b := &fakeBackend{
		top: func(_ context.Context, id, psArgs string) (container.TopResponse, error) {
			got.add(id + " " + psArgs)
			return container.TopResponse{
				Titles:    []string{"PID", "CMD"},
				Processes: [][]string{{"42", "sleep 60"}},
			}, nil
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	res, err := c.ContainerTop(ctx, "web", client.ContainerTopOptions{Arguments: []string{"-o", "pid,args"}})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res.Titles, []string{"PID", "CMD"}))
	assert.Check(t, is.DeepEqual(res.Processes, [][]string{{"42", "sleep 60"}}))

	_, err = c.ContainerTop(ctx, "web", client.ContainerTopOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got.all(), []string{"web -o pid,args", "web "}))
}
