package image

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/containerd/errdefs"
	"github.com/klauspost/compress/gzip"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/go-archive/compression"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/internal/atomicfile"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/snapshot"
)

// layerProducer creates a layer on top of the chain ID parent and writes the
// layer's uncompressed tar to w.
type layerProducer func(ctx context.Context, parent digest.Digest, w io.Writer) (snapshot.Layer, error)

// Import creates an image with one layer from the root filesystem tar
// rootfs, which may be compressed with gzip, bzip2, xz or zstd. It takes the
// config from cfg and fills in RootFS, Created (when nil, with the current
// time), OS and Architecture (when empty, with linux and the daemon's
// architecture). When cfg.History is empty it gets one "Imported from -"
// entry. Otherwise its last entry describes the layer and the entries before
// it must be empty layers. A malformed archive yields an error wrapping
// errdefs.ErrInvalidArgument.
func (s *Store) Import(ctx context.Context, rootfs io.Reader, cfg dockerspec.DockerOCIImage) (Image, error) {
	h := ocispec.History{Comment: "Imported from -"}
	var earlier []ocispec.History
	if n := len(cfg.History); n > 0 {
		h, earlier = cfg.History[n-1], cfg.History[:n-1]
	}
	for _, entry := range earlier {
		if !entry.EmptyLayer {
			return Image{}, fmt.Errorf("import image: %w: history has more than one layer entry, but the image has one layer",
				errdefs.ErrInvalidArgument)
		}
	}

	img, err := s.create(ctx, createRequest{
		produce: applyTar(s, rootfs),
		cfg:     cfg,
		earlier: earlier,
		h:       h,
	})
	if err != nil {
		return Image{}, fmt.Errorf("import image: %w", err)
	}
	return img, nil
}

// Create creates an image on top of the image parent ("" for none) for one
// step of a build. With layer nil the step only changes the config and h is
// recorded as an empty layer. Otherwise layer is the step's layer tar
// (normally uncompressed). The config is cfg with RootFS and History
// replaced by the parent's plus the new layer and h. Created, OS and
// Architecture are filled in as Import does, from the parent when it has
// them.
func (s *Store) Create(ctx context.Context, parent digest.Digest, layer io.Reader, cfg dockerspec.DockerOCIImage, h ocispec.History) (Image, error) {
	base, err := s.parentRecord(parent)
	if err != nil {
		return Image{}, fmt.Errorf("create image: %w", err)
	}

	var produce layerProducer
	if layer != nil {
		produce = applyTar(s, layer)
	}
	img, err := s.create(ctx, createRequest{base: base, produce: produce, cfg: cfg, h: h})
	if err != nil {
		return Image{}, fmt.Errorf("create image: %w", err)
	}
	return img, nil
}

// CommitSnapshot turns the changes of the snapshot snapshotKey, which must
// be based on the top layer of the image parent, into a new layer and creates
// an image from it as Create does. The snapshot is rebased on the new layer
// (see snapshot.Store.CommitTo), so no process may use it.
func (s *Store) CommitSnapshot(ctx context.Context, parent digest.Digest, snapshotKey string, cfg dockerspec.DockerOCIImage, h ocispec.History) (Image, error) {
	base, err := s.parentRecord(parent)
	if err != nil {
		return Image{}, fmt.Errorf("commit snapshot %s: %w", snapshotKey, err)
	}
	snap, err := s.ls.Snapshot(snapshotKey)
	if err != nil {
		return Image{}, fmt.Errorf("commit %w", err)
	}
	var top digest.Digest
	if base != nil {
		top = base.chainID()
	}
	if snap.Parent != top {
		return Image{}, fmt.Errorf("commit snapshot %s: %w: snapshot is based on layer %q, image %q has top layer %q",
			snapshotKey, errdefs.ErrInvalidArgument, snap.Parent, parent, top)
	}

	produce := func(ctx context.Context, _ digest.Digest, w io.Writer) (snapshot.Layer, error) {
		return s.ls.CommitTo(ctx, snapshotKey, w)
	}
	img, err := s.create(ctx, createRequest{base: base, produce: produce, cfg: cfg, h: h})
	if err != nil {
		return Image{}, fmt.Errorf("commit snapshot %s: %w", snapshotKey, err)
	}
	return img, nil
}

// applyTar returns a producer that applies the possibly compressed layer
// tar r.
func applyTar(s *Store, r io.Reader) layerProducer {
	return func(ctx context.Context, parent digest.Digest, w io.Writer) (snapshot.Layer, error) {
		tarStream, err := decompress(r)
		if err != nil {
			return snapshot.Layer{}, err
		}
		defer tarStream.Close()

		return s.ls.ApplyLayer(ctx, parent, io.TeeReader(tarStream, w))
	}
}

// decompress returns the uncompressed stream of a layer blob compressed
// with gzip, bzip2, xz or zstd, or of an uncompressed one. Gzip, the usual
// case, is read with klauspost's decoder, which is about a fifth faster than
// the standard library's on layer blobs.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(3)
	if bytes.Equal(magic, []byte{0x1f, 0x8b, 0x08}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: decompress layer: %w", errdefs.ErrInvalidArgument, err)
		}
		return zr, nil
	}
	rc, err := compression.DecompressStream(br)
	if err != nil {
		return nil, fmt.Errorf("%w: decompress layer: %w", errdefs.ErrInvalidArgument, err)
	}
	return rc, nil
}

