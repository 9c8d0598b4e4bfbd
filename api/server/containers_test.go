package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestErrorStatusMapping(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		check  func(error) bool // errdefs check on the client's error
	}{
		{"not found", fmt.Errorf("No such container: c1: %w", errdefs.ErrNotFound), 404, errdefs.IsNotFound},
		{"invalid", errdefs.ErrInvalidArgument.WithMessage("bad name"), 400, errdefs.IsInvalidArgument},
		{"conflict", errdefs.ErrConflict.WithMessage("in use"), 409, errdefs.IsConflict},
		{"already exists", errdefs.ErrAlreadyExists.WithMessage("name taken"), 409, errdefs.IsConflict},
		{"forbidden", errdefs.ErrPermissionDenied.WithMessage("no"), 403, errdefs.IsPermissionDenied},
		{"not implemented", errdefs.ErrNotImplemented.WithMessage("later"), 501, errdefs.IsNotImplemented},
		{"unavailable", errdefs.ErrUnavailable.WithMessage("busy"), 503, errdefs.IsUnavailable},
		{"unknown", errors.New("disk on fire"), 500, errdefs.IsInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, statusFromError(tc.err), tc.status)

			b := &fakeBackend{
				inspect: func(context.Context, string, bool) (container.InspectResponse, error) {
					return container.InspectResponse{}, tc.err
				},
			}
			c := startServer(t, b).client(t)
			_, err := c.ContainerInspect(context.Background(), "c1", client.ContainerInspectOptions{})
			assert.Assert(t, err != nil)
			assert.Check(t, tc.check(err), "client error %v has the wrong kind", err)
			assert.Check(t, is.ErrorContains(err, errorMessage(tc.err)))
		})
	}
}

func TestErrorMessageLeavesOutKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("No such container: web: %w", errdefs.ErrNotFound), "No such container: web"},
		{fmt.Errorf("outer: %w", fmt.Errorf("name in use: %w", errdefs.ErrConflict)), "outer: name in use"},
		{errdefs.ErrNotImplemented.WithMessage("later"), "later"},
		{errors.New("disk on fire: not found"), "disk on fire: not found"},
		{fmt.Errorf("load images: %w", fmt.Errorf("%w: bad archive", errdefs.ErrInvalidArgument)), "load images: bad archive"},
		{fmt.Errorf("%w: bad tag", errdefs.ErrInvalidArgument), "bad tag"},
		{fmt.Errorf("conflict: unable to delete 0123 (must be forced): %w", errdefs.ErrConflict),
			"conflict: unable to delete 0123 (must be forced)"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			assert.Check(t, is.Equal(errorMessage(tc.err), tc.want))
		})
	}
}

func TestContainerCreate(t *testing.T) {
	var got recorder[ContainerCreateRequest]
	b := &fakeBackend{
		create: func(_ context.Context, req ContainerCreateRequest) (container.CreateResponse, error) {
			got.add(req)
			if req.Name == "taken" {
				return container.CreateResponse{}, errdefs.ErrConflict.WithMessage(`Conflict. The container name "/taken" is already in use`)
			}
			return container.CreateResponse{ID: "abc123"}, nil
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       "web",
		Config:     &container.Config{Image: "busybox", Cmd: []string{"sh", "-c", "echo hi"}, Tty: true},
		HostConfig: &container.HostConfig{AutoRemove: true},
	})
	assert.NilError(t, err)
	assert.Equal(t, res.ID, "abc123")
	assert.Check(t, res.Warnings != nil)

	reqs := got.all()
	assert.Assert(t, is.Len(reqs, 1))
	assert.Equal(t, reqs[0].Name, "web")
	assert.Equal(t, reqs[0].Config.Image, "busybox")
	assert.DeepEqual(t, []string(reqs[0].Config.Cmd), []string{"sh", "-c", "echo hi"})
	assert.Equal(t, reqs[0].Config.Tty, true)
	assert.Equal(t, reqs[0].HostConfig.AutoRemove, true)

	_, err = c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "taken", Image: "busybox"})
	assert.Check(t, errdefs.IsConflict(err), "got %v", err)
}

