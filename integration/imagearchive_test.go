package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestSaveLoadImages(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": "FROM busybox:latest\nRUN echo saved > /data.txt\nCMD [\"cat\", \"/data.txt\"]\n",
	})
	d.must("build", "-q", "-t", "app:1", "-t", "app:2", dir)
	appID := strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Id}}", "app:1"))
	busyboxID := strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Id}}", "busybox"))
	archive := filepath.Join(dir, "images.tar")

	t.Run("berth save and load", func(t *testing.T) {
		d.must("save", "-o", archive, "app", "busybox:latest")
		d.must("rmi", "app:1", "app:2", "busybox")
		out := d.must("load", "-i", archive)
		assert.Check(t, is.Equal(out, "Loaded image: app:1\nLoaded image: app:2\nLoaded image: busybox:latest\n"))
		assert.Check(t, is.Equal(strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Id}}", "app:1")), appID),
			"a loaded image keeps its ID")
		assert.Check(t, is.Equal(d.must("run", "--rm", "app:2"), "saved\n"))
	})

	t.Run("docker save and load", func(t *testing.T) {
		out, errOut, err := d.docker("save", "-o", archive, appID)
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Equal(out, ""))
		d.must("rmi", "app:1", "app:2")

		out, errOut, err = d.docker("load", "-i", archive)
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Equal(out, "Loaded image ID: "+appID+"\n"), "an image saved by ID has no tags")
		d.must("tag", appID, "app:1")
	})

	t.Run("load from stdin", func(t *testing.T) {
		data, err := os.ReadFile(archive)
		assert.NilError(t, err)
		r, err := d.runInput(string(data), "load", "-q")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 0), "%s", r)
		assert.Check(t, is.Equal(r.stdout, "Loaded image ID: "+appID+"\n"))
	})

	t.Run("save missing image", func(t *testing.T) {
		target := filepath.Join(dir, "missing.tar")
		_, errOut, err := d.docker("save", "-o", target, "busybox", "nope:1")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "No such image: nope:1"))
		_, statErr := os.Stat(target)
		assert.Check(t, os.IsNotExist(statErr), "a failed save leaves no file")
	})

	t.Run("load rejects other tars", func(t *testing.T) {
		before := d.must("images", "-a", "-q", "--no-trunc")
		_, errOut, err := d.docker("load", "-i", busyboxTar)
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "not an image archive"))

		// A cut archive: the blobs come first, so the manifest is lost.
		data, readErr := os.ReadFile(archive)
		assert.NilError(t, readErr)
		cut := filepath.Join(dir, "cut.tar")
		assert.NilError(t, os.WriteFile(cut, data[:len(data)/2], 0o644))
		r, runErr := d.run("load", "-i", cut)
		assert.NilError(t, runErr)
		assert.Check(t, is.Equal(r.code, 1), "%s", r)

		assert.Check(t, is.Equal(d.must("images", "-a", "-q", "--no-trunc"), before))
		leftovers, globErr := filepath.Glob(filepath.Join(d.dataRoot, "images", "load-*"))
		assert.NilError(t, globErr)
		assert.Check(t, is.Len(leftovers, 0))
	})

	assert.Check(t, is.Equal(strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Id}}", "busybox")), busyboxID))
}
