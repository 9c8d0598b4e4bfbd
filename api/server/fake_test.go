package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
)

// fakeBackend implements Backend with one optional function per method. A
// method whose function is nil returns errdefs.ErrNotImplemented, so a test
// sets only what it exercises.
type fakeBackend struct {
	create     func(context.Context, ContainerCreateRequest) (container.CreateResponse, error)
	start      func(context.Context, string) error
	stop       func(context.Context, string, string, *int) error
	restart    func(context.Context, string, string, *int) error
	kill       func(context.Context, string, string) error
	remove     func(context.Context, string, bool, bool) error
	list       func(context.Context, ContainerListOptions) ([]container.Summary, error)
	inspect    func(context.Context, string, bool) (container.InspectResponse, error)
	wait       func(context.Context, string, container.WaitCondition) (<-chan container.WaitResponse, error)
	attach     func(context.Context, string, AttachOptions) error
	tty        func(context.Context, string) (bool, error)
	resize     func(context.Context, string, uint, uint) error
	logs       func(context.Context, string, LogsOptions, func(LogMessage) error) error
	pause      func(context.Context, string) error
	unpause    func(context.Context, string) error
	rename     func(context.Context, string, string) error
	update     func(context.Context, string, container.UpdateConfig) (container.UpdateResponse, error)
	top        func(context.Context, string, string) (container.TopResponse, error)
	changes    func(context.Context, string) ([]container.FilesystemChange, error)
	export     func(context.Context, string) (io.ReadCloser, error)
	commit     func(context.Context, ContainerCommitRequest) (string, error)
	stats      func(context.Context, string, StatsOptions, func(container.StatsResponse) error) error
	ctrPrune   func(context.Context, map[string][]string) (container.PruneReport, error)
	execNew    func(context.Context, string, container.ExecCreateRequest) (string, error)
	execRun    func(context.Context, string, ExecStartOptions) error
	execGet    func(context.Context, string) (container.ExecInspectResponse, error)
	imgPrune   func(context.Context, map[string][]string) (image.PruneReport, error)
	images     func(context.Context, bool, map[string][]string) ([]image.Summary, error)
	imageGet   func(context.Context, string) (image.InspectResponse, error)
	history    func(context.Context, string) ([]image.HistoryResponseItem, error)
	imageDel   func(context.Context, string, bool, bool) ([]image.DeleteResponse, error)
	tag        func(context.Context, string, string, string) error
	importFn   func(context.Context, ImageImportRequest) (string, error)
	load       func(context.Context, io.Reader) ([]string, error)
	save       func(context.Context, []string, io.Writer) error
	pull       func(context.Context, string, string, registry.AuthConfig, func(jsonstream.Message) error) error
	push       func(context.Context, string, registry.AuthConfig, func(jsonstream.Message) error) error
	login      func(context.Context, registry.AuthConfig) error
	build      func(context.Context, BuildRequest, io.Writer) (string, error)
	buildPrune func(context.Context) (build.CachePruneReport, error)
	info       func(context.Context) (system.Info, error)
	version    func(context.Context) (system.VersionResponse, error)
	events     func(context.Context, time.Time, time.Time, map[string][]string, func(events.Message) error) error
	volPrune   func(context.Context, map[string][]string) (volume.PruneReport, error)
}

var _ Backend = (*fakeBackend)(nil)

var errFakeUnset = errdefs.ErrNotImplemented.WithMessage("fake backend: method not set by the test")

func (f *fakeBackend) ContainerCreate(ctx context.Context, req ContainerCreateRequest) (container.CreateResponse, error) {
	if f.create == nil {
		return container.CreateResponse{}, errFakeUnset
	}
	return f.create(ctx, req)
}

func (f *fakeBackend) ContainerStart(ctx context.Context, id string) error {
	if f.start == nil {
		return errFakeUnset
	}
	return f.start(ctx, id)
}

func (f *fakeBackend) ContainerStop(ctx context.Context, id, signal string, timeout *int) error {
	if f.stop == nil {
		return errFakeUnset
	}
	return f.stop(ctx, id, signal, timeout)
}

func (f *fakeBackend) ContainerRestart(ctx context.Context, id, signal string, timeout *int) error {
	if f.restart == nil {
		return errFakeUnset
	}
	return f.restart(ctx, id, signal, timeout)
}

func (f *fakeBackend) ContainerKill(ctx context.Context, id, signal string) error {
	if f.kill == nil {
		return errFakeUnset
	}
	return f.kill(ctx, id, signal)
}

func (f *fakeBackend) ContainerRemove(ctx context.Context, id string, force, removeVolumes bool) error {
	if f.remove == nil {
		return errFakeUnset
	}
	return f.remove(ctx, id, force, removeVolumes)
}

func (f *fakeBackend) ContainerList(ctx context.Context, opts ContainerListOptions) ([]container.Summary, error) {
	if f.list == nil {
		return nil, errFakeUnset
	}
	return f.list(ctx, opts)
}

func (f *fakeBackend) ContainerInspect(ctx context.Context, id string, size bool) (container.InspectResponse, error) {
	if f.inspect == nil {
		return container.InspectResponse{}, errFakeUnset
	}
	return f.inspect(ctx, id, size)
}

