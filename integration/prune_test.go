package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestContainerPrune(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	running := strings.TrimSpace(d.must("run", "-d", "--name", "running", "busybox", "sleep", "60"))
	d.must("run", "--name", "exited", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /big")
	exited := strings.TrimSpace(d.must("inspect", "-f", "{{.Id}}", "exited"))
	assert.Assert(t, is.Len(exited, 64))
	created := strings.TrimSpace(d.must("create", "--name", "created", "busybox", "true"))
	labelled := strings.TrimSpace(d.must("create", "--name", "labelled", "--label", "keep=yes", "busybox", "true"))

	r, err := d.runInput("n\n", "container", "prune")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stdout, "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "))
	assert.Check(t, is.Contains(r.stderr, "container prune has been cancelled"))
	assert.Check(t, is.Contains(d.must("ps", "-a", "-q", "--no-trunc"), exited))

	out := d.must("container", "prune", "--force", "--filter", "label!=keep")
	assert.Check(t, is.Contains(out, "Deleted Containers:\n"))
	assert.Check(t, is.Contains(out, exited+"\n"))
	assert.Check(t, is.Contains(out, created+"\n"))
	assert.Check(t, !strings.Contains(out, running), out)
	assert.Check(t, !strings.Contains(out, labelled), out)
	assert.Check(t, is.Contains(out, "\n\nTotal reclaimed space: 100"), out)

	all := d.must("ps", "-a", "-q", "--no-trunc")
	assert.Check(t, is.Contains(all, running))
	assert.Check(t, is.Contains(all, labelled))
	assert.Check(t, !strings.Contains(all, exited), all)

	r, err = d.runInput("y\n", "container", "prune", "--filter", "until=1h")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Equal(r.stdout, "WARNING! This will remove all stopped containers.\n"+
		"Are you sure you want to continue? [y/N] Total reclaimed space: 0B\n"))

	r, err = d.run("container", "prune", "-f", "--filter", "color=red")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "invalid filter 'color'"))
}

func TestImagePrune(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"),
		[]byte("FROM busybox\nRUN echo one > /one\n"), 0o644))
	first := strings.TrimSpace(d.must("build", "-q", "-t", "app:latest", dir))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"),
		[]byte("FROM busybox\nRUN echo two > /two\n"), 0o644))
	d.must("build", "-q", "-t", "app:latest", dir)
	d.must("tag", "busybox:latest", "unused:latest")

	// The first build lost its tag, so it is dangling.
	out := d.must("image", "prune", "-f")
	assert.Check(t, is.Contains(out, "Deleted Images:\ndeleted: "+first+"\n"), out)
	assert.Check(t, is.Contains(out, "Total reclaimed space: "))
	r, err := d.run("image", "inspect", first)
	assert.NilError(t, err)
	assert.Check(t, r.code != 0)
	assert.Check(t, is.Contains(d.must("images", "--format", "{{.Repository}}:{{.Tag}}"), "app:latest"))

	// With -a, unused tagged images go too, but not those of containers.
	d.must("create", "--name", "user", "app:latest")
	r, err = d.runInput("y\n", "image", "prune", "-a")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Contains(r.stdout, "WARNING! This will remove all images without at least one container associated to them."))
	assert.Check(t, is.Contains(r.stdout, "untagged: unused:latest\n"))
	images := d.must("images", "--format", "{{.Repository}}:{{.Tag}}")
	assert.Check(t, is.Contains(images, "app:latest"))
	assert.Check(t, !strings.Contains(images, "unused"), images)

	r, err = d.run("image", "prune", "-f", "--filter", "dangling=maybe")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "invalid filter 'dangling=maybe'"))
}
