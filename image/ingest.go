package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/snapshot"
)

// LayerSource is one layer of an image that comes from outside the store: a
// registry or an image archive.
type LayerSource struct {
	// Blob describes the layer blob as the source's manifest names it. Its
	// digest may be empty when the source has no manifest entry for it.
	Blob ocispec.Descriptor

	// Open returns the blob's bytes, which may be compressed with gzip,
	// bzip2, xz or zstd.
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// IngestRequest describes an image whose config, manifest and layers come
// from outside the store.
type IngestRequest struct {
	// Config is the config blob, stored unchanged, so the image keeps its ID.
	Config []byte

	// Manifest is the manifest blob, whose layers are Layers' blobs. With a
	// manifest the blobs are stored as they are, verified against their
	// digests, and the image keeps its manifest digest. Without one every
	// layer is stored gzip-compressed under a new OCI manifest.
	Manifest []byte

	Layers []LayerSource

	// Progress, when set, is called as each layer moves on. It may be called
	// from several goroutines at once.
	Progress func(index int, event LayerEvent)
}

// LayerEvent is a step of a layer during Ingest.
type LayerEvent int

const (
	LayerExists    LayerEvent = iota // blob and layer were in the store already
	LayerFetching                    // the blob is missing and will be fetched
	LayerFetched                     // the blob is in the content store, verified
	LayerUnpacking                   // the layer is being unpacked
	LayerDone                        // the layer is in the store
)

// maxConcurrentFetches is the number of layers Ingest fetches and unpacks
// at once, the default of dockerd's max-concurrent-downloads.
const maxConcurrentFetches = 3

// Ingest stores an image from its config and layers and returns it. Every
// layer must unpack to the diff ID that the config names at its position,
// and blobs named in Manifest must match their digests and sizes. A mismatch
// fails with an error wrapping errdefs.ErrInvalidArgument and stores no
// image. Layers already in the store are not unpacked again.
//
// With a manifest, missing blobs are fetched and unpacked in parallel and
// the layers are added to the store in order. Blobs fetched before a failure stay in the content store,
// so a second attempt does not fetch them again.
func (s *Store) Ingest(ctx context.Context, req IngestRequest) (Image, error) {
	s.layerLock.RLock()
	defer s.layerLock.RUnlock()

	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(req.Config, &cfg); err != nil {
		return Image{}, fmt.Errorf("%w: decode image config: %w", errdefs.ErrInvalidArgument, err)
	}
	if cfg.RootFS.Type != "layers" {
		return Image{}, fmt.Errorf("%w: image config has rootfs type %q, expected \"layers\"",
			errdefs.ErrInvalidArgument, cfg.RootFS.Type)
	}
	if n, m := len(cfg.RootFS.DiffIDs), len(req.Layers); n != m {
		return Image{}, fmt.Errorf("%w: image config names %d layers, but the image has %d",
			errdefs.ErrInvalidArgument, n, m)
	}
	progress := req.Progress
	if progress == nil {
		progress = func(int, LayerEvent) {}
	}

	chains := make([]digest.Digest, len(req.Layers))
	var chain digest.Digest
	for i, diffID := range cfg.RootFS.DiffIDs {
		chain = snapshot.ChainID(chain, diffID)
		chains[i] = chain
	}

	var prep *layerPrep
	if req.Manifest != nil {
		for _, src := range req.Layers {
			if err := src.Blob.Digest.Validate(); err != nil {
				return Image{}, fmt.Errorf("%w: layer blob digest %q: %w", errdefs.ErrInvalidArgument, src.Blob.Digest, err)
			}
		}
		prep = s.prepareLayers(ctx, req.Layers, chains, progress)
		defer prep.close()
	}

	blobs := make([]ocispec.Descriptor, len(req.Layers))
	var parent digest.Digest
	for i, src := range req.Layers {
		want := cfg.RootFS.DiffIDs[i]
		var blob ocispec.Descriptor
		var err error
		if req.Manifest != nil {
			blob = src.Blob
			err = s.publishPrepared(ctx, prep, i, parent, want, progress)
		} else {
			var existed bool
			blob, existed, err = s.ingestRecompressedLayer(ctx, parent, want, src)
			switch {
			case err == nil && existed:
				progress(i, LayerExists)
			case err == nil:
				progress(i, LayerDone)
			}
		}
		if err != nil {
			return Image{}, fmt.Errorf("layer %d (%s): %w", i+1, want, err)
		}
		blobs[i] = blob
		parent = snapshot.ChainID(parent, want)
	}

	manifest := req.Manifest
	if manifest == nil {
		var err error
		if manifest, err = ociManifest(req.Config, blobs); err != nil {
			return Image{}, err
		}
	}
	return s.writeRecord(ctx, req.Config, manifest, blobs, cfg.RootFS.DiffIDs, "")
}

// layerPrep is the state of the layer preparation of one Ingest: blobs
// fetched and layers unpacked in parallel, published in order by Ingest.
type layerPrep struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   []chan preparedLayer // per layer: the outcome of its preparation

	mu    sync.Mutex
	first error // first failure, which cancelled the other preparations
}

