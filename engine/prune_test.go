package engine

import (
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParseTimestamp(t *testing.T) {
	now := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Time
	}{
		{"1h", now.Add(-time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.5", time.Unix(1700000000, 500000000)},
		{"2026-01-02T03:04:05Z", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2026-01-02", time.Date(2026, 1, 2, 0, 0, 0, 0, time.Local)},
	}
	for _, tc := range tests {
		got, err := parseTimestamp(tc.value, now)
		assert.Check(t, err, "value %q", tc.value)
		assert.Check(t, got.Equal(tc.want), "value %q: got %v, expected %v", tc.value, got, tc.want)
	}

	_, err := parseTimestamp("yesterday", now)
	assert.Check(t, errdefs.IsInvalidArgument(err))
	assert.Check(t, is.ErrorContains(err, "invalid filter 'until=yesterday'"))
}

func TestParsePruneFilterKeys(t *testing.T) {
	now := time.Now()
	f, err := parsePruneFilter(nil, true, now)
	assert.NilError(t, err)
	assert.Check(t, f.dangling)

	f, err = parsePruneFilter(map[string][]string{"dangling": {"false"}}, true, now)
	assert.NilError(t, err)
	assert.Check(t, !f.dangling)

	_, err = parsePruneFilter(map[string][]string{"dangling": {"false"}}, false, now)
	assert.Check(t, is.ErrorContains(err, "invalid filter 'dangling'"))
	assert.Check(t, errdefs.IsInvalidArgument(err))

	_, err = parsePruneFilter(map[string][]string{"dangling": {"maybe"}}, true, now)
	assert.Check(t, is.ErrorContains(err, "invalid filter 'dangling=maybe'"))
}

func TestPruneFilterMatch(t *testing.T) {
	now := time.Now()
	f, err := parsePruneFilter(map[string][]string{
		"until":  {"1h"},
		"label":  {"app", "tier=web"},
		"label!": {"keep"},
	}, false, now)
	assert.NilError(t, err)

	old := now.Add(-2 * time.Hour)
	assert.Check(t, f.match(old, map[string]string{"app": "x", "tier": "web"}))
	assert.Check(t, !f.match(now, map[string]string{"app": "x", "tier": "web"}), "created after until")
	assert.Check(t, !f.match(old, map[string]string{"app": "x", "tier": "db"}), "label value differs")
	assert.Check(t, !f.match(old, map[string]string{"tier": "web"}), "label missing")
	assert.Check(t, !f.match(old, map[string]string{"app": "x", "tier": "web", "keep": ""}), "label! present")
}
