package rootarchive

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestResolveInSymlinks(t *testing.T) {
	root, outside := sandbox(t)
	assert.NilError(t, os.Symlink("/", filepath.Join(root, "toroot")))
	assert.NilError(t, os.Symlink("../../../..", filepath.Join(root, "up")))
	assert.NilError(t, os.Symlink(outside, filepath.Join(root, "abs")))
	assert.NilError(t, os.MkdirAll(filepath.Join(root, "a", "b"), 0o755))
	assert.NilError(t, os.Symlink("../b", filepath.Join(root, "a", "rel")))

	for _, tc := range []struct{ in, want string }{
		{"/toroot/x", "/x"},
		{"/up/y", "/y"},
		{"/abs/z", outside + "/z"},
		{"/a/../../../w", "/w"},
		{"/a/rel/v", "/b/v"},
		{"/a/b/c/d", "/a/b/c/d"},
	} {
		got, err := ResolveIn(root, tc.in, CreateDir)
		assert.NilError(t, err, tc.in)
		assert.Check(t, is.Equal(got, tc.want), tc.in)
		fi, err := os.Stat(filepath.Join(root, got))
		assert.Check(t, err == nil && fi.IsDir(), "%s: %v", tc.in, err)
	}
	assertOutsideUntouched(t, outside)
}

func TestResolveInCreatesFile(t *testing.T) {
	root, _ := sandbox(t)
	got, err := ResolveIn(root, "/etc/conf", CreateFile)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got, "/etc/conf"))
	fi, err := os.Stat(filepath.Join(root, "etc", "conf"))
	assert.NilError(t, err)
	assert.Check(t, fi.Mode().IsRegular())

	_, err = ResolveIn(root, "/etc/conf/below", CreateDir)
	assert.Check(t, is.ErrorContains(err, "not a directory"))
}

func TestResolveInLoop(t *testing.T) {
	root, _ := sandbox(t)
	assert.NilError(t, os.Symlink("loop", filepath.Join(root, "loop")))
	_, err := ResolveIn(root, "/loop/x", CreateDir)
	assert.Check(t, is.ErrorContains(err, "too many levels of symbolic links"))
}
