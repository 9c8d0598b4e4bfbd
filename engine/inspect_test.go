package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
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
