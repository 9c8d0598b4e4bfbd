package integration

import (
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestCommitStoppedContainer(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "--name", "maker", "-e", "GREETING=hi", "-w", "/srv", "busybox",
		"sh", "-c", "mkdir -p /srv && echo made > /srv/made && rm /bin/vi")
	id := strings.TrimSpace(d.must("commit", "-a", "Ann <ann@example.com>", "-m", "first commit",
		"-c", "LABEL stage=committed", "-c", `CMD ["cat", "made"]`, "maker", "committed:v1"))
	assert.Check(t, strings.HasPrefix(id, "sha256:"), id)

	// The image has the container's files, config and the changes.
	assert.Check(t, is.Equal(d.must("run", "--rm", "committed:v1"), "made\n"))
	assert.Check(t, is.Equal(d.must("run", "--rm", "committed:v1", "sh", "-c", "echo $GREETING; pwd"), "hi\n/srv\n"))
	r, err := d.run("run", "--rm", "committed:v1", "ls", "/bin/vi")
	assert.NilError(t, err)
	assert.Check(t, r.code != 0)
	out := d.must("image", "inspect", "-f", "{{.Author}}|{{.Config.Labels.stage}}|{{.Comment}}", "committed:v1")
	assert.Check(t, is.Equal(out, "Ann <ann@example.com>|committed|first commit\n"))
	assert.Check(t, is.Contains(d.must("history", "committed:v1"), "first commit"))

	// The container itself is unchanged and still based on busybox.
	assert.Check(t, is.Equal(d.must("inspect", "-f", "{{.Config.Image}}", "maker"), "busybox\n"))
	assert.Check(t, is.Contains(d.must("diff", "maker"), "A /srv/made"))

	r, err = d.run("commit", "-c", "RUN true", "maker")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	r, err = d.run("commit", "no-such-container")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "No such container"))
}

func TestCommitRunningContainer(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "-d", "--name", "live", "busybox", "sh", "-c", "echo alive > /state; sleep 300")
	waitFor(t, "the file to appear", 10*time.Second, func() bool {
		return strings.Contains(d.must("diff", "live"), "A /state")
	})
	d.must("commit", "live", "live-image")
	assert.Check(t, is.Equal(d.must("inspect", "-f", "{{.State.Status}}", "live"), "running\n"))
	assert.Check(t, is.Equal(d.must("run", "--rm", "live-image", "cat", "/state"), "alive\n"))

	d.must("commit", "--pause=false", "live", "live-image:nopause")
	assert.Check(t, is.Equal(d.must("inspect", "-f", "{{.State.Status}}", "live"), "running\n"))
	assert.Check(t, is.Equal(d.must("run", "--rm", "live-image:nopause", "cat", "/state"), "alive\n"))

	// A paused container stays paused.
	d.must("pause", "live")
	d.must("commit", "live", "live-image:paused")
	assert.Check(t, is.Equal(d.must("inspect", "-f", "{{.State.Status}}", "live"), "paused\n"))
	d.must("unpause", "live")
}