func TestContainerCreateBadBody(t *testing.T) {
	hc := startServer(t, &fakeBackend{}).httpClient(t)

	tests := []struct {
		name        string
		contentType string
		body        string
		message     string
	}{
		{"bad json", "application/json", `{"Image":`, "invalid JSON: unexpected EOF"},
		{"empty body", "application/json", ``, "invalid JSON: request body is empty"},
		{"no config", "application/json", `null`, "config cannot be empty in order to create a container"},
		{"wrong content type", "text/plain", `{"Image":"busybox"}`,
			"unsupported Content-Type header (text/plain): must be 'application/json'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, "http://berth/v1.50/containers/create", strings.NewReader(tc.body))
			assert.NilError(t, err)
			req.Header.Set("Content-Type", tc.contentType)
			resp, err := hc.Do(req)
			assert.NilError(t, err)
			defer resp.Body.Close()

			assert.Equal(t, resp.StatusCode, http.StatusBadRequest)
			assert.Equal(t, readErrorMessage(t, resp), tc.message)
		})
	}
}

func TestContainerList(t *testing.T) {
	var got recorder[ContainerListOptions]
	b := &fakeBackend{
		list: func(_ context.Context, opts ContainerListOptions) ([]container.Summary, error) {
			got.add(opts)
			return []container.Summary{{ID: "c1", Names: []string{"/web"}, State: container.StateRunning}}, nil
		},
	}
	c := startServer(t, b).client(t)

	res, err := c.ContainerList(context.Background(), client.ContainerListOptions{
		All:     true,
		Limit:   5,
		Size:    true,
		Filters: make(client.Filters).Add("label", "b=2", "a=1").Add("status", "running"),
	})
	assert.NilError(t, err)
	assert.Assert(t, is.Len(res.Items, 1))
	assert.Equal(t, res.Items[0].ID, "c1")

	assert.DeepEqual(t, got.all(), []ContainerListOptions{{
		All:     true,
		Limit:   5,
		Size:    true,
		Filters: map[string][]string{"label": {"a=1", "b=2"}, "status": {"running"}},
	}})
}

func TestContainerListEmpty(t *testing.T) {
	b := &fakeBackend{
		list: func(context.Context, ContainerListOptions) ([]container.Summary, error) { return nil, nil },
	}
	hc := startServer(t, b).httpClient(t)

	resp, err := hc.Get("http://berth/containers/json")
	assert.NilError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusOK)
	assert.Equal(t, readBody(t, resp), "[]\n")
}