// preparedLayer is the outcome of preparing one layer.
type preparedLayer struct {
	staged  *snapshot.StagedLayer // nil when the layer is in the store already
	existed bool                  // blob and layer were in the store before
	err     error
}

// result waits for the preparation of layer i. When it was cancelled
// because another one failed, the error is the other failure.
func (p *layerPrep) result(i int) preparedLayer {
	r := <-p.done[i]
	if r.err == nil {
		return r
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.first != nil {
		r.err = p.first
	}
	return r
}

func (p *layerPrep) fail(err error) {
	p.mu.Lock()
	if p.first == nil {
		p.first = err
	}
	p.mu.Unlock()
	p.cancel()
}

// close stops the preparations and removes the staged layers that were
// not published.
func (p *layerPrep) close() {
	p.cancel()
	p.wg.Wait()
	for _, ch := range p.done {
		select {
		case r := <-ch:
			if r.staged != nil {
				r.staged.Discard()
			}
		default:
		}
	}
}

// prepareLayers starts, for every layer not yet in the store, fetching its
// blob unless the content store has it and unpacking it into a staging
// directory, at most maxConcurrentFetches layers at a time. The first
// failure cancels the others.
func (s *Store) prepareLayers(ctx context.Context, layers []LayerSource, chains []digest.Digest, progress func(int, LayerEvent)) *layerPrep {
	ctx, cancel := context.WithCancel(ctx)
	p := &layerPrep{cancel: cancel, done: make([]chan preparedLayer, len(layers))}
	slots := make(chan struct{}, maxConcurrentFetches)
	for i, src := range layers {
		p.done[i] = make(chan preparedLayer, 1)
		hasBlob := s.cs.Has(src.Blob.Digest)
		_, layerErr := s.ls.Layer(chains[i])
		if hasBlob && layerErr == nil {
			p.done[i] <- preparedLayer{existed: true}
			continue
		}
		if !hasBlob {
			progress(i, LayerFetching)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				p.done[i] <- preparedLayer{err: ctx.Err()}
				return
			}
			defer func() { <-slots }()

			r := s.prepareLayer(ctx, src.Blob, src.Open, !hasBlob, layerErr == nil, func(e LayerEvent) { progress(i, e) })
			if r.err != nil && ctx.Err() == nil {
				p.fail(r.err)
			}
			p.done[i] <- r
		}()
	}
	return p
}

// prepareLayer fetches the blob when fetch is set and, unless the layer
// exists, unpacks it into a staging directory.
func (s *Store) prepareLayer(ctx context.Context, blob ocispec.Descriptor, open func(context.Context) (io.ReadCloser, error), fetch, layerExists bool, progress func(LayerEvent)) preparedLayer {
	if fetch {
		if err := s.fetchBlob(ctx, blob, open); err != nil {
			return preparedLayer{err: err}
		}
		progress(LayerFetched)
	}
	if layerExists {
		return preparedLayer{}
	}

	progress(LayerUnpacking)
	rc, err := s.cs.Open(blob.Digest)
	if err != nil {
		return preparedLayer{err: err}
	}
	defer rc.Close()
	tarStream, err := decompress(rc)
	if err != nil {
		return preparedLayer{err: err}
	}
	defer tarStream.Close()
	staged, err := s.ls.StageLayer(ctx, tarStream)
	if err != nil {
		return preparedLayer{err: err}
	}
	return preparedLayer{staged: staged}
}

// publishPrepared waits for layer i and adds it to the store on parent,
// after checking that it is the layer the config names.
func (s *Store) publishPrepared(ctx context.Context, prep *layerPrep, i int, parent, diffID digest.Digest, progress func(int, LayerEvent)) error {
	r := prep.result(i)
	switch {
	case r.err != nil:
		return r.err
	case r.existed:
		progress(i, LayerExists)
		return nil
	case r.staged == nil:
		progress(i, LayerDone) // the blob was fetched, the layer was there
		return nil
	}
	defer r.staged.Discard()

	if r.staged.DiffID != diffID {
		return fmt.Errorf("%w: layer content has diff ID %s, but the image config names %s",
			errdefs.ErrInvalidArgument, r.staged.DiffID, diffID)
	}
	if _, err := s.ls.PublishStaged(ctx, parent, r.staged); err != nil {
		return err
	}
	progress(i, LayerDone)
	return nil
}

