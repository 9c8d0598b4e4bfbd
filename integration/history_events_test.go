package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestImageHistory(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	out := d.must("history", "busybox")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Assert(t, len(lines) >= 2, out)
	assert.Check(t, is.DeepEqual(strings.Fields(lines[0]), []string{"IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"}))
	assert.Check(t, is.Equal(d.must("image", "history", "busybox"), out))

	id := strings.TrimSpace(d.must("images", "-q", "busybox"))
	assert.Check(t, is.Equal(strings.Fields(d.must("history", "-q", "busybox"))[0], id))

	sizes := strings.Fields(d.must("history", "--human=false", "--format", "{{.Size}}", "busybox"))
	assert.Assert(t, len(sizes) >= 1)
	size, err := strconv.ParseInt(sizes[len(sizes)-1], 10, 64)
	assert.NilError(t, err)
	assert.Check(t, size > 0)

	r, err := d.run("history", "no-such-image")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "No such image"))
}

func TestEventsSinceUntil(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	start := time.Now().Add(-time.Second)
	d.must("run", "--name", "eventful", "busybox", "true")
	until := time.Now().Add(time.Second)
	time.Sleep(1100 * time.Millisecond)

	since := strconv.FormatInt(start.Unix(), 10)
	end := strconv.FormatInt(until.Unix()+1, 10)
	out := d.must("events", "--since", since, "--until", end)
	assert.Check(t, is.Contains(out, " container create "), out)
	assert.Check(t, is.Contains(out, " container start "), out)
	assert.Check(t, is.Contains(out, " container die "), out)
	assert.Check(t, is.Contains(out, "name=eventful"), out)

	out = d.must("system", "events", "--since", since, "--until", end,
		"--filter", "event=start", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
	assert.Check(t, is.Equal(out, "container start eventful\n"))

	out = d.must("events", "--since", since, "--until", end, "-f", "event=die", "--format", "json")
	assert.Check(t, is.Contains(out, `"Action":"die"`), out)

	r, err := d.run("events", "--filter", "nonsense")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "invalid filter"))
}
