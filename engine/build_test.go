package engine

import (
	"testing"

	"github.com/moby/moby/api/types/registry"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestBuildPullerAuthFor(t *testing.T) {
	hub := registry.AuthConfig{Username: "hub"}
	local := registry.AuthConfig{Username: "local"}
	schemed := registry.AuthConfig{Username: "schemed"}
	p := buildPuller{auths: map[string]registry.AuthConfig{
		"https://index.docker.io/v1/": hub,
		"localhost:5000":              local,
		"https://registry.example":    schemed,
	}}

	assert.Check(t, is.DeepEqual(p.authFor("busybox"), hub))
	assert.Check(t, is.DeepEqual(p.authFor("docker.io/library/alpine:3"), hub))
	assert.Check(t, is.DeepEqual(p.authFor("localhost:5000/app:1"), local))
	assert.Check(t, is.DeepEqual(p.authFor("registry.example/team/app"), schemed))
	assert.Check(t, is.DeepEqual(p.authFor("other.example/app"), registry.AuthConfig{}))
	assert.Check(t, is.DeepEqual(buildPuller{}.authFor("busybox"), registry.AuthConfig{}))
}
