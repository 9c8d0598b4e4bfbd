package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestInspectLegacyNetworkFields(t *testing.T) {
	b := &fakeBackend{
		inspect: func(context.Context, string, bool) (container.InspectResponse, error) {
			return container.InspectResponse{
				ID: "c1",
				NetworkSettings: &container.NetworkSettings{
					Networks: map[string]*network.EndpointSettings{"bridge": {
						IPAddress:   netip.MustParseAddr("10.88.0.2"),
						IPPrefixLen: 16,
						Gateway:     netip.MustParseAddr("10.88.0.1"),
					}},
				},
			}, nil
		},
	}
	hc := startServer(t, b).httpClient(t)

	settingsAt := func(path string) map[string]any {
		resp, err := hc.Get("http://berth" + path)
		assert.NilError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, resp.StatusCode, http.StatusOK)
		var body struct{ NetworkSettings map[string]any }
		assert.NilError(t, json.NewDecoder(resp.Body).Decode(&body))
		return body.NetworkSettings
	}

	old := settingsAt("/v1.50/containers/c1/json")
	assert.Check(t, is.Equal(old["IPAddress"], "10.88.0.2"))
	assert.Check(t, is.Equal(old["IPPrefixLen"], float64(16)))
	assert.Check(t, is.Equal(old["Gateway"], "10.88.0.1"))

	current := settingsAt("/v1.57/containers/c1/json")
	_, present := current["IPAddress"]
	assert.Check(t, !present, "API 1.57 response carries the removed IPAddress field")
}
