package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
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

// getJSON sends GET path and decodes the response body into out.
func getJSON(t *testing.T, hc *http.Client, path string, out any) {
	t.Helper()
	resp, err := hc.Get("http://berth" + path)
	assert.NilError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusOK, path)
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(out))
}

func TestImageListLegacyFields(t *testing.T) {
	b := &fakeBackend{
		images: func(context.Context, bool, map[string][]string) ([]image.Summary, error) {
			return []image.Summary{
				{ID: "sha256:aa", RepoTags: []string{"app:1"}, RepoDigests: []string{}, Size: 42, Containers: 2},
				{ID: "sha256:bb", Size: 7, Containers: 0},
			}, nil
		},
	}
	hc := startServer(t, b).httpClient(t)

	var v142 []map[string]any
	getJSON(t, hc, "/v1.42/images/json", &v142)
	assert.Assert(t, is.Len(v142, 2))
	assert.Check(t, is.DeepEqual(v142[0]["RepoTags"], []any{"app:1"}))
	assert.Check(t, is.DeepEqual(v142[0]["RepoDigests"], []any{}))
	assert.Check(t, is.DeepEqual(v142[1]["RepoTags"], []any{"<none>:<none>"}))
	assert.Check(t, is.DeepEqual(v142[1]["RepoDigests"], []any{"<none>@<none>"}))
	assert.Check(t, is.Equal(v142[0]["VirtualSize"], float64(42)))
	assert.Check(t, is.Equal(v142[0]["Containers"], float64(-1)))

	var v150 []map[string]any
	getJSON(t, hc, "/v1.50/images/json", &v150)
	assert.Assert(t, is.Len(v150, 2))
	assert.Check(t, is.DeepEqual(v150[1]["RepoTags"], []any{}))
	assert.Check(t, is.DeepEqual(v150[1]["RepoDigests"], []any{}))
	_, hasVirtualSize := v150[0]["VirtualSize"]
	assert.Check(t, !hasVirtualSize, "API 1.50 image summary carries VirtualSize")
	assert.Check(t, is.Equal(v150[0]["Containers"], float64(-1)))

	var current []map[string]any
	getJSON(t, hc, "/v1.51/images/json", &current)
	assert.Assert(t, is.Len(current, 2))
	assert.Check(t, is.Equal(current[0]["Containers"], float64(2)))
}

func TestImageInspectLegacyFields(t *testing.T) {
	b := &fakeBackend{
		imageGet: func(context.Context, string) (image.InspectResponse, error) {
			config := &dockerspec.DockerOCIImageConfig{}
			config.Cmd = []string{"sh"}
			return image.InspectResponse{
				ID: "sha256:aa", RepoTags: []string{"app:1"}, RepoDigests: []string{},
				Size: 42, Os: "linux", Architecture: "amd64", Config: config,
			}, nil
		},
	}
	hc := startServer(t, b).httpClient(t)

	var v143 map[string]any
	getJSON(t, hc, "/v1.43/images/app:1/json", &v143)
	assert.Check(t, is.Equal(v143["VirtualSize"], float64(42)))
	assert.Check(t, is.Equal(v143["Created"], "0001-01-01T00:00:00Z"))
	assert.Check(t, is.Equal(v143["Container"], ""))
	_, ok := v143["ContainerConfig"].(map[string]any)
	assert.Check(t, ok, "ContainerConfig is %#v", v143["ContainerConfig"])
	for _, key := range []string{"Parent", "Comment", "DockerVersion", "Author"} {
		assert.Check(t, is.Equal(v143[key], ""), key)
	}
	config := v143["Config"].(map[string]any)
	assert.Check(t, is.DeepEqual(config["Cmd"], []any{"sh"}))
	for key, want := range map[string]any{
		"Hostname": "", "Tty": false, "OpenStdin": false, "Image": "", "User": "", "WorkingDir": "",
		"Env": nil, "Entrypoint": nil, "Labels": nil, "Volumes": nil, "OnBuild": nil,
	} {
		got, present := config[key]
		assert.Check(t, present, "API 1.43 image Config has no %s", key)
		assert.Check(t, is.DeepEqual(got, want), key)
	}

	var v151 map[string]any
	getJSON(t, hc, "/v1.51/images/app:1/json", &v151)
	for _, key := range []string{"VirtualSize", "Container", "ContainerConfig", "Created"} {
		_, present := v151[key]
		assert.Check(t, !present, "API 1.51 image carries %s", key)
	}
	assert.Check(t, is.Equal(v151["Parent"], ""))
	config = v151["Config"].(map[string]any)
	_, present := config["Hostname"]
	assert.Check(t, !present, "API 1.51 image Config carries Hostname")
	assert.Check(t, is.Equal(config["User"], ""))

	var current map[string]any
	getJSON(t, hc, "/v1.52/images/app:1/json", &current)
	_, present = current["Parent"]
	assert.Check(t, !present, "API 1.52 image carries an empty Parent")
	config = current["Config"].(map[string]any)
	assert.Check(t, is.DeepEqual(config, map[string]any{"Cmd": []any{"sh"}}))
}