func TestContainerLifecycle(t *testing.T) {
	type stopCall struct {
		id, signal string
		timeout    *int
	}
	var stops, restarts recorder[stopCall]
	var kills recorder[[2]string]
	var removes recorder[[3]any]
	var resizes recorder[[3]any]
	b := &fakeBackend{
		start: func(_ context.Context, id string) error {
			if id == "running" {
				return fmt.Errorf("container %s is already started: %w", id, errdefs.ErrNotModified)
			}
			return nil
		},
		stop: func(_ context.Context, id, signal string, timeout *int) error {
			stops.add(stopCall{id, signal, timeout})
			if id == "stopped" {
				return fmt.Errorf("container %s is not running: %w", id, errdefs.ErrNotModified)
			}
			return nil
		},
		restart: func(_ context.Context, id, signal string, timeout *int) error {
			restarts.add(stopCall{id, signal, timeout})
			return nil
		},
		kill: func(_ context.Context, id, signal string) error {
			kills.add([2]string{id, signal})
			if id == "stopped" {
				return errdefs.ErrConflict.WithMessage("Container stopped is not running")
			}
			return nil
		},
		remove: func(_ context.Context, id string, force, volumes bool) error {
			removes.add([3]any{id, force, volumes})
			return nil
		},
		resize: func(_ context.Context, id string, h, w uint) error {
			resizes.add([3]any{id, h, w})
			return nil
		},
	}
	ts := startServer(t, b)
	c := ts.client(t)
	ctx := context.Background()
	ten := 10

	_, err := c.ContainerStart(ctx, "c1", client.ContainerStartOptions{})
	assert.NilError(t, err)
	_, err = c.ContainerStart(ctx, "running", client.ContainerStartOptions{})
	assert.NilError(t, err, "304 is success for the client")

	_, err = c.ContainerStop(ctx, "c1", client.ContainerStopOptions{Signal: "SIGINT", Timeout: &ten})
	assert.NilError(t, err)
	_, err = c.ContainerStop(ctx, "stopped", client.ContainerStopOptions{})
	assert.NilError(t, err)
	calls := stops.all()
	assert.Assert(t, is.Len(calls, 2))
	assert.Equal(t, calls[0].signal, "SIGINT")
	assert.Equal(t, *calls[0].timeout, 10)
	assert.Check(t, calls[1].timeout == nil)

	_, err = c.ContainerRestart(ctx, "c1", client.ContainerRestartOptions{Timeout: &ten})
	assert.NilError(t, err)
	assert.Equal(t, *restarts.all()[0].timeout, 10)

	_, err = c.ContainerKill(ctx, "c1", client.ContainerKillOptions{Signal: "HUP"})
	assert.NilError(t, err)
	_, err = c.ContainerKill(ctx, "stopped", client.ContainerKillOptions{})
	assert.Check(t, errdefs.IsConflict(err), "got %v", err)
	assert.DeepEqual(t, kills.all(), [][2]string{{"c1", "HUP"}, {"stopped", ""}})

	_, err = c.ContainerRemove(ctx, "c1", client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	assert.NilError(t, err)
	assert.DeepEqual(t, removes.all(), [][3]any{{"c1", true, true}})

	_, err = c.ContainerResize(ctx, "c1", client.ContainerResizeOptions{Height: 40, Width: 120})
	assert.NilError(t, err)
	assert.DeepEqual(t, resizes.all(), [][3]any{{"c1", uint(40), uint(120)}})

	// The moby client hides the 304; check the status itself.
	hc := ts.httpClient(t)
	for _, path := range []string{"/containers/running/start", "/v1.50/containers/stopped/stop?t=1"} {
		resp, err := hc.Post("http://berth"+path, "", nil)
		assert.NilError(t, err)
		resp.Body.Close()
		assert.Equal(t, resp.StatusCode, http.StatusNotModified, path)
	}
}

func TestContainerStopBadTimeout(t *testing.T) {
	hc := startServer(t, &fakeBackend{}).httpClient(t)

	resp, err := hc.Post("http://berth/containers/c1/stop?t=soon", "", nil)
	assert.NilError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusBadRequest)
	assert.Equal(t, readErrorMessage(t, resp), `invalid value for "t": "soon" is not an integer`)
}

func TestContainerWait(t *testing.T) {
	var conditions recorder[container.WaitCondition]
	b := &fakeBackend{
		wait: func(_ context.Context, id string, cond container.WaitCondition) (<-chan container.WaitResponse, error) {
			if id == "missing" {
				return nil, errdefs.ErrNotFound.WithMessage("No such container: missing")
			}
			conditions.add(cond)
			ch := make(chan container.WaitResponse, 1)
			ch <- container.WaitResponse{StatusCode: 3}
			return ch, nil
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	res := c.ContainerWait(ctx, "c1", client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	select {
	case r := <-res.Result:
		assert.Equal(t, r.StatusCode, int64(3))
	case err := <-res.Error:
		t.Fatalf("wait failed: %v", err)
	}
	res = c.ContainerWait(ctx, "c2", client.ContainerWaitOptions{})
	<-res.Result
	assert.DeepEqual(t, conditions.all(), []container.WaitCondition{
		container.WaitConditionNextExit, container.WaitConditionNotRunning,
	})

	res = c.ContainerWait(ctx, "missing", client.ContainerWaitOptions{})
	err := <-res.Error
	assert.Check(t, errdefs.IsNotFound(err), "got %v", err)

	res = c.ContainerWait(ctx, "c1", client.ContainerWaitOptions{Condition: "sometime"})
	err = <-res.Error
	assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
}

// TestContainerWaitClientGone checks that the backend's wait context ends
// when the client disconnects before the container exits.
func TestContainerWaitClientGone(t *testing.T) {
	waiting := make(chan struct{})
	released := make(chan struct{})
	b := &fakeBackend{
		wait: func(ctx context.Context, _ string, _ container.WaitCondition) (<-chan container.WaitResponse, error) {
			go func() {
				<-ctx.Done()
				close(released)
			}()
			close(waiting)
			return make(chan container.WaitResponse), nil
		},
	}
	c := startServer(t, b).client(t)
	ctx, cancel := context.WithCancel(context.Background())

	res := c.ContainerWait(ctx, "c1", client.ContainerWaitOptions{})
	<-waiting
	cancel()
	err := <-res.Error
	assert.Check(t, errors.Is(err, context.Canceled), "got %v", err)
	<-released
}
