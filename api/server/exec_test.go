package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
)

func (f *fakeBackend) ContainerExecCreate(ctx context.Context, id string, config container.ExecCreateRequest) (string, error) {
	if f.execNew == nil {
		return "", errFakeUnset
	}
	return f.execNew(ctx, id, config)
}

func (f *fakeBackend) ContainerExecStart(ctx context.Context, id string, opts ExecStartOptions) error {
	if f.execRun == nil {
		return errFakeUnset
	}
	return f.execRun(ctx, id, opts)
}

func (f *fakeBackend) ContainerExecInspect(ctx context.Context, id string) (container.ExecInspectResponse, error) {
	if f.execGet == nil {
		return container.ExecInspectResponse{}, errFakeUnset
	}
	return f.execGet(ctx, id)
}

func (f *fakeBackend) ContainerExecResize(ctx context.Context, id string, height, width uint) error {
	return nil
}

func TestExecCreateInspect(t *testing.T) {
	code := 3
	b := &fakeBackend{
		execNew: func(_ context.Context, id string, config container.ExecCreateRequest) (string, error) {
			if id == "gone" {
				return "", fmt.Errorf("Container gone is not running: %w", errdefs.ErrConflict)
			}
			assert.DeepEqual(t, config.Cmd, []string{"echo", "hi"})
			return "e1", nil
		},
		execGet: func(_ context.Context, id string) (container.ExecInspectResponse, error) {
			if id != "e1" {
				return container.ExecInspectResponse{}, fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound)
			}
			return container.ExecInspectResponse{ID: "e1", ExitCode: &code, ContainerID: "c1"}, nil
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	created, err := c.ExecCreate(ctx, "c1", client.ExecCreateOptions{Cmd: []string{"echo", "hi"}})
	assert.NilError(t, err)
	assert.Equal(t, created.ID, "e1")

	_, err = c.ExecCreate(ctx, "gone", client.ExecCreateOptions{Cmd: []string{"true"}})
	assert.Assert(t, errdefs.IsConflict(err))
	assert.ErrorContains(t, err, "Container gone is not running")

	inspect, err := c.ExecInspect(ctx, "e1", client.ExecInspectOptions{})
	assert.NilError(t, err)
	assert.Equal(t, inspect.ExitCode, 3)

	_, err = c.ExecInspect(ctx, "nope", client.ExecInspectOptions{})
	assert.Assert(t, errdefs.IsNotFound(err))
	assert.ErrorContains(t, err, "No such exec instance: nope")
}