func (s *Store) parentRecord(parent digest.Digest) (*record, error) {
	if parent == "" {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	rec := s.images[parent]
	if rec == nil {
		return nil, fmt.Errorf("parent image: %w", noSuchImage{ref: parent.String()})
	}
	return rec, nil
}

// createRequest describes an image to create.
type createRequest struct {
	base    *record       // parent image, nil for none
	produce layerProducer // creates the new layer, nil for a config-only step
	cfg     dockerspec.DockerOCIImage
	earlier []ocispec.History // history before h when base is nil
	h       ocispec.History   // history entry of this step
}

// create builds and stores the image that req describes.
func (s *Store) create(ctx context.Context, req createRequest) (Image, error) {
	s.layerLock.RLock()
	defer s.layerLock.RUnlock()

	var base dockerspec.DockerOCIImage
	var layers []ocispec.Descriptor
	var parentID digest.Digest
	if req.base != nil {
		if err := json.Unmarshal(req.base.config, &base); err != nil {
			return Image{}, fmt.Errorf("decode parent config: %w", err)
		}
		layers = append(layers, req.base.layers...)
		parentID = req.base.id
	} else {
		base.History = req.earlier
	}
	diffIDs := append([]digest.Digest{}, base.RootFS.DiffIDs...)

	h := req.h
	h.EmptyLayer = req.produce == nil
	if req.produce != nil {
		layer, blob, err := s.storeLayer(ctx, chainID(diffIDs), req.produce)
		if err != nil {
			return Image{}, err
		}
		diffIDs = append(diffIDs, layer.DiffID)
		layers = append(layers, blob)
	}

	cfg := req.cfg
	fillDefaults(&cfg, &h, base)
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}
	cfg.History = append(append([]ocispec.History{}, base.History...), h)
	return s.writeImage(ctx, cfg, layers, parentID)
}

func fillDefaults(cfg *dockerspec.DockerOCIImage, h *ocispec.History, base dockerspec.DockerOCIImage) {
	if cfg.Created == nil {
		created := h.Created
		if created == nil {
			now := time.Now().UTC()
			created = &now
		}
		cfg.Created = created
	}
	if h.Created == nil {
		h.Created = cfg.Created
	}
	if cfg.OS == "" {
		cfg.OS = base.OS
	}
	if cfg.OS == "" {
		cfg.OS = "linux"
	}
	if cfg.Architecture == "" {
		cfg.Architecture, cfg.Variant = base.Architecture, base.Variant
	}
	if cfg.Architecture == "" {
		cfg.Architecture = runtime.GOARCH
	}
}

// storeLayer runs produce and stores the gzip-compressed copy of the tar it
// writes in the content store, for pushing and saving the image later.
func (s *Store) storeLayer(ctx context.Context, parent digest.Digest, produce layerProducer) (snapshot.Layer, ocispec.Descriptor, error) {
	type result struct {
		digest digest.Digest
		size   int64
		err    error
	}
	pr, pw := io.Pipe()
	done := make(chan result, 1)
	go func() {
		d, size, err := s.cs.Write(ctx, pr, "")
		// Unblocks produce if the write failed before the end of the stream.
		pr.CloseWithError(err)
		done <- result{digest: d, size: size, err: err}
	}()

	// The buffer saves a wake-up of the writing thread for every small
	// write: unpacking runs on a thread of its own.
	bw := bufio.NewWriterSize(pw, 1<<20)
	gz := gzip.NewWriter(bw)
	layer, err := produce(ctx, parent, gz)
	if err == nil {
		err = gz.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	pw.CloseWithError(err) // nil closes with io.EOF
	blob := <-done

	if err != nil {
		return snapshot.Layer{}, ocispec.Descriptor{}, err
	}
	if blob.err != nil {
		return snapshot.Layer{}, ocispec.Descriptor{}, fmt.Errorf("store layer blob: %w", blob.err)
	}
	desc := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayerGzip,
		Digest:    blob.digest,
		Size:      blob.size,
	}
	return layer, desc, nil
}

// writeImage encodes cfg and stores it with an OCI manifest for layers.
func (s *Store) writeImage(ctx context.Context, cfg dockerspec.DockerOCIImage, layers []ocispec.Descriptor, parent digest.Digest) (Image, error) {
	config, err := json.Marshal(cfg)
	if err != nil {
		return Image{}, fmt.Errorf("encode config: %w", err)
	}
	manifest, err := ociManifest(config, layers)
	if err != nil {
		return Image{}, err
	}
	return s.writeRecord(ctx, config, manifest, layers, cfg.RootFS.DiffIDs, parent)
}

// addRecord saves the metadata of rec and adds it to the store. An image
// with the same ID that exists already is returned unchanged.
func (s *Store) addRecord(ctx context.Context, rec *record, meta imageMetadata) (Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if existing := s.images[rec.id]; existing != nil {
		return s.imageLocked(existing)
	}
	if err := atomicfile.WriteJSON(s.metadataPath(rec.id), meta, 0o600); err != nil {
		return Image{}, fmt.Errorf("save image %s: %w", rec.id, err)
	}
	s.images[rec.id] = rec
	log.FromContext(ctx).Debug("image created", log.KeyImage, rec.id, "layers", len(rec.diffIDs))
	return s.imageLocked(rec)
}

// layersSize returns the sum of the unpacked sizes of the layers.
func (s *Store) layersSize(diffIDs []digest.Digest) (int64, error) {
	var size int64
	for _, id := range chainIDs(diffIDs) {
		layer, err := s.ls.Layer(id)
		if err != nil {
			return 0, err
		}
		size += layer.Size
	}
	return size, nil
}
