package integration

import (
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestUpdateMemoryAndRestart(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "-d", "--name", "app", "busybox", "sh", "-c",
		"while [ ! -f /stop ]; do sleep 0.1; done; rm /stop; exit 3")
	out := d.must("update", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "100", "app")
	assert.Check(t, is.Equal(out, "app\n"))
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.HostConfig.Memory}}", "app")), "67108864"))
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.HostConfig.NanoCPUs}}", "app")), "500000000"))

	limit := d.must("exec", "app", "sh", "-c",
		"cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
	assert.Check(t, is.Equal(strings.TrimSpace(limit), "67108864"))

	r, err := d.run("container", "update", "--restart", "bogus", "app")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "invalid restart policy"))

	r, err = d.run("update", "--memory", "1k", "app")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "Minimum memory limit allowed is 6MB"))

	d.must("container", "update", "--restart", "always", "app")
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "app")), "always"))
	d.must("exec", "app", "touch", "/stop")
	waitFor(t, "a restart", 20*time.Second, func() bool {
		return strings.TrimSpace(d.must("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "app")) == "1 running"
	})

	// The new values are stored, so a stopped container starts with them.
	d.must("stop", "-t", "1", "app")
	d.must("update", "--memory", "32m", "--cpu-shares", "512", "app")
	d.must("start", "app")
	limit = d.must("exec", "app", "sh", "-c",
		"cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
	assert.Check(t, is.Equal(strings.TrimSpace(limit), "33554432"))
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.HostConfig.CPUShares}}", "app")), "512"))
}
