package server

import (
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"gotest.tools/v3/assert"
)

func TestImageDiskUsageCountsLayersOnce(t *testing.T) {
	images := []image.Summary{
		{ID: "base", Size: 1000, Containers: 1},
		{ID: "child", ParentID: "base", Size: 1300},
		{ID: "grandchild", ParentID: "child", Size: 1350, Containers: 2},
		{ID: "other", Size: 500},
	}
	usage, layers := imageDiskUsage(images)

	assert.Equal(t, usage.TotalCount, int64(4))
	assert.Equal(t, usage.ActiveCount, int64(2))
	assert.Equal(t, usage.TotalSize, int64(1850))
	assert.Equal(t, layers, int64(1850))
	// Only "other" is neither used nor below a used image.
	assert.Equal(t, usage.Reclaimable, int64(500))
	assert.Equal(t, usage.Items[2].SharedSize, int64(1300))
	assert.Equal(t, usage.Items[3].SharedSize, int64(0))
}

func TestContainerDiskUsageReclaimsStopped(t *testing.T) {
	usage := containerDiskUsage([]container.Summary{
		{ID: "a", State: container.StateRunning, SizeRw: 10},
		{ID: "b", State: container.StateExited, SizeRw: 20},
		{ID: "c", State: container.StateCreated, SizeRw: 5},
	})

	assert.Equal(t, usage.TotalCount, int64(3))
	assert.Equal(t, usage.ActiveCount, int64(1))
	assert.Equal(t, usage.TotalSize, int64(35))
	assert.Equal(t, usage.Reclaimable, int64(25))
}
