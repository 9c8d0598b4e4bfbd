package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestStatsNoStream(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "-d", "--name", "busy", "busybox", "sh", "-c",
		"dd if=/dev/zero of=/big bs=1M count=8 2>/dev/null; sleep 300 & sleep 301 & while :; do :; done")
	waitFor(t, "the sleeps to start", 10*time.Second, func() bool {
		return strings.Contains(d.must("top", "busy"), "sleep 301")
	})
	d.must("run", "-d", "--name", "idle", "busybox", "sleep", "300")

	out := d.must("stats", "--no-stream")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Assert(t, is.Len(lines, 3), out)
	assert.Check(t, is.Equal(strings.Join(strings.Fields(lines[0]), " "),
		"CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS"))

	out = d.must("container", "stats", "--no-stream", "--format",
		"{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.NetIO}}|{{.PIDs}}", "busy")
	fields := strings.Split(strings.TrimSpace(out), "|")
	assert.Assert(t, is.Len(fields, 5), out)
	assert.Check(t, is.Equal(fields[0], "busy"))
	cpu, err := strconv.ParseFloat(strings.TrimSuffix(fields[1], "%"), 64)
	assert.NilError(t, err)
	assert.Check(t, cpu > 10, "busy loop uses %v%% CPU", cpu)
	assert.Check(t, !strings.HasPrefix(fields[2], "0B /"), fields[2])
	// sh and its two sleeps.
	assert.Check(t, is.Equal(fields[4], "3"))

	out = d.must("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "idle")
	assert.Check(t, is.Equal(out, "idle 1\n"))

	r, err := d.run("stats", "--no-stream", "no-such-container")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "No such container"))
}
