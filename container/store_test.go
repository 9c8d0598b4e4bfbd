package container

import (
	"context"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestStoreNameConflict(t *testing.T) {
	t.Parallel()
	s, err := NewStore(context.Background(), t.TempDir())
	assert.NilError(t, err)
	first := &Container{ID: "aaaa", Name: "web"}
	second := &Container{ID: "bbbb", Name: "db"}
	assert.NilError(t, s.Add(first))
	assert.NilError(t, s.Add(second))

	const conflict = `Conflict. The container name "/web" is already in use by container "aaaa". ` +
		`You have to remove (or rename) that container to be able to reuse that name.`

	err = s.Add(&Container{ID: "cccc", Name: "web"})
	assert.Check(t, errdefs.IsConflict(err))
	assert.Check(t, is.Error(err, conflict+": "+errdefs.ErrConflict.Error()))

	err = s.Rename(second, "web")
	assert.Check(t, errdefs.IsConflict(err))
	assert.Check(t, is.Error(err, "Error when allocating new name: "+conflict+": "+errdefs.ErrConflict.Error()))
	assert.Check(t, is.Equal(second.Name, "db"))
}
