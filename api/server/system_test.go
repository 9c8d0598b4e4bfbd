package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/api/version"
)

func TestMaxVersionMatchesClient(t *testing.T) {
	assert.Equal(t, version.Max().String(), client.MaxAPIVersion)
}

func TestPingNegotiatesVersion(t *testing.T) {
	ts := startServer(t, &fakeBackend{})
	c := ts.client(t)

	ping, err := c.Ping(context.Background(), client.PingOptions{NegotiateAPIVersion: true, ForceNegotiate: true})
	assert.NilError(t, err)
	assert.Equal(t, ping.APIVersion, "1.57")
	assert.Equal(t, ping.OSType, "linux")
	assert.Equal(t, ping.BuilderVersion, build.BuilderV1)
	assert.Equal(t, ping.Experimental, false)
	assert.Equal(t, c.ClientVersion(), "1.57")
	assert.Assert(t, ping.SwarmStatus != nil)
	assert.Equal(t, string(ping.SwarmStatus.NodeState), "inactive")
}

func TestVersionAndInfo(t *testing.T) {
	b := &fakeBackend{
		version: func(context.Context) (system.VersionResponse, error) {
			return system.VersionResponse{Version: "0.1.0", Os: "linux", Arch: "amd64", APIVersion: "wrong"}, nil
		},
		info: func(context.Context) (system.Info, error) {
			return system.Info{ID: "daemon-id", Containers: 3, OSType: "linux"}, nil
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	v, err := c.ServerVersion(ctx, client.ServerVersionOptions{})
	assert.NilError(t, err)
	assert.Equal(t, v.Version, "0.1.0")
	assert.Equal(t, v.APIVersion, "1.57")
	assert.Equal(t, v.MinAPIVersion, "1.24")

	info, err := c.Info(ctx, client.InfoOptions{})
	assert.NilError(t, err)
	assert.Equal(t, info.Info.ID, "daemon-id")
	assert.Equal(t, info.Info.Containers, 3)
}

func TestRawRequests(t *testing.T) {
	b := &fakeBackend{
		info: func(context.Context) (system.Info, error) { return system.Info{ID: "x"}, nil },
	}
	ts := startServer(t, b)
	hc := ts.httpClient(t)

	tests := []struct {
		name    string
		method  string
		path    string
		status  int
		message string // expected error message; "" for success
	}{
		{name: "unversioned info", method: http.MethodGet, path: "/info", status: 200},
		{name: "versioned info", method: http.MethodGet, path: "/v1.44/info", status: 200},
		{name: "oldest version", method: http.MethodGet, path: "/v1.24/info", status: 200},
		{name: "major only", method: http.MethodGet, path: "/v1/info", status: 400,
			message: "client version 1.0 is too old. Minimum supported API version is 1.24, " +
				"please upgrade your client to a newer version"},
		{name: "too old", method: http.MethodGet, path: "/v1.23/info", status: 400,
			message: "client version 1.23 is too old. Minimum supported API version is 1.24, " +
				"please upgrade your client to a newer version"},
		{name: "too new", method: http.MethodGet, path: "/v1.99/info", status: 400,
			message: "client version 1.99 is too new. Maximum supported API version is 1.57"},
		{name: "malformed version", method: http.MethodGet, path: "/v1.2.3/info", status: 400,
			message: `invalid API version "1.2.3"`},
		{name: "unknown route", method: http.MethodGet, path: "/v1.57/nothing/here", status: 404,
			message: "page not found"},
		{name: "wrong method", method: http.MethodPost, path: "/info", status: 404,
			message: "page not found"},
		{name: "swarm", method: http.MethodGet, path: "/v1.50/swarm", status: 503,
			message: "This node is not a swarm manager. Use \"docker swarm init\" or " +
				"\"docker swarm join\" to connect this node to swarm and try again."},
		{name: "services", method: http.MethodGet, path: "/services/abc/logs", status: 503},
		{name: "unimplemented", method: http.MethodGet, path: "/images/search", status: 501,
			message: "searching registries is not implemented by berth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://berth"+tc.path, nil)
			assert.NilError(t, err)
			resp, err := hc.Do(req)
			assert.NilError(t, err)
			defer resp.Body.Close()

			assert.Equal(t, resp.StatusCode, tc.status)
			assert.Equal(t, resp.Header.Get("Api-Version"), "1.57")
			assert.Equal(t, resp.Header.Get("Server"), "Berth/test (linux)")
			if tc.status < 400 {
				return
			}
			assert.Equal(t, resp.Header.Get("Content-Type"), "application/json")
			var body common.ErrorResponse
			assert.NilError(t, json.NewDecoder(resp.Body).Decode(&body))
			if tc.message != "" {
				assert.Equal(t, body.Message, tc.message)
			}
		})
	}
}

