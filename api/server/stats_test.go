package server

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestContainerStatsOptions(t *testing.T) {
	var got recorder[StatsOptions]
	b := &fakeBackend{
		stats: func(_ context.Context, id string, opts StatsOptions, fn func(container.StatsResponse) error) error {
			got.add(opts)
			return fn(container.StatsResponse{ID: id, PidsStats: container.PidsStats{Current: 3}})
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	for _, options := range []client.ContainerStatsOptions{{}, {IncludePreviousSample: true}} {
		res, err := c.ContainerStats(ctx, "web", options)
		assert.NilError(t, err)
		var stats container.StatsResponse
		assert.NilError(t, json.NewDecoder(res.Body).Decode(&stats))
		res.Body.Close()
		assert.Check(t, is.Equal(stats.ID, "web"))
		assert.Check(t, is.Equal(stats.PidsStats.Current, uint64(3)))
	}
	assert.Check(t, is.DeepEqual(got.all(), []StatsOptions{{OneShot: true}, {}}))
}
