package integration

import (
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestPauseUnpause(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "-d", "--name", "counter", "busybox",
		"sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done")
	logLines := func() int { return strings.Count(d.must("logs", "counter"), "\n") }
	waitFor(t, "the counter to print", 10*time.Second, func() bool { return logLines() > 0 })

	assert.Check(t, is.Equal(d.must("pause", "counter"), "counter\n"))
	assert.Check(t, is.Equal(d.must("inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "counter"),
		"paused true true\n"))
	assert.Check(t, is.Contains(d.must("ps", "--format", "{{.Status}}"), "(Paused)"))
	frozen := logLines()
	time.Sleep(500 * time.Millisecond)
	assert.Check(t, is.Equal(logLines(), frozen), "a paused container kept printing")

	r, err := d.run("pause", "counter")
	assert.NilError(t, err)
	assert.Check(t, r.code != 0)
	assert.Check(t, is.Contains(r.stderr, "is already paused"))

	d.must("container", "unpause", "counter")
	waitFor(t, "the counter to go on", 10*time.Second, func() bool { return logLines() > frozen })
	r, err = d.run("unpause", "counter")
	assert.NilError(t, err)
	assert.Check(t, r.code != 0)
	assert.Check(t, is.Contains(r.stderr, "Error response from daemon: Container "))
	assert.Check(t, is.Contains(r.stderr, " is not paused"))

	// stop, kill and rm -f of a paused container work.
	d.must("container", "pause", "counter")
	d.must("stop", "-t", "1", "counter")
	assert.Check(t, is.Equal(d.must("inspect", "-f", "{{.State.Status}}", "counter"), "exited\n"))
	r, err = d.run("pause", "counter")
	assert.NilError(t, err)
	assert.Check(t, r.code != 0)
	assert.Check(t, is.Contains(r.stderr, "is not running"))

	// The stop signal reaches a paused container once it is thawed.
	d.must("run", "-d", "--name", "trapper", "busybox",
		"sh", "-c", "trap 'exit 3' TERM; echo ready; while true; do sleep 0.1; done")
	waitFor(t, "the trap", 10*time.Second, func() bool { return strings.Contains(d.must("logs", "trapper"), "ready") })
	d.must("pause", "trapper")
	d.must("stop", "-t", "20", "trapper")
	assert.Check(t, is.Equal(d.must("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "trapper"), "exited 3\n"))

	d.must("start", "counter")
	d.must("pause", "counter")
	d.must("kill", "counter")
	assert.Check(t, is.Equal(d.must("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "counter"), "exited 137\n"))

	d.must("start", "counter")
	d.must("pause", "counter")
	d.must("rm", "-f", "counter")
	r, err = d.run("inspect", "counter")
	assert.NilError(t, err)
	assert.Check(t, r.code != 0)
}