func (f *fakeBackend) ContainerWait(ctx context.Context, id string, c container.WaitCondition) (<-chan container.WaitResponse, error) {
	if f.wait == nil {
		return nil, errFakeUnset
	}
	return f.wait(ctx, id, c)
}

func (f *fakeBackend) ContainerAttach(ctx context.Context, id string, opts AttachOptions) error {
	if f.attach == nil {
		return errFakeUnset
	}
	return f.attach(ctx, id, opts)
}

func (f *fakeBackend) ContainerTTY(ctx context.Context, id string) (bool, error) {
	if f.tty == nil {
		return false, errFakeUnset
	}
	return f.tty(ctx, id)
}

func (f *fakeBackend) ContainerResize(ctx context.Context, id string, height, width uint) error {
	if f.resize == nil {
		return errFakeUnset
	}
	return f.resize(ctx, id, height, width)
}

func (f *fakeBackend) ContainerLogs(ctx context.Context, id string, opts LogsOptions, fn func(LogMessage) error) error {
	if f.logs == nil {
		return errFakeUnset
	}
	return f.logs(ctx, id, opts, fn)
}

func (f *fakeBackend) ImageList(ctx context.Context, all bool, filters map[string][]string) ([]image.Summary, error) {
	if f.images == nil {
		return nil, errFakeUnset
	}
	return f.images(ctx, all, filters)
}

func (f *fakeBackend) ImageInspect(ctx context.Context, name string) (image.InspectResponse, error) {
	if f.imageGet == nil {
		return image.InspectResponse{}, errFakeUnset
	}
	return f.imageGet(ctx, name)
}

func (f *fakeBackend) ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error) {
	if f.history == nil {
		return nil, errFakeUnset
	}
	return f.history(ctx, name)
}

func (f *fakeBackend) ImageDelete(ctx context.Context, name string, force, noPrune bool) ([]image.DeleteResponse, error) {
	if f.imageDel == nil {
		return nil, errFakeUnset
	}
	return f.imageDel(ctx, name, force, noPrune)
}

func (f *fakeBackend) ImageTag(ctx context.Context, name, repository, tag string) error {
	if f.tag == nil {
		return errFakeUnset
	}
	return f.tag(ctx, name, repository, tag)
}

func (f *fakeBackend) ImageImport(ctx context.Context, req ImageImportRequest) (string, error) {
	if f.importFn == nil {
		return "", errFakeUnset
	}
	return f.importFn(ctx, req)
}

func (f *fakeBackend) Build(ctx context.Context, req BuildRequest, out io.Writer) (string, error) {
	if f.build == nil {
		return "", errFakeUnset
	}
	return f.build(ctx, req, out)
}

func (f *fakeBackend) BuildCachePrune(ctx context.Context) (build.CachePruneReport, error) {
	if f.buildPrune == nil {
		return build.CachePruneReport{}, errFakeUnset
	}
	return f.buildPrune(ctx)
}

func (f *fakeBackend) Info(ctx context.Context) (system.Info, error) {
	if f.info == nil {
		return system.Info{}, errFakeUnset
	}
	return f.info(ctx)
}

func (f *fakeBackend) Version(ctx context.Context) (system.VersionResponse, error) {
	if f.version == nil {
		return system.VersionResponse{}, errFakeUnset
	}
	return f.version(ctx)
}

func (f *fakeBackend) Events(ctx context.Context, since, until time.Time, filters map[string][]string, fn func(events.Message) error) error {
	if f.events == nil {
		return errFakeUnset
	}
	return f.events(ctx, since, until, filters, fn)
}

// testServer is a Server listening on a unix socket in a temporary
// directory.
type testServer struct {
	socket string
}

// startServer serves b on a unix socket until the test ends. Cleanup checks
// that Serve shuts down gracefully.
func startServer(t *testing.T, b Backend) *testServer {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", socket)
	assert.NilError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	srv := New(b, WithServerVersion("test"), WithShutdownTimeout(5*time.Second))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		assert.NilError(t, <-served)
	})
	return &testServer{socket: socket}
}

// client returns a moby client for the server; it negotiates the API
// version unless opts fix one.
func (ts *testServer) client(t *testing.T, opts ...client.Opt) *client.Client {
	t.Helper()
	opts = append([]client.Opt{client.WithHost("unix://" + ts.socket)}, opts...)
	c, err := client.New(opts...)
	assert.NilError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// httpClient returns a plain HTTP client that dials the server's socket,
// for requests the moby client cannot make.
func (ts *testServer) httpClient(t *testing.T) *http.Client {
	t.Helper()
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", ts.socket)
		},
	}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport}
}

// recorder collects values from backend calls, which run on server
// goroutines.
type recorder[T any] struct {
	mu     sync.Mutex
	values []T
}

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values = append(r.values, v)
}

func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.values...)
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	data, err := io.ReadAll(resp.Body)
	assert.NilError(t, err)
	return string(data)
}

