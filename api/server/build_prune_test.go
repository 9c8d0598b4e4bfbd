package server

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/moby/moby/api/types/build"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestBuildPruneCallsBackend(t *testing.T) {
	calls := 0
	backend := &fakeBackend{buildPrune: func(context.Context) (build.CachePruneReport, error) {
		calls++
		return build.CachePruneReport{CachesDeleted: []string{"sha256:aa"}}, nil
	}}
	hc := startServer(t, backend).httpClient(t)
	post := func(path string) (int, map[string]any) {
		t.Helper()
		resp, err := hc.Post("http://berth"+path, "application/json", nil)
		assert.NilError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		assert.NilError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}

	status, body := post("/v1.50/build/prune?filters=" + `{"until":{"24h":true}}`)
	assert.Check(t, is.Equal(status, http.StatusOK))
	assert.Check(t, is.DeepEqual(body, map[string]any{"CachesDeleted": []any{"sha256:aa"}, "SpaceReclaimed": 0.0}))
	assert.Check(t, is.Equal(calls, 1))

	status, _ = post("/v1.50/build/prune?filters=notjson")
	assert.Check(t, is.Equal(status, http.StatusBadRequest))
	assert.Check(t, is.Equal(calls, 1), "invalid filters must not prune")
}

func TestBuildPruneEmptyReport(t *testing.T) {
	backend := &fakeBackend{buildPrune: func(context.Context) (build.CachePruneReport, error) {
		return build.CachePruneReport{}, nil
	}}
	hc := startServer(t, backend).httpClient(t)
	resp, err := hc.Post("http://berth/v1.50/build/prune", "application/json", nil)
	assert.NilError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Check(t, is.DeepEqual(body["CachesDeleted"], []any{}))
}
