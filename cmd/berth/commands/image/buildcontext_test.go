package image

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		assert.NilError(t, os.WriteFile(path, []byte(content), 0o644))
	}
}

// readContextArchive returns the regular files of a context archive by
// name.
func readContextArchive(t *testing.T, ctx buildContext) map[string]string {
	t.Helper()
	defer ctx.body.Close()
	files := map[string]string{}
	tr := tar.NewReader(ctx.body)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		assert.NilError(t, err)
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		assert.NilError(t, err)
		files[hdr.Name] = string(data)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestContextDockerfileFromStdin(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a", "skip.txt": "s", ".dockerignore": "skip.txt\n"})

	ctx, err := contextFromDir(dir, "-", strings.NewReader("FROM busybox\n"))
	assert.NilError(t, err)
	assert.Check(t, strings.HasPrefix(ctx.dockerfile, ".dockerfile."))
	files := readContextArchive(t, ctx)
	assert.Check(t, is.Equal(files[ctx.dockerfile], "FROM busybox\n"))
	assert.Check(t, is.DeepEqual(sortedKeys(files), []string{ctx.dockerfile, ".dockerignore", "a.txt"}))
}

func TestContextDockerfileIgnorePrecedence(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"app.Dockerfile":              "FROM busybox\n",
		"app.Dockerfile.dockerignore": "b.txt\n",
		".dockerignore":               "a.txt\n",
		"a.txt":                       "a",
		"b.txt":                       "b",
	})

	ctx, err := contextFromDir(dir, filepath.Join(dir, "app.Dockerfile"), nil)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(ctx.dockerfile, "app.Dockerfile"))
	files := readContextArchive(t, ctx)
	_, hasA := files["a.txt"]
	_, hasB := files["b.txt"]
	assert.Check(t, hasA, "the Dockerfile's own ignore file replaces .dockerignore")
	assert.Check(t, !hasB)
	_, hasIgnore := files["app.Dockerfile.dockerignore"]
	assert.Check(t, hasIgnore, "the daemon needs the ignore file to apply the same patterns")
}

func TestContextOutsideDockerfileIgnore(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	writeTree(t, dir, map[string]string{".dockerignore": "a.txt\n", "a.txt": "a", "b.txt": "b"})
	writeTree(t, other, map[string]string{"x.Dockerfile": "FROM busybox\n", "x.Dockerfile.dockerignore": "b.txt\n"})

	ctx, err := contextFromDir(dir, filepath.Join(other, "x.Dockerfile"), nil)
	assert.NilError(t, err)
	files := readContextArchive(t, ctx)
	assert.Check(t, is.Equal(files[ctx.dockerfile], "FROM busybox\n"))
	assert.Check(t, is.Equal(files[ctx.dockerfile+".dockerignore"], "b.txt\n"))
	_, hasA := files["a.txt"]
	assert.Check(t, hasA)
	_, hasB := files["b.txt"]
	assert.Check(t, !hasB)
}
