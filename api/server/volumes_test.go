package server

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/volume"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func (f *fakeBackend) VolumeList(context.Context, map[string][]string) (volume.ListResponse, error) {
	return volume.ListResponse{}, errFakeUnset
}

func (f *fakeBackend) VolumeCreate(context.Context, volume.CreateRequest) (volume.Volume, error) {
	return volume.Volume{}, errFakeUnset
}

// VolumeInspect finds no volume, so that docker inspect moves on to the
// next kind of object.
func (f *fakeBackend) VolumeInspect(_ context.Context, name string) (volume.Volume, error) {
	return volume.Volume{}, errdefs.ErrNotFound.WithMessage("get " + name + ": no such volume")
}

func (f *fakeBackend) VolumeRemove(context.Context, string, bool) error {
	return errFakeUnset
}

func (f *fakeBackend) VolumesPrune(ctx context.Context, filters map[string][]string) (volume.PruneReport, error) {
	if f.volPrune == nil {
		return volume.PruneReport{}, errFakeUnset
	}
	return f.volPrune(ctx, filters)
}

// VolumeDiskUsage returns no volumes, so that df tests need not set it.
func (f *fakeBackend) VolumeDiskUsage(context.Context) ([]volume.Volume, error) {
	return []volume.Volume{}, nil
}

func TestVolumesPruneAllBeforeAPI142(t *testing.T) {
	var got []map[string][]string
	b := &fakeBackend{volPrune: func(_ context.Context, filters map[string][]string) (volume.PruneReport, error) {
		got = append(got, filters)
		return volume.PruneReport{VolumesDeleted: []string{}}, nil
	}}
	hc := startServer(t, b).httpClient(t)
	post := func(path string) map[string]any {
		t.Helper()
		resp, err := hc.Post("http://berth"+path, "application/json", nil)
		assert.NilError(t, err)
		defer resp.Body.Close()
		assert.Check(t, is.Equal(resp.StatusCode, http.StatusOK))
		var body map[string]any
		assert.NilError(t, json.NewDecoder(resp.Body).Decode(&body))
		return body
	}

	body := post("/v1.41/volumes/prune")
	assert.Check(t, is.DeepEqual(body, map[string]any{"VolumesDeleted": []any{}, "SpaceReclaimed": 0.0}))
	post("/v1.42/volumes/prune")
	post("/v1.41/volumes/prune?filters=" + `{"all":{"false":true}}`)

	assert.Assert(t, is.Len(got, 3))
	assert.Check(t, is.DeepEqual(got[0]["all"], []string{"true"}))
	assert.Check(t, is.Len(got[1]["all"], 0))
	assert.Check(t, is.DeepEqual(got[2]["all"], []string{"false"}))
}
