package server

import (
	"net/http"
	"testing"

	"gotest.tools/v3/assert"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		path    string
		vars    map[string]string // nil when the path must not match
	}{
		{"/containers/json", "/containers/json", map[string]string{}},
		{"/containers/json", "/containers/json/", nil},
		{"/containers/{id}/json", "/containers/abc/json", map[string]string{"id": "abc"}},
		{"/containers/{id}/json", "/containers//json", nil},
		{"/containers/{id}/json", "/containers/a/b/json", nil},
		{"/containers/{id}", "/containers/abc", map[string]string{"id": "abc"}},
		{"/images/{name...}/json", "/images/busybox/json", map[string]string{"name": "busybox"}},
		{"/images/{name...}/json", "/images/localhost:5000/team/app:1.0/json",
			map[string]string{"name": "localhost:5000/team/app:1.0"}},
		{"/images/{name...}/json", "/images/team/json/json", map[string]string{"name": "team/json"}},
		{"/images/{name...}/json", "/images/json", nil},
		{"/images/{name...}/json", "/images//json", nil},
		{"/images/{name...}", "/images/a/b@sha256:00", map[string]string{"name": "a/b@sha256:00"}},
		{"/images/{name...}/tag", "/images/a/b/json", nil},
		{"/swarm/{rest...}", "/swarm/init", map[string]string{"rest": "init"}},
		{"/swarm/{rest...}", "/swarm", nil},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.path, func(t *testing.T) {
			vars, ok := parsePattern(tc.pattern).match(tc.path)
			assert.Equal(t, ok, tc.vars != nil)
			if tc.vars != nil {
				assert.DeepEqual(t, vars, tc.vars)
			}
		})
	}
}

func TestRouterOrder(t *testing.T) {
	rt := &router{}
	calls := map[string]int{}
	handler := func(name string) handlerFunc {
		return func(_ http.ResponseWriter, _ *http.Request, _ map[string]string) error {
			calls[name]++
			return nil
		}
	}
	rt.add(http.MethodGet, "/images/json", handler("list"))
	rt.add(http.MethodGet, "/images/{name...}/json", handler("inspect"))
	rt.add(http.MethodDelete, "/images/{name...}", handler("delete"))

	for _, tc := range []struct{ method, path, want string }{
		{http.MethodGet, "/images/json", "list"},
		{http.MethodGet, "/images/json/json", "inspect"},
		{http.MethodDelete, "/images/json", "delete"},
	} {
		h, _ := rt.lookup(tc.method, tc.path)
		assert.NilError(t, h(nil, nil, nil))
		assert.Equal(t, calls[tc.want], 1, tc.path)
		delete(calls, tc.want)
	}

	h, _ := rt.lookup(http.MethodPost, "/images/json")
	assert.ErrorContains(t, h(nil, nil, nil), "page not found")
}
