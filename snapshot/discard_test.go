package snapshot

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestDiscardChangesBelowPaths(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	base := applyTar(t, s, "", buildTar(t, baseEntries...))
	merged := mountNew(t, s, "c1", base.ChainID)

	assert.NilError(t, os.WriteFile(filepath.Join(merged, "a/new"), []byte("x"), 0o644))
	assert.NilError(t, os.Remove(filepath.Join(merged, "a/file1")))
	assert.NilError(t, os.RemoveAll(filepath.Join(merged, "c")))
	assert.NilError(t, os.Mkdir(filepath.Join(merged, "c"), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(merged, "c/fresh"), []byte("y"), 0o644))
	assert.NilError(t, os.WriteFile(filepath.Join(merged, "etc/kept"), []byte("z"), 0o644))
	assert.NilError(t, s.Unmount(ctx, "c1"))

	assert.NilError(t, s.DiscardChanges(ctx, "c1", "/a", "c", "/missing"))

	rc, err := s.Diff(ctx, "c1")
	assert.NilError(t, err)
	names := tarNames(t, rc)
	assert.NilError(t, rc.Close())
	assert.Check(t, is.Contains(names, "etc/kept"))
	for _, name := range []string{"a/new", "a/.wh.file1", "c/fresh", "c/.wh..wh..opq"} {
		assert.Check(t, !contains(names, name), "%s is still in the diff: %v", name, names)
	}

	merged, err = s.Mount(ctx, "c1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "a/file1")), "one"))
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "c/old")), "old"), "the opaque marker must be gone")
	assertMissing(t, filepath.Join(merged, "c/fresh"))
}
