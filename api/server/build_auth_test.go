package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestBuildPassesRegistryConfig(t *testing.T) {
	var got map[string]registry.AuthConfig
	backend := &fakeBackend{build: func(_ context.Context, req BuildRequest, _ io.Writer) (string, error) {
		got = req.AuthConfigs
		return testImageID, nil
	}}
	ts := startServer(t, backend)
	auths := map[string]registry.AuthConfig{"localhost:5000": {Username: "u", Password: "p"}}
	res, err := ts.client(t).ImageBuild(context.Background(), strings.NewReader(""), client.ImageBuildOptions{AuthConfigs: auths})
	assert.NilError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	assert.Check(t, is.DeepEqual(got, auths))
}

func TestBuildIgnoresInvalidRegistryConfig(t *testing.T) {
	called := false
	backend := &fakeBackend{build: func(_ context.Context, req BuildRequest, _ io.Writer) (string, error) {
		called = true
		assert.Check(t, req.AuthConfigs == nil)
		return testImageID, nil
	}}
	ts := startServer(t, backend)
	req, err := http.NewRequest(http.MethodPost, "http://berth/v1.50/build", strings.NewReader(""))
	assert.NilError(t, err)
	req.Header.Set("X-Registry-Config", "not base64!")
	resp, err := ts.httpClient(t).Do(req)
	assert.NilError(t, err)
	defer resp.Body.Close()
	assert.Check(t, is.Equal(resp.StatusCode, http.StatusOK))
	assert.Check(t, called)
}
