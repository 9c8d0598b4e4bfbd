package content

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	root := t.TempDir()
	s, err := New(root)
	assert.NilError(t, err)
	return s, root
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	assert.NilError(t, err)
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	return names
}

func TestWrite(t *testing.T) {
	data := []byte("hello blob")
	want := digest.FromBytes(data)

	tests := []struct {
		name     string
		expected digest.Digest
		wantErr  error
	}{
		{name: "no expected digest"},
		{name: "matching digest", expected: want},
		{name: "mismatching digest", expected: digest.FromString("other"), wantErr: errdefs.ErrInvalidArgument},
		{name: "malformed digest", expected: "sha256:xyz", wantErr: errdefs.ErrInvalidArgument},
		{name: "sha512 digest", expected: digest.SHA512.FromBytes(data)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, root := newStore(t)

			d, size, err := s.Write(context.Background(), bytes.NewReader(data), tc.expected)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				assert.Check(t, is.Len(entries(t, filepath.Join(root, "ingest")), 0))
				assert.Check(t, is.Len(entries(t, filepath.Join(root, "blobs", "sha256")), 0))
				return
			}
			assert.NilError(t, err)
			if tc.expected != "" {
				assert.Check(t, is.Equal(d, tc.expected))
			} else {
				assert.Check(t, is.Equal(d, want))
			}
			assert.Check(t, is.Equal(size, int64(len(data))))
			assert.Check(t, s.Has(d))

			got, err := s.ReadAll(d)
			assert.NilError(t, err)
			assert.Check(t, is.DeepEqual(got, data))
			assert.Check(t, is.Len(entries(t, filepath.Join(root, "ingest")), 0))
		})
	}
}

func TestWriteExistingBlob(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()

	d1, _, err := s.Write(ctx, strings.NewReader("same"), "")
	assert.NilError(t, err)
	r := strings.NewReader("same")
	d2, size, err := s.Write(ctx, r, d1)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(d1, d2))
	assert.Check(t, is.Equal(size, int64(4)))
	assert.Check(t, is.Equal(r.Len(), 0), "reader not consumed")
}

func TestOpenSizeDelete(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()

	d, _, err := s.Write(ctx, strings.NewReader("payload"), "")
	assert.NilError(t, err)

	rc, err := s.Open(d)
	assert.NilError(t, err)
	got, err := io.ReadAll(rc)
	assert.NilError(t, err)
	assert.NilError(t, rc.Close())
	assert.Check(t, is.Equal(string(got), "payload"))

	size, err := s.Size(d)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(size, int64(7)))

	assert.NilError(t, s.Delete(d))
	assert.Check(t, !s.Has(d))

	_, err = s.Open(d)
	assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound))
	_, err = s.Size(d)
	assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound))
	_, err = s.ReadAll(d)
	assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound))
	assert.Check(t, is.ErrorIs(s.Delete(d), errdefs.ErrNotFound))
}

func TestWalk(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()

	want := map[digest.Digest]int64{}
	for _, data := range []string{"a", "bb", "ccc"} {
		d, size, err := s.Write(ctx, strings.NewReader(data), "")
		assert.NilError(t, err)
		want[d] = size
	}

	got := map[digest.Digest]int64{}
	err := s.Walk(func(d digest.Digest, size int64) error {
		got[d] = size
		return nil
	})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got, want))
}

func TestNewCleansIngest(t *testing.T) {
	root := t.TempDir()
	_, err := New(root)
	assert.NilError(t, err)

	leftover := filepath.Join(root, "ingest", "blob-123")
	assert.NilError(t, os.WriteFile(leftover, []byte("half"), 0o600))

	_, err = New(root)
	assert.NilError(t, err)
	_, err = os.Stat(leftover)
	assert.Check(t, os.IsNotExist(err))
}

func TestWriteCancelled(t *testing.T) {
	s, root := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, _, err := s.Write(ctx, strings.NewReader("data"), "")
	assert.Check(t, is.ErrorIs(err, context.Canceled))
	assert.Check(t, is.Len(entries(t, filepath.Join(root, "ingest")), 0))
}