func TestPingHeaders(t *testing.T) {
	hc := startServer(t, &fakeBackend{}).httpClient(t)

	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			req, err := http.NewRequest(method, "http://berth/_ping", nil)
			assert.NilError(t, err)
			resp, err := hc.Do(req)
			assert.NilError(t, err)
			defer resp.Body.Close()

			assert.Equal(t, resp.StatusCode, http.StatusOK)
			assert.Equal(t, resp.Header.Get("Api-Version"), "1.57")
			assert.Equal(t, resp.Header.Get("Ostype"), "linux")
			assert.Equal(t, resp.Header.Get("Builder-Version"), "1")
			assert.Equal(t, resp.Header.Get("Docker-Experimental"), "false")
			body, err := io.ReadAll(resp.Body)
			assert.NilError(t, err)
			if method == http.MethodGet {
				assert.Equal(t, string(body), "OK")
			} else {
				assert.Equal(t, string(body), "")
			}
		})
	}
}

func TestEventsStream(t *testing.T) {
	var filters recorder[map[string][]string]
	b := &fakeBackend{
		events: func(ctx context.Context, since, until time.Time, f map[string][]string, fn func(events.Message) error) error {
			filters.add(f)
			for _, action := range []events.Action{events.ActionCreate, events.ActionStart} {
				err := fn(events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: "c1"}})
				if err != nil {
					return err
				}
			}
			<-ctx.Done()
			return nil
		},
	}
	c := startServer(t, b).client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	res := c.Events(ctx, client.EventsListOptions{Filters: make(client.Filters).Add("type", "container")})
	var got []events.Action
	for len(got) < 2 {
		select {
		case m := <-res.Messages:
			got = append(got, m.Action)
		case err := <-res.Err:
			t.Fatalf("event stream ended early: %v", err)
		}
	}
	assert.DeepEqual(t, got, []events.Action{events.ActionCreate, events.ActionStart})
	assert.DeepEqual(t, filters.all(), []map[string][]string{{"type": {"container"}}})
}

func TestEventsLegacyFields(t *testing.T) {
	b := &fakeBackend{
		events: func(_ context.Context, _, _ time.Time, _ map[string][]string, fn func(events.Message) error) error {
			for _, m := range []events.Message{
				{Type: events.ContainerEventType, Action: events.ActionStart,
					Actor: events.Actor{ID: "c1", Attributes: map[string]string{"image": "busybox", "name": "web"}}},
				{Type: events.ImageEventType, Action: events.ActionTag, Actor: events.Actor{ID: "sha256:abc"}},
				{Type: events.NetworkEventType, Action: events.ActionConnect, Actor: events.Actor{ID: "n1"}},
			} {
				if err := fn(m); err != nil {
					return err
				}
			}
			return nil
		},
	}
	hc := startServer(t, b).httpClient(t)

	read := func(path string) []map[string]any {
		t.Helper()
		resp, err := hc.Get("http://berth" + path)
		assert.NilError(t, err)
		defer resp.Body.Close()
		var out []map[string]any
		dec := json.NewDecoder(resp.Body)
		for dec.More() {
			var m map[string]any
			assert.NilError(t, dec.Decode(&m))
			out = append(out, m)
		}
		return out
	}

	old := read("/v1.50/events?until=1")
	assert.Assert(t, is.Len(old, 3))
	assert.Check(t, is.Equal(old[0]["status"], "start"))
	assert.Check(t, is.Equal(old[0]["id"], "c1"))
	assert.Check(t, is.Equal(old[0]["from"], "busybox"))
	assert.Check(t, is.Equal(old[0]["Action"], "start"))
	assert.Check(t, is.Equal(old[1]["status"], "tag"))
	assert.Check(t, is.Equal(old[1]["id"], "sha256:abc"))
	_, hasFrom := old[1]["from"]
	assert.Check(t, !hasFrom, "image event: %v", old[1])
	_, hasStatus := old[2]["status"]
	assert.Check(t, !hasStatus, "network event: %v", old[2])

	current := read("/v1.52/events?until=1")
	assert.Assert(t, is.Len(current, 3))
	for _, m := range current {
		for _, key := range []string{"status", "id", "from"} {
			_, ok := m[key]
			assert.Check(t, !ok, "API 1.52 event has %q: %v", key, m)
		}
	}
}

