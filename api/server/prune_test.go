package server

import (
	"context"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestContainersPrune(t *testing.T) {
	var got recorder[map[string][]string]
	b := &fakeBackend{
		ctrPrune: func(_ context.Context, filters map[string][]string) (container.PruneReport, error) {
			got.add(filters)
			return container.PruneReport{ContainersDeleted: []string{"abc"}, SpaceReclaimed: 42}, nil
		},
	}
	c := startServer(t, b).client(t)

	res, err := c.ContainerPrune(context.Background(), client.ContainerPruneOptions{
		Filters: make(client.Filters).Add("until", "1h"),
	})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res.Report.ContainersDeleted, []string{"abc"}))
	assert.Check(t, is.Equal(res.Report.SpaceReclaimed, uint64(42)))
	assert.Check(t, is.DeepEqual(got.all(), []map[string][]string{{"until": {"1h"}}}))
}

func TestImagesPrune(t *testing.T) {
	var got recorder[map[string][]string]
	b := &fakeBackend{
		imgPrune: func(_ context.Context, filters map[string][]string) (image.PruneReport, error) {
			got.add(filters)
			return image.PruneReport{
				ImagesDeleted:  []image.DeleteResponse{{Untagged: "app:latest"}, {Deleted: "sha256:abc"}},
				SpaceReclaimed: 7,
			}, nil
		},
	}
	c := startServer(t, b).client(t)

	res, err := c.ImagePrune(context.Background(), client.ImagePruneOptions{
		Filters: make(client.Filters).Add("dangling", "false"),
	})
	assert.NilError(t, err)
	assert.Check(t, is.Len(res.Report.ImagesDeleted, 2))
	assert.Check(t, is.Equal(res.Report.SpaceReclaimed, uint64(7)))
	assert.Check(t, is.DeepEqual(got.all(), []map[string][]string{{"dangling": {"false"}}}))
}
