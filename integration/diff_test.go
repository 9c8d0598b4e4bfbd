package integration

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestDiffContainer(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "--name", "changer", "busybox", "sh", "-c",
		"mkdir /newdir && echo hi > /newdir/file && echo x >> /etc/passwd && rm -rf /var && mkdir /var && touch /var/new && rm /bin/rm")
	out := d.must("diff", "changer")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Check(t, is.Contains(lines, "A /newdir"), out)
	assert.Check(t, is.Contains(lines, "A /newdir/file"), out)
	assert.Check(t, is.Contains(lines, "C /bin"), out)
	assert.Check(t, is.Contains(lines, "D /bin/rm"), out)
	assert.Check(t, is.Contains(lines, "C /etc"), out)
	assert.Check(t, is.Contains(lines, "C /etc/passwd"), out)
	// /var was replaced by an opaque directory: its old entries are deleted.
	assert.Check(t, is.Contains(lines, "C /var"), out)
	assert.Check(t, is.Contains(lines, "A /var/new"), out)
	assert.Check(t, is.Contains(lines, "D /var/www"), out)
	// The mount points of the files berth mounts are no changes, as in
	// Docker.
	assert.Check(t, !strings.Contains(out, "/etc/hosts"), out)

	d.must("run", "--name", "quiet", "busybox", "true")
	assert.Check(t, is.Equal(d.must("diff", "quiet"), ""))
	assert.Check(t, is.Equal(d.must("container", "diff", "changer"), out))

	// A running container's changes are listed too.
	d.must("run", "-d", "--name", "runner", "busybox", "sh", "-c", "touch /x; sleep 300")
	waitFor(t, "the file to appear", 10e9, func() bool {
		return strings.Contains(d.must("diff", "runner"), "A /x")
	})

	r, err := d.run("diff", "no-such-container")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "No such container"))
}
