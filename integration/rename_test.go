package integration

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestRenameContainer(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	id := strings.TrimSpace(d.must("run", "-d", "--name", "first", "busybox", "sleep", "60"))
	d.must("create", "--name", "other", "busybox", "true")

	assert.Check(t, is.Equal(d.must("rename", "first", "second"), ""))
	assert.Check(t, is.Equal(d.must("inspect", "-f", "{{.Name}} {{.State.Status}}", id), "/second running\n"))
	assert.Check(t, is.Equal(d.must("ps", "--format", "{{.Names}}"), "second\n"))

	r, err := d.run("inspect", "first")
	assert.NilError(t, err)
	assert.Check(t, r.code != 0)
	assert.Check(t, is.Contains(r.stderr, "No such"))

	// The old name is free again.
	d.must("create", "--name", "first", "busybox", "true")

	r, err = d.run("rename", "second", "other")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, `Conflict. The container name "/other" is already in use`))

	r, err = d.run("container", "rename", "second", "bad name!")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "Invalid container name (bad name!)"))

	r, err = d.run("rename", "second", "second")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "Renaming a container with the same name as its current name"))

	r, err = d.run("rename", "missing", "third")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "No such container: missing"))

	r, err = d.run("rename", "second", " ")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "Neither old nor new names may be empty"))

	// The new name survives a daemon restart.
	d.must("container", "rename", id[:12], "/third")
	d.stop()
	d.start()
	assert.Check(t, is.Equal(d.must("inspect", "-f", "{{.Name}}", id), "/third\n"))
	d.must("rm", "-f", "third")
}
