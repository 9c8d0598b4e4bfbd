package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	ctr "github.com/berth-engine/berth/container"
)

func testContainer(status ctr.Status, code int) *ctr.Container {
	return &ctr.Container{
		ID:        strings.Repeat("ab", 32),
		Name:      "web-1",
		ImageName: "webapp:latest",
		Image:     digest.Digest("sha256:" + strings.Repeat("cd", 32)),
		Config:    &container.Config{Labels: map[string]string{"tier": "front", "team": "ops"}},
		State: ctr.State{
			Status:     status,
			ExitCode:   code,
			StartedAt:  time.Now().Add(-3 * time.Minute),
			FinishedAt: time.Now().Add(-2 * time.Second),
		},
	}
}

func TestContainerFilter(t *testing.T) {
	t.Parallel()
	c := testContainer(ctr.Exited, 3)
	cases := []struct {
		name    string
		filters map[string][]string
		match   bool
	}{
		{"no filters", nil, true},
		{"status", map[string][]string{"status": {"exited"}}, true},
		{"other status", map[string][]string{"status": {"running"}}, false},
		{"one of two statuses", map[string][]string{"status": {"running", "exited"}}, true},
		{"exit code", map[string][]string{"exited": {"3"}}, true},
		{"other exit code", map[string][]string{"exited": {"0"}}, false},
		{"name substring", map[string][]string{"name": {"web"}}, true},
		{"name regexp", map[string][]string{"name": {"^/web-[0-9]$"}}, true},
		{"name without slash anchored", map[string][]string{"name": {"^web-1$"}}, false},
		{"label key", map[string][]string{"label": {"tier"}}, true},
		{"label value", map[string][]string{"label": {"tier=front"}}, true},
		{"other label value", map[string][]string{"label": {"tier=back"}}, false},
		{"both labels", map[string][]string{"label": {"tier=front", "team"}}, true},
		{"one of two labels", map[string][]string{"label": {"tier=front", "team=dev"}}, false},
		{"one label missing", map[string][]string{"label": {"team", "owner"}}, false},
		{"ancestor name", map[string][]string{"ancestor": {"webapp:latest"}}, true},
		{"ancestor id", map[string][]string{"ancestor": {"cdcd"}}, true},
		{"id prefix", map[string][]string{"id": {"abab"}}, true},
		{"all must match", map[string][]string{"status": {"exited"}, "name": {"db"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := newContainerFilter(tc.filters, resolveNothing)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(f.match(c), tc.match))
		})
	}

	_, err := newContainerFilter(map[string][]string{"colour": {"red"}}, resolveNothing)
	assert.Check(t, errdefs.IsInvalidArgument(err))
}

func TestContainerFilterDockerKeys(t *testing.T) {
	t.Parallel()
	c := testContainer(ctr.Running, 0)
	c.Created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.HostConfig = &container.HostConfig{}
	c.Network = &ctr.Endpoint{Ports: mobynet.PortMap{
		mobynet.MustParsePort("80/tcp"):   {{HostPort: "8080"}},
		mobynet.MustParsePort("53/udp"):   {{HostPort: "5353"}},
		mobynet.MustParsePort("9000/tcp"): nil,
	}}
	refs := map[string]containerRef{
		"older": {id: "o", created: c.Created.Add(-time.Hour)},
		"newer": {id: "n", created: c.Created.Add(time.Hour)},
		"self":  {id: c.ID, created: c.Created},
	}
	lookup := func(ref string) (containerRef, error) {
		if r, ok := refs[ref]; ok {
			return r, nil
		}
		return containerRef{}, errdefs.ErrNotFound
	}
	cases := []struct {
		name    string
		filters map[string][]string
		match   bool
	}{
		{"before newer", map[string][]string{"before": {"newer"}}, true},
		{"before older", map[string][]string{"before": {"older"}}, false},
		{"before itself", map[string][]string{"before": {"self"}}, false},
		{"since older", map[string][]string{"since": {"older"}}, true},
		{"since newer", map[string][]string{"since": {"newer"}}, false},
		{"since itself", map[string][]string{"since": {"self"}}, false},
		{"publish host port", map[string][]string{"publish": {"8080"}}, true},
		{"publish with proto", map[string][]string{"publish": {"8080/tcp"}}, true},
		{"publish other proto", map[string][]string{"publish": {"8080/udp"}}, false},
		{"publish container port", map[string][]string{"publish": {"80"}}, false},
		{"publish range", map[string][]string{"publish": {"8000-8100"}}, true},
		{"publish udp", map[string][]string{"publish": {"5353/udp"}}, true},
		{"publish range missing", map[string][]string{"publish": {"1-79"}}, false},
		{"expose container port", map[string][]string{"expose": {"80"}}, true},
		{"expose unpublished port", map[string][]string{"expose": {"9000/tcp"}}, true},
		{"expose host port", map[string][]string{"expose": {"8080"}}, false},
		{"expose range udp", map[string][]string{"expose": {"50-60/udp"}}, true},
		{"publish or expose", map[string][]string{"publish": {"1"}, "expose": {"80"}}, true},
		{"network bridge", map[string][]string{"network": {"bridge"}}, true},
		{"network host", map[string][]string{"network": {"host"}}, false},
		{"health none", map[string][]string{"health": {"none"}}, true},
		{"health healthy", map[string][]string{"health": {"healthy"}}, false},
		{"is-task false", map[string][]string{"is-task": {"false"}}, true},
		{"is-task true", map[string][]string{"is-task": {"true"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := newContainerFilter(tc.filters, resolveNothing)
			assert.NilError(t, err)
			assert.NilError(t, f.resolveContainers(lookup))
			assert.Check(t, is.Equal(f.match(c), tc.match))
		})
	}

	stopped := testContainer(ctr.Exited, 0)
	stopped.Network = c.Network
	f, err := newContainerFilter(map[string][]string{"expose": {"80"}}, resolveNothing)
	assert.NilError(t, err)
	assert.Check(t, !f.match(stopped), "a stopped container has no ports")

	host := testContainer(ctr.Running, 0)
	host.HostConfig = &container.HostConfig{NetworkMode: "host"}
	f, err = newContainerFilter(map[string][]string{"network": {"host"}}, resolveNothing)
	assert.NilError(t, err)
	assert.Check(t, f.match(host))

	for _, bad := range []map[string][]string{
		{"publish": {"80:80"}},
		{"expose": {"http"}},
		{"publish": {"90-80"}},
		{"health": {"sick"}},
		{"is-task": {"maybe"}},
	} {
		_, err := newContainerFilter(bad, resolveNothing)
		assert.Check(t, errdefs.IsInvalidArgument(err), "%v", bad)
	}

	f, err = newContainerFilter(map[string][]string{"since": {"missing"}}, resolveNothing)
	assert.NilError(t, err)
	assert.Check(t, errdefs.IsNotFound(f.resolveContainers(lookup)))
}

func resolveNothing(string) (digest.Digest, bool) { return "", false }

func TestStatusText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		container *ctr.Container
		want      string
	}{
		{testContainer(ctr.Running, 0), "Up 3 minutes"},
		{testContainer(ctr.Exited, 137), "Exited (137) 2 seconds ago"},
		{testContainer(ctr.Created, 0), "Created"},
		{testContainer(ctr.Paused, 0), "Up 3 minutes (Paused)"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			assert.Check(t, is.Equal(statusText(tc.container), tc.want))
		})
	}
}