func TestEventsInvalidFilter(t *testing.T) {
	c := startServer(t, &fakeBackend{}).client(t)

	res := c.Events(context.Background(), client.EventsListOptions{Filters: make(client.Filters).Add("colour", "red")})
	err := <-res.Err
	assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
	assert.Check(t, is.ErrorContains(err, "invalid filter 'colour'"))
}

// TestShutdownEndsStreams checks that Serve returns while an event stream
// is open: the stream's context ends with the server.
func TestShutdownEndsStreams(t *testing.T) {
	streaming := make(chan struct{})
	b := &fakeBackend{
		events: func(ctx context.Context, _, _ time.Time, _ map[string][]string, _ func(events.Message) error) error {
			close(streaming)
			<-ctx.Done()
			return nil
		},
	}
	socket := t.TempDir() + "/api.sock"
	ts := &testServer{socket: socket}
	l, err := net.Listen("unix", socket)
	assert.NilError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- New(b).Serve(ctx, l) }()

	res := ts.client(t).Events(context.Background(), client.EventsListOptions{})
	<-streaming
	cancel()
	assert.NilError(t, <-served)

	// The client sees the end of the stream as an error (EOF).
	err = <-res.Err
	assert.Check(t, err != nil)
}

func TestPanicRecovered(t *testing.T) {
	b := &fakeBackend{
		info: func(context.Context) (system.Info, error) { panic("backend bug") },
		version: func(context.Context) (system.VersionResponse, error) {
			return system.VersionResponse{Version: "0.1.0"}, nil
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	_, err := c.Info(ctx, client.InfoOptions{})
	assert.Check(t, errdefs.IsInternal(err), "got %v", err)
	assert.Check(t, is.ErrorContains(err, "internal server error"))

	v, err := c.ServerVersion(ctx, client.ServerVersionOptions{})
	assert.NilError(t, err)
	assert.Equal(t, v.Version, "0.1.0")
}

// TestShutdownEndsAttach checks that Serve ends attach streams, whose
// hijacked connections http.Server.Shutdown does not track.
func TestShutdownEndsAttach(t *testing.T) {
	attached := make(chan struct{})
	b := &fakeBackend{
		tty: func(context.Context, string) (bool, error) { return false, nil },
		attach: func(ctx context.Context, _ string, _ AttachOptions) error {
			close(attached)
			<-ctx.Done()
			return nil
		},
	}
	socket := t.TempDir() + "/api.sock"
	l, err := net.Listen("unix", socket)
	assert.NilError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- New(b).Serve(ctx, l) }()

	c := (&testServer{socket: socket}).client(t)
	res, err := c.ContainerAttach(context.Background(), "c1", client.ContainerAttachOptions{
		Stream: true, Stdin: true, Stdout: true,
	})
	assert.NilError(t, err)
	defer res.Close()
	<-attached

	cancel()
	assert.NilError(t, <-served)

	// The server closed the stream: the client reads EOF.
	_, err = io.ReadAll(res.Reader)
	assert.NilError(t, err)
}