// fetchBlob copies the blob that open returns into the content store,
// checking its digest and, when known, its size.
func (s *Store) fetchBlob(ctx context.Context, blob ocispec.Descriptor, open func(context.Context) (io.ReadCloser, error)) error {
	rc, err := open(ctx)
	if err != nil {
		return fmt.Errorf("fetch blob %s: %w", blob.Digest, err)
	}
	defer rc.Close()

	var r io.Reader = rc
	if blob.Size > 0 {
		// One byte more than expected shows a blob that is too long.
		r = io.LimitReader(rc, blob.Size+1)
	}
	d, size, err := s.cs.Write(ctx, &sizeCheckReader{r: r, want: blob.Size}, blob.Digest)
	if err != nil {
		return fmt.Errorf("fetch blob %s: %w", blob.Digest, err)
	}
	if blob.Size > 0 && size != blob.Size {
		_ = s.cs.Delete(d)
		return fmt.Errorf("fetch blob %s: %w: size %d, expected %d", blob.Digest, errdefs.ErrInvalidArgument, size, blob.Size)
	}
	return nil
}

// sizeCheckReader fails the read that takes a stream past want bytes, so a
// blob that is too long never reaches the content store.
type sizeCheckReader struct {
	r    io.Reader
	want int64
	read int64
}

func (c *sizeCheckReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	if c.want > 0 && c.read > c.want {
		return n, fmt.Errorf("%w: blob is longer than its size %d", errdefs.ErrInvalidArgument, c.want)
	}
	return n, err
}

// ingestRecompressedLayer unpacks src on parent and stores a gzip copy of
// its tar. When the layer exists and another image has a blob for it, that
// blob is used and src is not read.
func (s *Store) ingestRecompressedLayer(ctx context.Context, parent, diffID digest.Digest, src LayerSource) (ocispec.Descriptor, bool, error) {
	chain := snapshot.ChainID(parent, diffID)
	if _, err := s.ls.Layer(chain); err == nil {
		if blob, ok := s.blobForLayer(chain); ok {
			return blob, true, nil
		}
	}

	rc, err := src.Open(ctx)
	if err != nil {
		return ocispec.Descriptor{}, false, err
	}
	defer rc.Close()
	layer, blob, err := s.storeLayer(ctx, parent, applyTar(s, rc))
	if err != nil {
		return ocispec.Descriptor{}, false, err
	}
	if err := s.checkDiffID(ctx, layer, diffID); err != nil {
		return ocispec.Descriptor{}, false, err
	}
	return blob, false, nil
}

// blobForLayer returns the blob that a stored image uses for the layer with
// the given chain ID, if one does and the blob is in the content store.
func (s *Store) blobForLayer(chain digest.Digest) (ocispec.Descriptor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()

	for _, rec := range s.images {
		for i, id := range chainIDs(rec.diffIDs) {
			if id == chain && i < len(rec.layers) && s.cs.Has(rec.layers[i].Digest) {
				return rec.layers[i], true
			}
		}
	}
	return ocispec.Descriptor{}, false
}

// checkDiffID fails when the unpacked layer is not the one the config
// names. The wrong layer is removed unless an image uses it.
func (s *Store) checkDiffID(ctx context.Context, layer snapshot.Layer, want digest.Digest) error {
	if layer.DiffID == want {
		return nil
	}
	s.mu.Lock()
	used := s.usedLayersLocked()[layer.ChainID]
	s.mu.Unlock()
	if !used {
		_ = s.ls.RemoveLayer(ctx, layer.ChainID)
	}
	return fmt.Errorf("%w: layer content has diff ID %s, but the image config names %s",
		errdefs.ErrInvalidArgument, layer.DiffID, want)
}

// ociManifest encodes an OCI image manifest for the config and layers.
func ociManifest(config []byte, layers []ocispec.Descriptor) ([]byte, error) {
	if layers == nil {
		layers = []ocispec.Descriptor{} // the manifest requires a list
	}
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageConfig,
			Digest:    digest.FromBytes(config),
			Size:      int64(len(config)),
		},
		Layers: layers,
	})
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return manifest, nil
}

// writeRecord stores the config and manifest blobs, then the image record.
// An image with the same ID that exists already is returned unchanged.
func (s *Store) writeRecord(ctx context.Context, config, manifest []byte, layers []ocispec.Descriptor, diffIDs []digest.Digest, parent digest.Digest) (Image, error) {
	id, _, err := s.cs.Write(ctx, bytes.NewReader(config), "")
	if err != nil {
		return Image{}, fmt.Errorf("store config: %w", err)
	}
	manifestDigest, _, err := s.cs.Write(ctx, bytes.NewReader(manifest), "")
	if err != nil {
		return Image{}, fmt.Errorf("store manifest: %w", err)
	}

	size, err := s.layersSize(diffIDs)
	if err != nil {
		return Image{}, err
	}
	meta := imageMetadata{Manifest: manifestDigest, Parent: parent, Size: size}
	rec, err := newRecord(id, config, meta, layers)
	if err != nil {
		return Image{}, err
	}
	return s.addRecord(ctx, rec, meta)
}