// readErrorMessage decodes Docker's error body {"message": "..."}.
func readErrorMessage(t *testing.T, resp *http.Response) string {
	t.Helper()
	assert.Equal(t, resp.Header.Get("Content-Type"), "application/json")
	var body common.ErrorResponse
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&body))
	return body.Message
}

func (f *fakeBackend) ContainerPause(ctx context.Context, id string) error {
	if f.pause == nil {
		return errFakeUnset
	}
	return f.pause(ctx, id)
}

func (f *fakeBackend) ContainerUnpause(ctx context.Context, id string) error {
	if f.unpause == nil {
		return errFakeUnset
	}
	return f.unpause(ctx, id)
}

func (f *fakeBackend) ContainerRename(ctx context.Context, id, newName string) error {
	if f.rename == nil {
		return errFakeUnset
	}
	return f.rename(ctx, id, newName)
}

func (f *fakeBackend) ContainerUpdate(ctx context.Context, id string, update container.UpdateConfig) (container.UpdateResponse, error) {
	if f.update == nil {
		return container.UpdateResponse{}, errFakeUnset
	}
	return f.update(ctx, id, update)
}

func (f *fakeBackend) ContainerTop(ctx context.Context, id, psArgs string) (container.TopResponse, error) {
	if f.top == nil {
		return container.TopResponse{}, errFakeUnset
	}
	return f.top(ctx, id, psArgs)
}

func (f *fakeBackend) ContainerChanges(ctx context.Context, id string) ([]container.FilesystemChange, error) {
	if f.changes == nil {
		return nil, errFakeUnset
	}
	return f.changes(ctx, id)
}

func (f *fakeBackend) ContainerExport(ctx context.Context, id string) (io.ReadCloser, error) {
	if f.export == nil {
		return nil, errFakeUnset
	}
	return f.export(ctx, id)
}

func (f *fakeBackend) ContainerCommit(ctx context.Context, req ContainerCommitRequest) (string, error) {
	if f.commit == nil {
		return "", errFakeUnset
	}
	return f.commit(ctx, req)
}

func (f *fakeBackend) ContainerStats(ctx context.Context, id string, opts StatsOptions, fn func(container.StatsResponse) error) error {
	if f.stats == nil {
		return errFakeUnset
	}
	return f.stats(ctx, id, opts, fn)
}

func (f *fakeBackend) ContainersPrune(ctx context.Context, filters map[string][]string) (container.PruneReport, error) {
	if f.ctrPrune == nil {
		return container.PruneReport{}, errFakeUnset
	}
	return f.ctrPrune(ctx, filters)
}

func (f *fakeBackend) ImagesPrune(ctx context.Context, filters map[string][]string) (image.PruneReport, error) {
	if f.imgPrune == nil {
		return image.PruneReport{}, errFakeUnset
	}
	return f.imgPrune(ctx, filters)
}

func (f *fakeBackend) ImageLoad(ctx context.Context, r io.Reader) ([]string, error) {
	if f.load == nil {
		return nil, errFakeUnset
	}
	return f.load(ctx, r)
}

func (f *fakeBackend) ImageSave(ctx context.Context, names []string, w io.Writer) error {
	if f.save == nil {
		return errFakeUnset
	}
	return f.save(ctx, names, w)
}

func (f *fakeBackend) ImagePull(ctx context.Context, ref, platform string, auth registry.AuthConfig, send func(jsonstream.Message) error) error {
	if f.pull == nil {
		return errFakeUnset
	}
	return f.pull(ctx, ref, platform, auth, send)
}

func (f *fakeBackend) ImagePush(ctx context.Context, ref string, auth registry.AuthConfig, send func(jsonstream.Message) error) error {
	if f.push == nil {
		return errFakeUnset
	}
	return f.push(ctx, ref, auth, send)
}

func (f *fakeBackend) Login(ctx context.Context, auth registry.AuthConfig) error {
	if f.login == nil {
		return errFakeUnset
	}
	return f.login(ctx, auth)
}

// The network methods are not set by any test yet; the engine's are
// exercised end to end in integration/network_test.go.

func (f *fakeBackend) NetworkList(context.Context, map[string][]string) ([]network.Summary, error) {
	return nil, errFakeUnset
}

// NetworkInspect finds no network, so that `docker inspect NAME` moves on
// to the next kind of object as against an engine without networks.
func (f *fakeBackend) NetworkInspect(_ context.Context, ref string) (network.Inspect, error) {
	return network.Inspect{}, errdefs.ErrNotFound.WithMessage("network " + ref + " not found")
}

func (f *fakeBackend) NetworkCreate(context.Context, NetworkCreateRequest) (network.CreateResponse, error) {
	return network.CreateResponse{}, errFakeUnset
}

func (f *fakeBackend) NetworkRemove(context.Context, string) error { return errFakeUnset }

func (f *fakeBackend) NetworksPrune(context.Context, map[string][]string) (network.PruneReport, error) {
	return network.PruneReport{}, errFakeUnset
}

func (f *fakeBackend) NetworkConnect(context.Context, string, network.ConnectRequest) error {
	return errFakeUnset
}

func (f *fakeBackend) NetworkDisconnect(context.Context, string, network.DisconnectRequest) error {
	return errFakeUnset
}
