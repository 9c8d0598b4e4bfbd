package integration

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestSystemPrune(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	running := strings.TrimSpace(d.must("run", "-d", "busybox", "sleep", "60"))
	stopped := strings.TrimSpace(d.must("create", "-v", "/data", "busybox", "true"))
	anonymous := strings.TrimSpace(d.must("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", stopped))
	d.must("tag", "busybox:latest", "unused:latest")
	d.must("network", "create", "unusednet")
	d.must("network", "create", "usednet")
	d.must("network", "connect", "usednet", running)
	d.must("volume", "create", "named")

	r, err := d.runInput("n\n", "system", "prune")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stdout, "WARNING! This will remove:\n"+
		"  - all stopped containers\n"+
		"  - all networks not used by at least one container\n"+
		"  - all dangling images\n"+
		"  - unused build cache\n"))
	assert.Check(t, is.Contains(r.stderr, "system prune has been cancelled"))
	assert.Check(t, is.Contains(d.must("ps", "-a", "-q", "--no-trunc"), stopped))

	out := d.must("system", "prune", "-f")
	assert.Check(t, is.Contains(out, "Deleted Containers:\n"+stopped+"\n"), out)
	assert.Check(t, is.Contains(out, "Deleted Networks:\nunusednet\n"), out)
	assert.Check(t, !strings.Contains("\n"+out, "\nusednet\n"), out)
	assert.Check(t, !strings.Contains(out, "Deleted Volumes:"), out)
	networks := "\n" + d.must("network", "ls", "--format", "{{.Name}}")
	assert.Check(t, !strings.Contains(networks, "\nunusednet\n"), networks)
	assert.Check(t, is.Contains(networks, "\nusednet\n"), networks)
	assert.Check(t, !strings.Contains(out, running), out)
	assert.Check(t, !strings.Contains(out, "Deleted Images:"), out)
	assert.Check(t, is.Contains(out, "Total reclaimed space: "))
	assert.Check(t, is.Contains(d.must("images", "--format", "{{.Repository}}:{{.Tag}}"), "unused:latest"))

	r, err = d.runInput("y\n", "system", "prune", "-a")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Contains(r.stdout, "all images without at least one container associated to them"))
	// The running container still uses the image under both tags.
	images := d.must("images", "--format", "{{.Repository}}:{{.Tag}}")
	assert.Check(t, is.Contains(images, "unused:latest"), images)
	assert.Check(t, is.Contains(d.must("ps", "-q", "--no-trunc"), running))

	d.must("rm", "-f", running)
	out = d.must("system", "prune", "-f", "--volumes")
	assert.Check(t, is.Contains(out, "Deleted Networks:\nusednet\n"), out)
	assert.Check(t, is.Contains(out, "Deleted Volumes:\n"+anonymous+"\n"), out)
	volumes := d.must("volume", "ls", "--format", "{{.Name}}")
	assert.Check(t, is.Equal(volumes, "named\n"), "a named volume stays without --all")

	out = d.must("system", "prune", "-a", "-f")
	assert.Check(t, is.Contains(out, "Deleted Images:\n"), out)
	assert.Check(t, is.Contains(out, "untagged: unused:latest\n"), out)
	assert.Check(t, is.Equal(d.must("images", "-q"), ""))
}
