package server

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/internal/rootarchive"
)

// archiveBackend serves the archive routes from a directory standing in for
// a container's root filesystem.
type archiveBackend struct {
	*fakeBackend
	root string
}

func (b *archiveBackend) ContainerStatPath(_ context.Context, id, p string) (container.PathStat, error) {
	st, err := rootarchive.StatPath(b.root, p)
	if err != nil {
		return container.PathStat{}, fmt.Errorf("Could not find the file %s in container %s: %w", p, id, err)
	}
	return container.PathStat{Name: st.Name, Size: st.Size, Mode: st.Mode, Mtime: st.Mtime, LinkTarget: st.LinkTarget}, nil
}

func (b *archiveBackend) ContainerArchivePath(ctx context.Context, id, p string, start func(container.PathStat) (io.Writer, error)) error {
	stat, err := b.ContainerStatPath(ctx, id, p)
	if err != nil {
		return err
	}
	w, err := start(stat)
	if err != nil {
		return err
	}
	return rootarchive.WriteTar(b.root, p, w)
}

func (b *archiveBackend) ContainerExtractToDir(_ context.Context, _, p string, noOverwrite, _ bool, r io.Reader) error {
	return rootarchive.Extract(b.root, p, r, rootarchive.ExtractOptions{NoOverwriteDirNonDir: noOverwrite})
}

func TestArchiveRoutesConfinePaths(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	assert.NilError(t, os.MkdirAll(filepath.Join(root, "data"), 0o755))
	assert.NilError(t, os.MkdirAll(outside, 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("host"), 0o600))
	assert.NilError(t, os.Symlink(outside, filepath.Join(root, "hostlink")))

	c := startServer(t, &archiveBackend{fakeBackend: &fakeBackend{}, root: root}).client(t)
	ctx := context.Background()

	// An upload that plants a link to the host and writes through it.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "esc", Typeflag: tar.TypeSymlink, Linkname: "../../outside"}))
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "hello", Typeflag: tar.TypeReg, Mode: 0o640, Size: 2}))
	_, err := tw.Write([]byte("hi"))
	assert.NilError(t, err)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "esc/secret", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5}))
	_, err = tw.Write([]byte("pwned"))
	assert.NilError(t, err)
	assert.NilError(t, tw.Close())
	_, err = c.CopyToContainer(ctx, "web", client.CopyToContainerOptions{DestinationPath: "/data", Content: &buf})
	assert.Check(t, err != nil)
	data, err := os.ReadFile(filepath.Join(outside, "secret"))
	assert.NilError(t, err)
	assert.Equal(t, string(data), "host")

	res, err := c.ContainerStatPath(ctx, "web", client.ContainerStatPathOptions{Path: "/data/hello"})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Stat.Name, "hello"))
	assert.Check(t, is.Equal(res.Stat.Size, int64(2)))
	assert.Check(t, is.Equal(res.Stat.Mode, os.FileMode(0o640)))

	res, err = c.ContainerStatPath(ctx, "web", client.ContainerStatPathOptions{Path: "/hostlink"})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Stat.LinkTarget, outside))

	_, err = c.ContainerStatPath(ctx, "web", client.ContainerStatPathOptions{Path: "/hostlink/secret"})
	assert.Check(t, errdefs.IsNotFound(err))
	_, err = c.CopyFromContainer(ctx, "web", client.CopyFromContainerOptions{SourcePath: "/hostlink/secret"})
	assert.Check(t, errdefs.IsNotFound(err))
	assert.Check(t, is.ErrorContains(err, "Could not find the file /hostlink/secret in container web"))

	from, err := c.CopyFromContainer(ctx, "web", client.CopyFromContainerOptions{SourcePath: "/data"})
	assert.NilError(t, err)
	defer from.Content.Close()
	assert.Check(t, from.Stat.Mode.IsDir())
	tr := tar.NewReader(from.Content)
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		assert.NilError(t, err)
		names = append(names, hdr.Name)
	}
	assert.DeepEqual(t, names, []string{"data/", "data/esc", "data/hello"})
}
