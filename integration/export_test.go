package integration

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestExportContainer(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "--name", "exported", "busybox", "sh", "-c", "echo hello > /greeting && rm /bin/vi")
	file := filepath.Join(t.TempDir(), "rootfs.tar")
	d.must("export", "-o", file, "exported")
	names := tarNames(t, file)
	assert.Check(t, names["greeting"])
	assert.Check(t, names["bin/busybox"])
	assert.Check(t, names["etc/passwd"])
	assert.Check(t, !names["bin/vi"])

	// The stopped container's snapshot was mounted for the export only.
	id := strings.TrimSpace(d.must("inspect", "-f", "{{.Id}}", "exported"))
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(mountinfo), id))

	// The export is a root filesystem that import accepts.
	d.must("import", file, "exported:latest")
	out := d.must("run", "--rm", "exported", "cat", "/greeting")
	assert.Check(t, is.Equal(out, "hello\n"))

	// A running container is exported too, to standard output.
	d.must("run", "-d", "--name", "running", "busybox", "sh", "-c", "touch /alive; sleep 300")
	waitFor(t, "the file to appear", 10e9, func() bool {
		return strings.Contains(d.must("diff", "running"), "A /alive")
	})
	r, err := d.run("container", "export", "running")
	assert.NilError(t, err)
	assert.Equal(t, r.code, 0, r.stderr)
	stdoutFile := filepath.Join(t.TempDir(), "running.tar")
	assert.NilError(t, os.WriteFile(stdoutFile, []byte(r.stdout), 0o644))
	assert.Check(t, tarNames(t, stdoutFile)["alive"])
	// The container still runs after its mount was read.
	assert.Check(t, is.Contains(d.must("ps"), "running"))

	r, err = d.run("export", "-o", file, "no-such-container")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "No such container"))
}

// tarNames returns the entry names of the tar file, without "./" or a
// trailing "/".
func tarNames(t *testing.T, file string) map[string]bool {
	t.Helper()
	f, err := os.Open(file)
	assert.NilError(t, err)
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		assert.NilError(t, err)
		names[strings.Trim(strings.TrimPrefix(hdr.Name, "./"), "/")] = true
	}
}
