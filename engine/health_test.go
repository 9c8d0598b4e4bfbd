package engine

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestMergeHealthcheckFillsFromImage(t *testing.T) {
	img := &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 5}

	merged := mergeHealthcheck(&container.HealthConfig{Timeout: 2 * time.Second}, img)
	assert.Check(t, is.DeepEqual(merged.Test, []string{"CMD", "true"}))
	assert.Check(t, is.Equal(merged.Interval, time.Second))
	assert.Check(t, is.Equal(merged.Timeout, 2*time.Second))
	assert.Check(t, is.Equal(merged.Retries, 5))

	none := mergeHealthcheck(&container.HealthConfig{Test: []string{"NONE"}}, img)
	assert.Check(t, is.Nil(probeCommand(none)))
	assert.Check(t, is.Nil(mergeHealthcheck(nil, nil)))
}

func TestProbeCommandForms(t *testing.T) {
	assert.Check(t, is.DeepEqual(probeCommand(&container.HealthConfig{Test: []string{"CMD", "ls", "-l"}}),
		[]string{"ls", "-l"}))
	assert.Check(t, is.DeepEqual(probeCommand(&container.HealthConfig{Test: []string{"CMD-SHELL", "test -f /ok"}}),
		[]string{"/bin/sh", "-c", "test -f /ok"}))
	assert.Check(t, is.Nil(probeCommand(&container.HealthConfig{Test: []string{"CMD"}})))
	assert.Check(t, is.Nil(probeCommand(&container.HealthConfig{})))
}

func TestProbeScheduleDefaults(t *testing.T) {
	s := newProbeSchedule(&container.HealthConfig{})
	assert.Check(t, is.Equal(s.interval, 30*time.Second))
	assert.Check(t, is.Equal(s.timeout, 30*time.Second))
	assert.Check(t, is.Equal(s.startInterval, 5*time.Second))
	assert.Check(t, is.Equal(s.retries, 3))
}
