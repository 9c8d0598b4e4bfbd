package engine

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/events"
)

// ContainerExport returns the container's whole root filesystem as a tar.
// It works on running and stopped containers.
func (e *Engine) ContainerExport(ctx context.Context, ref string) (io.ReadCloser, error) {
	c, err := e.get(ref)
	if err != nil {
		return nil, err
	}
	c.Lock()
	key := c.SnapshotKey
	c.Unlock()

	rc, err := e.snapshots.Export(ctx, key)
	if err != nil {
		return nil, err
	}
	c.Lock()
	e.publishContainer(c, events.ActionExport)
	c.Unlock()
	return rc, nil
}
