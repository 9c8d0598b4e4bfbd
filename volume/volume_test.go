package volume

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestCreateAndReopen(t *testing.T) {
	root := t.TempDir()
	s, err := New(root)
	assert.NilError(t, err)

	v, err := s.Create("data", "", map[string]string{"team": "a"}, nil)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(v.Driver, LocalDriver))
	assert.NilError(t, os.WriteFile(filepath.Join(s.Path("data"), "f"), []byte("x"), 0o644))

	again, err := s.Create("data", "", nil, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(again.Labels, map[string]string{"team": "a"}), "create of an existing name returns it")

	// A directory a crash left without metadata still loads.
	assert.NilError(t, os.MkdirAll(filepath.Join(root, "orphan"), 0o755))

	reopened, err := New(root)
	assert.NilError(t, err)
	got, err := reopened.Get("data")
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got.Labels, map[string]string{"team": "a"}))
	assert.Check(t, is.Equal(reopened.Size("data"), int64(1)))
	_, err = reopened.Get("orphan")
	assert.Check(t, err)
}

func TestAnonymousName(t *testing.T) {
	s, err := New(t.TempDir())
	assert.NilError(t, err)
	v, err := s.Create("", "", nil, nil)
	assert.NilError(t, err)
	assert.Check(t, is.Len(v.Name, 64))
	assert.Check(t, v.Anonymous())
}

func TestCreateRejectsBadInput(t *testing.T) {
	s, err := New(t.TempDir())
	assert.NilError(t, err)
	for _, tc := range []struct {
		name, driver string
		options      map[string]string
	}{
		{name: "a/b"},
		{name: "x", driver: "nfs-plugin"},
		{name: "x", options: map[string]string{"size": "1g"}},
		{name: "x", options: map[string]string{"o": "size=1m"}},
	} {
		_, err := s.Create(tc.name, tc.driver, nil, tc.options)
		assert.Check(t, err != nil, "%+v", tc)
	}
}

func TestRemoveInUse(t *testing.T) {
	s, err := New(t.TempDir())
	assert.NilError(t, err)
	_, err = s.Create("busy", "", nil, nil)
	assert.NilError(t, err)
	assert.NilError(t, s.AddUser("busy", "c1"))

	err = s.Remove("busy", true)
	assert.Check(t, errdefs.IsConflict(err), "got %v", err)
	assert.Check(t, is.ErrorContains(err, "remove busy: volume is in use - [c1]"))

	s.RemoveUser("busy", "c1")
	assert.NilError(t, s.Remove("busy", false))
	_, err = os.Stat(filepath.Join(s.root, "busy"))
	assert.Check(t, os.IsNotExist(err))

	assert.Check(t, errdefs.IsNotFound(s.Remove("busy", false)))
	assert.NilError(t, s.Remove("busy", true))
}

func TestParseMountOptions(t *testing.T) {
	flags, data := ParseMountOptions("ro,nosuid,size=10m,uid=1000")
	assert.Check(t, is.Equal(data, "size=10m,uid=1000"))
	assert.Check(t, flags != 0)
	flags, data = ParseMountOptions("ro,rw")
	assert.Check(t, is.Equal(flags, uintptr(0)))
	assert.Check(t, is.Equal(data, ""))
}

func TestCreateForUserKeepsVolume(t *testing.T) {
	s, err := New(t.TempDir())
	assert.NilError(t, err)
	v, created, err := s.CreateForUser("c1", "", "", nil, nil)
	assert.NilError(t, err)
	assert.Check(t, created)
	assert.Check(t, is.DeepEqual(s.Users(v.Name), []string{"c1"}))
	assert.Check(t, errdefs.IsConflict(s.Remove(v.Name, false)))

	_, created, err = s.CreateForUser("c2", v.Name, "", nil, nil)
	assert.NilError(t, err)
	assert.Check(t, !created)
	assert.Check(t, is.DeepEqual(s.Users(v.Name), []string{"c1", "c2"}))
}
