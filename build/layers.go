package build

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/go-archive/compression"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/image"
)

// OCI whiteout names: a ".wh."-prefixed entry deletes the named sibling from
// lower layers, and the opaque marker hides all lower content of its directory.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// layerRef is one image layer that opens as an uncompressed tar stream.
type layerRef struct {
	Digest digest.Digest
	Open   func() (io.ReadCloser, error)
}

// layerSource lists the layers of an image, base layer first.
type layerSource interface {
	Layers(ctx context.Context, img image.Image) ([]layerRef, error)
}

// contentLayers reads an image's OCI manifest and layer blobs from the
// content store directory <data-root>/content/blobs/<algorithm>/<hex>.
type contentLayers struct {
	blobDir string
}

func (c contentLayers) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("invalid blob digest %q: %w", d, errdefs.ErrInvalidArgument)
	}
	return filepath.Join(c.blobDir, d.Algorithm().String(), d.Encoded()), nil
}

// Layers implements layerSource.
func (c contentLayers) Layers(_ context.Context, img image.Image) ([]layerRef, error) {
	if len(img.Config.RootFS.DiffIDs) == 0 {
		return nil, nil
	}
	if img.Manifest == "" {
		return nil, fmt.Errorf("read layers of image %s: image has no manifest: %w", img.ID, errdefs.ErrNotFound)
	}
	manifestPath, err := c.blobPath(img.Manifest)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(manifestPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read manifest %s of image %s: %w", img.Manifest, img.ID, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var manifest ocispec.Manifest
	if err := json.Unmarshal(data, &manifest); err != nil {
		return nil, fmt.Errorf("decode manifest %s of image %s: %w", img.Manifest, img.ID, err)
	}

	refs := make([]layerRef, 0, len(manifest.Layers))
	for _, desc := range manifest.Layers {
		blob, err := c.blobPath(desc.Digest)
		if err != nil {
			return nil, err
		}
		refs = append(refs, layerRef{Digest: desc.Digest, Open: func() (io.ReadCloser, error) {
			return openLayerBlob(blob)
		}})
	}
	return refs, nil
}

// openLayerBlob opens a layer blob, compressed or not, as a tar stream.
func openLayerBlob(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open layer blob %s: %w", name, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	stream, err := compression.DecompressStream(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("decompress layer blob %s: %w", name, err)
	}
	return readCloser{Reader: stream, close: func() error {
		return errors.Join(stream.Close(), f.Close())
	}}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error {
	return r.close()
}

// imageTree is the file system of an image: the union of its layers with
// whiteouts applied. It holds metadata only. load reads the contents of
// chosen regular files from the layers.
type imageTree struct {
	*fsTree
	layers []layerRef
}

// isLayerPrefix reports whether prefix is the start of layers.
func isLayerPrefix(prefix, layers []layerRef) bool {
	if len(prefix) > len(layers) {
		return false
	}
	for i, l := range prefix {
		if l.Digest != layers[i].Digest {
			return false
		}
	}
	return true
}

// extend applies the layers after the ones the tree holds; the tree's
// layers must be a prefix of layers.
func (t *imageTree) extend(ctx context.Context, layers []layerRef) error {
	for _, l := range layers[len(t.layers):] {
		if err := t.apply(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// newImageTree builds the tree of an image from its layers.
func newImageTree(ctx context.Context, layers []layerRef) (*imageTree, error) {
	tree := &imageTree{fsTree: newFSTree()}
	if err := tree.extend(ctx, layers); err != nil {
		return nil, err
	}
	return tree, nil
}

// apply adds one layer on top of the tree. Whiteouts only affect lower
// layers, so they are applied before the layer's own entries.
func (t *imageTree) apply(ctx context.Context, l layerRef) error {
	index := len(t.layers)
	rc, err := l.Open()
	if err != nil {
		return fmt.Errorf("open layer %s: %w", l.Digest, err)
	}
	defer rc.Close()

	var entries []*tar.Header
	var whiteouts, opaques []string
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read layer %s: %w", l.Digest, err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, _ := cleanRel(hdr.Name, true)
		hdr.Name = name
		base := path.Base(name)
		switch {
		case base == whiteoutOpaque:
			opaques = append(opaques, path.Dir(name))
		case strings.HasPrefix(base, whiteoutPrefix):
			whiteouts = append(whiteouts, path.Join(path.Dir(name), strings.TrimPrefix(base, whiteoutPrefix)))
		case name != "":
			entries = append(entries, hdr)
		}
	}

	for _, dir := range opaques {
		if dir == "." {
			dir = ""
		}
		if n := t.lookup(dir); n != nil && n.isDir() {
			n.children = map[string]*fsNode{}
		}
	}
	for _, p := range whiteouts {
		t.remove(strings.TrimPrefix(p, "./"))
	}
	for _, hdr := range entries {
		if err := t.insertLayerEntry(hdr, index); err != nil {
			return fmt.Errorf("apply layer %s: %w", l.Digest, err)
		}
	}
	t.layers = append(t.layers, l)
	return nil
}

func (t *imageTree) insertLayerEntry(hdr *tar.Header, index int) error {
	if hdr.Typeflag == tar.TypeRegA {
		hdr.Typeflag = tar.TypeReg
	}
	if hdr.Typeflag != tar.TypeLink {
		node, err := t.insert(hdr)
		if err != nil {
			return err
		}
		node.layer = index
		return nil
	}

	target, _ := cleanRel(hdr.Linkname, true)
	src := t.lookup(target)
	if src == nil || src.hdr.Typeflag != tar.TypeReg || src.layer != index {
		// NOTE: a hard link whose target is missing or not a file of the
		// same layer cannot be read back; it is left out of the tree.
		return nil
	}
	link := *src.hdr
	link.Name = hdr.Name
	node, err := t.insert(&link)
	if err != nil {
		return err
	}
	node.layer = index
	node.linkTarget = target
	return nil
}

// load reads the contents of the given regular file nodes from the layers
// into blobs.
func (t *imageTree) load(ctx context.Context, blobs *blobStore, nodes []*fsNode) error {
	// want maps layer index -> path in that layer's tar -> nodes needing it.
	want := map[int]map[string][]*fsNode{}
	for _, n := range nodes {
		if n.hdr.Typeflag != tar.TypeReg || n.content != nil {
			continue
		}
		name := n.hdr.Name
		if n.linkTarget != "" {
			name = n.linkTarget
		}
		if want[n.layer] == nil {
			want[n.layer] = map[string][]*fsNode{}
		}
		want[n.layer][name] = append(want[n.layer][name], n)
	}

	for index, names := range want {
		if err := t.loadLayer(ctx, blobs, index, names); err != nil {
			return err
		}
	}
	return nil
}

func (t *imageTree) loadLayer(ctx context.Context, blobs *blobStore, index int, names map[string][]*fsNode) error {
	l := t.layers[index]
	rc, err := l.Open()
	if err != nil {
		return fmt.Errorf("open layer %s: %w", l.Digest, err)
	}
	defer rc.Close()

	found := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read layer %s: %w", l.Digest, err)
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
			continue
		}
		name, _ := cleanRel(hdr.Name, true)
		nodes := names[name]
		if len(nodes) == 0 {
			continue
		}
		content, sum, err := blobs.write(tr)
		if err != nil {
			return fmt.Errorf("read %s from layer %s: %w", name, l.Digest, err)
		}
		for _, n := range nodes {
			n.content, n.sum = content, sum
		}
		found[name] = true
	}

	for name := range names {
		if !found[name] {
			return fmt.Errorf("read %s from layer %s: file not found in layer: %w", name, l.Digest, errdefs.ErrNotFound)
		}
	}
	return nil
}
