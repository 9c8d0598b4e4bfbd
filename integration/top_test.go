package integration

import (
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestTopContainer(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "-d", "--name", "sleepers", "busybox", "sh", "-c", "sleep 300 & sleep 301; echo done")
	var out string
	waitFor(t, "both sleeps to run", 10*time.Second, func() bool {
		out = d.must("top", "sleepers")
		return strings.Contains(out, "sleep 300") && strings.Contains(out, "sleep 301")
	})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Check(t, is.Len(lines, 4), out)
	assert.Check(t, is.DeepEqual(strings.Fields(lines[0]), []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}))
	assert.Check(t, is.Contains(out, "sh -c sleep 300 & sleep 301; echo done"))

	out = d.must("container", "top", "sleepers", "-o", "pid,comm")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	assert.Check(t, is.DeepEqual(strings.Fields(lines[0]), []string{"PID", "COMMAND"}))
	assert.Check(t, is.Len(lines, 4), out)

	// A paused container's processes are listed too.
	d.must("pause", "sleepers")
	assert.Check(t, is.Contains(d.must("top", "sleepers"), "sleep 301"))
	d.must("unpause", "sleepers")

	r, err := d.run("top", "sleepers", "--no-such-ps-option")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "Error running ps"))

	r, err = d.run("top", "sleepers", "-o", "comm=PID")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, `specifying "comm=PID" is not allowed`))

	d.must("kill", "sleepers")
	r, err = d.run("top", "sleepers")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "is not running"))
}
