package build

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/content"
	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/internal/testutil"
	"github.com/berth-engine/berth/snapshot"
)

// storeRunner commits a layer holding /ran for every RUN, through the real
// image store.
type storeRunner struct {
	images *image.Store
}

func (r storeRunner) Run(ctx context.Context, req RunRequest) (image.Image, error) {
	layer := makeTar(nil, []tarEntry{file("ran", strings.Join(req.Cmd, " "))})
	now := time.Now()
	return r.images.Create(ctx, req.Image.ID, bytes.NewReader(layer), req.Config,
		ocispec.History{Created: &now, CreatedBy: req.CreatedBy})
}

func TestBuildWithImageStore(t *testing.T) {
	testutil.Requires(t, testutil.Root)
	ctx := context.Background()
	dataRoot := t.TempDir()
	cs, err := content.New(filepath.Join(dataRoot, "content"))
	assert.NilError(t, err)
	ls, err := snapshot.New(dataRoot)
	assert.NilError(t, err)
	images, err := image.New(filepath.Join(dataRoot, "images"), cs, ls)
	assert.NilError(t, err)

	base, err := images.Import(ctx, bytes.NewReader(makeTar(t, baseEntries())), dockerspec.DockerOCIImage{})
	assert.NilError(t, err)
	assert.NilError(t, images.Tag(ctx, base.ID, "busybox:latest"))

	b, err := New(images, storeRunner{images: images}, filepath.Join(dataRoot, "builder"))
	assert.NilError(t, err)
	dockerfile := `FROM busybox
COPY a.txt /tmp/
COPY b.txt /lib/
WORKDIR /srv/app
RUN make
COPY --from=busybox /etc/passwd /copied
`
	files := map[string]string{"Dockerfile": dockerfile, "a.txt": "a", "b.txt": "b"}
	var out bytes.Buffer
	img, err := b.Build(ctx, contextTar(t, files), Options{Tags: []string{"built"}}, &out)
	assert.NilError(t, err, out.String())

	got, err := images.Get(ctx, "built")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.ID, img.ID))
	assert.Check(t, is.Equal(got.Config.Config.WorkingDir, "/srv/app"))

	layers, err := b.layers.Layers(ctx, got)
	assert.NilError(t, err)
	assert.Check(t, is.Len(layers, 6), "base, two COPY, WORKDIR, RUN and COPY --from layers")
	tree, err := newImageTree(ctx, layers)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(tree.lookup("tmp").hdr.Mode&0o7777, int64(0o1777)), "COPY keeps the mode of existing parents")
	assert.Check(t, tree.lookup("lib").isSymlink(), "COPY through a symlinked directory keeps the symlink")
	assert.Check(t, tree.lookup("usr/lib/b.txt") != nil)
	assert.Check(t, tree.lookup("srv/app").isDir())
	copied := tree.lookup("copied")
	assert.Assert(t, copied != nil)
	blobs := &blobStore{dir: t.TempDir()}
	assert.NilError(t, tree.load(ctx, blobs, []*fsNode{copied}))
	data, err := copied.content.readAll()
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(data), "app:x:1000"))

	out.Reset()
	again, err := b.Build(ctx, contextTar(t, files), Options{}, &out)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(again.ID, img.ID))
	assert.Check(t, is.Equal(strings.Count(out.String(), " ---> Using cache\n"), 5))
}

func TestContentLayersWithoutManifest(t *testing.T) {
	src := contentLayers{blobDir: t.TempDir()}
	img := image.Image{ID: "sha256:x", Config: dockerspec.DockerOCIImage{}}
	img.Config.RootFS.DiffIDs = append(img.Config.RootFS.DiffIDs, "sha256:y")
	_, err := src.Layers(context.Background(), img)
	assert.ErrorContains(t, err, "image has no manifest")

	empty, err := src.Layers(context.Background(), image.Image{ID: "sha256:x"})
	assert.NilError(t, err)
	assert.Check(t, is.Len(empty, 0))
}
