package integration

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// hostTree makes a source directory and an "outside" directory whose
// contents escape checks compare before and after.
func hostTree(t *testing.T) (src, outside string) {
	t.Helper()
	base := t.TempDir()
	src = filepath.Join(base, "src")
	outside = filepath.Join(base, "outside")
	assert.NilError(t, os.MkdirAll(filepath.Join(src, "sub"), 0o750))
	assert.NilError(t, os.WriteFile(filepath.Join(src, "a"), []byte("alpha\n"), 0o640))
	assert.NilError(t, os.WriteFile(filepath.Join(src, "sub", "b"), []byte("beta\n"), 0o644))
	assert.NilError(t, os.MkdirAll(outside, 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(outside, "sentinel"), []byte("host\n"), 0o644))
	return src, outside
}

func assertUnchanged(t *testing.T, outside string) {
	t.Helper()
	entries, err := os.ReadDir(outside)
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 1))
	data, err := os.ReadFile(filepath.Join(outside, "sentinel"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), "host\n"))
}

func TestCpRunning(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	src, _ := hostTree(t)
	d.must("run", "-d", "--name", "box", "busybox", "sleep", "300")

	// Into an existing directory: the source keeps its name.
	d.must("cp", src, "box:/tmp")
	assert.Check(t, is.Equal(d.must("exec", "box", "cat", "/tmp/src/a", "/tmp/src/sub/b"), "alpha\nbeta\n"))
	assert.Check(t, is.Equal(d.must("exec", "box", "stat", "-c", "%a %u", "/tmp/src/a", "/tmp/src/sub"), "640 0\n750 0\n"))
	// SRC/. copies the contents; a missing destination is created.
	d.must("container", "cp", src+"/.", "box:/tmp/contents")
	assert.Check(t, is.Equal(d.must("exec", "box", "cat", "/tmp/contents/a"), "alpha\n"))
	// A file to a new name, and to a directory that must exist.
	d.must("cp", filepath.Join(src, "a"), "box:/tmp/renamed")
	assert.Check(t, is.Equal(d.must("exec", "box", "cat", "/tmp/renamed"), "alpha\n"))
	r, err := d.run("cp", filepath.Join(src, "a"), "box:/nonexistent/")
	assert.NilError(t, err)
	assert.Check(t, r.code != 0, r)

	// Out of the container, directory and file.
	dst := filepath.Join(t.TempDir(), "out")
	d.must("cp", "box:/tmp/src", dst)
	data, err := os.ReadFile(filepath.Join(dst, "sub", "b"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), "beta\n"))
	fi, err := os.Stat(filepath.Join(dst, "a"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o640)))
	d.must("cp", "box:/tmp/contents/.", dst)
	d.must("cp", "box:/etc/passwd", dst+"/")
	_, err = os.Stat(filepath.Join(dst, "passwd"))
	assert.NilError(t, err)

	r, err = d.run("cp", "box:/no/such/file", dst)
	assert.NilError(t, err)
	assert.Check(t, r.code != 0)
	assert.Check(t, is.Contains(r.stderr, "Could not find the file /no/such/file in container box"))

	// "-" streams a tar both ways.
	out := d.must("cp", "box:/tmp/renamed", "-")
	tr := tar.NewReader(strings.NewReader(out))
	hdr, err := tr.Next()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(hdr.Name, "renamed"))

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "fromstdin", Typeflag: tar.TypeReg, Mode: 0o600, Size: 3}))
	_, err = tw.Write([]byte("in\n"))
	assert.NilError(t, err)
	assert.NilError(t, tw.Close())
	r, err = d.runInput(buf.String(), "cp", "-", "box:/tmp")
	assert.NilError(t, err)
	assert.Equal(t, r.code, 0, r)
	assert.Check(t, is.Equal(d.must("exec", "box", "cat", "/tmp/fromstdin"), "in\n"))
}

func TestCpEscapes(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	src, outside := hostTree(t)
	d.must("run", "-d", "--name", "box", "busybox", "sleep", "300")

	// Symlinks in the container pointing at the host path, absolute and
	// climbing with "..": both resolve inside the container.
	d.must("exec", "box", "ln", "-s", outside, "/tmp/abs")
	d.must("exec", "box", "ln", "-s", "../../../../../../../.."+outside, "/tmp/rel")
	d.must("exec", "box", "ln", "-s", "/etc", "/tmp/etc")
	for _, target := range []string{"box:/tmp/abs", "box:/tmp/rel", "box:/tmp/abs/", "box:/tmp/rel/x", "box:/../../../.." + outside} {
		r, err := d.run("cp", filepath.Join(src, "a"), target)
		assert.NilError(t, err)
		t.Log(target, r)
		assertUnchanged(t, outside)
	}
	for _, source := range []string{"box:/tmp/abs/sentinel", "box:/tmp/rel/sentinel", "box:/../.." + outside + "/sentinel"} {
		r, err := d.run("cp", source, "-")
		assert.NilError(t, err)
		assert.Check(t, r.code != 0, source)
		assert.Check(t, !strings.Contains(r.stdout, "host"), source)
	}
	// Writing through the in-container /etc link stays in the container.
	d.must("cp", filepath.Join(src, "a"), "box:/tmp/etc/")
	assert.Check(t, is.Equal(d.must("exec", "box", "cat", "/etc/a"), "alpha\n"))

	// An archive that plants a symlink and then writes through it, and one
	// with "../" entries.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "evil", Typeflag: tar.TypeSymlink, Linkname: outside}))
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "evil/sentinel", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6}))
	_, err := tw.Write([]byte("pwned\n"))
	assert.NilError(t, err)
	assert.NilError(t, tw.Close())
	r, err := d.runInput(buf.String(), "cp", "-", "box:/tmp")
	assert.NilError(t, err)
	t.Log(r)
	assertUnchanged(t, outside)

	buf.Reset()
	tw = tar.NewWriter(&buf)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "../../../../../../.." + outside + "/sentinel", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6}))
	_, err = tw.Write([]byte("pwned\n"))
	assert.NilError(t, err)
	assert.NilError(t, tw.Close())
	r, err = d.runInput(buf.String(), "cp", "-", "box:/tmp")
	assert.NilError(t, err)
	assert.Equal(t, r.code, 0, r)
	assertUnchanged(t, outside)
	assert.Check(t, is.Equal(d.must("exec", "box", "cat", "/tmp"+outside+"/sentinel"), "pwned\n"))

	// Copying a container link out gives the link, not the host file.
	dst := filepath.Join(t.TempDir(), "link")
	d.must("cp", "box:/tmp/abs", dst)
	target, err := os.Readlink(dst)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(target, outside))
}

func TestCpStopped(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	src, _ := hostTree(t)
	d.must("create", "--name", "stopped", "busybox", "cat", "/copied/a")

	d.must("cp", src, "stopped:/copied")
	dst := filepath.Join(t.TempDir(), "back")
	d.must("cp", "stopped:/copied/sub/b", dst)
	data, err := os.ReadFile(dst)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), "beta\n"))

	// The snapshot was unmounted again, so the container starts normally
	// and reads the copied file.
	assert.Check(t, is.Equal(d.must("start", "-a", "stopped"), "alpha\n"))
	d.must("cp", "stopped:/copied/a", dst)
	data, err = os.ReadFile(dst)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), "alpha\n"))
}
