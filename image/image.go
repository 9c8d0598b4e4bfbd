// Package image stores container images: their configs, manifests and
// compressed layers as blobs in the content store, their unpacked layers in
// the snapshot store, and their records and tags under <data-root>/images.
//
// Layout under the images root:
//
//	metadata/<id-hex>.json   manifest digest, classic builder parent, size
//	repositories.json        tag index: normalized reference -> image ID
//
// Every change writes blobs and layers first and metadata last, each file
// atomically, so a crash leaves a readable store. It may leave unreferenced
// blobs or layers behind.
package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/content"
	"github.com/berth-engine/berth/internal/atomicfile"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/snapshot"
)

// Image is a stored image.
type Image struct {
	ID       digest.Digest             // digest of the config blob, Docker's image ID
	Config   dockerspec.DockerOCIImage // decoded config blob
	Manifest digest.Digest             // OCI manifest blob in the content store
	RepoTags []string                  // normalized and sorted, e.g. docker.io/library/busybox:latest
	Parent   digest.Digest             // classic builder parent, "" if none
	// RepoDigests are the normalized repo@manifest-digest references under
	// which a registry stores the image, sorted.
	RepoDigests []string
	Size        int64 // sum of the unpacked sizes of the layers
}

// ChainID returns the chain ID of the image's top layer, "" for an image
// without layers.
func (i Image) ChainID() digest.Digest {
	return chainID(i.Config.RootFS.DiffIDs)
}

func chainID(diffIDs []digest.Digest) digest.Digest {
	var id digest.Digest
	for _, diffID := range diffIDs {
		id = snapshot.ChainID(id, diffID)
	}
	return id
}

// chainIDs returns the chain IDs of all layers of an image, bottom first.
func chainIDs(diffIDs []digest.Digest) []digest.Digest {
	ids := make([]digest.Digest, 0, len(diffIDs))
	var id digest.Digest
	for _, diffID := range diffIDs {
		id = snapshot.ChainID(id, diffID)
		ids = append(ids, id)
	}
	return ids
}

// FamiliarName returns ref in the short form Docker shows, such as
// "busybox:latest" for "docker.io/library/busybox:latest". A ref that does
// not parse is returned unchanged.
func FamiliarName(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.FamiliarString(named)
}

// imageMetadata is the content of metadata/<id-hex>.json.
type imageMetadata struct {
	Manifest    digest.Digest `json:"manifest"`
	Parent      digest.Digest `json:"parent,omitempty"`
	Size        int64         `json:"size"`
	RepoDigests []string      `json:"repoDigests,omitempty"`
}

// tagIndex is the content of repositories.json.
type tagIndex struct {
	Tags map[string]digest.Digest `json:"tags"`
}

// record is the in-memory state of one image. Its fields never change after
// the record is created, except repoDigests, which Store.mu guards.
type record struct {
	id       digest.Digest
	config   []byte // config blob, decoded anew for every caller
	diffIDs  []digest.Digest
	created  string // RFC 3339 creation time, for sorting
	manifest digest.Digest
	layers   []ocispec.Descriptor // compressed layer blobs from the manifest
	parent   digest.Digest
	size     int64

	repoDigests []string
}

func (r *record) chainID() digest.Digest {
	return chainID(r.diffIDs)
}

// Store is the image store. It is safe for concurrent use.
type Store struct {
	root string
	cs   *content.Store
	ls   *snapshot.Store

	// layerLock is held shared while an image is created and exclusively
	// while unreferenced layers and blobs are removed, so that removal never
	// takes a layer that an image being created is about to reference.
	layerLock sync.RWMutex

	mu     sync.Mutex // guards images, tags and the metadata files
	images map[digest.Digest]*record
	tags   map[string]digest.Digest // normalized reference -> image ID
}

// New opens the image store at root (<data-root>/images) on top of the
// content and snapshot stores and loads all images and tags.
func New(root string, cs *content.Store, ls *snapshot.Store) (*Store, error) {
	s := &Store{
		root:   root,
		cs:     cs,
		ls:     ls,
		images: map[digest.Digest]*record{},
		tags:   map[string]digest.Digest{},
	}
	if err := os.MkdirAll(s.metadataDir(), 0o700); err != nil {
		return nil, fmt.Errorf("create image store: %w", err)
	}

	// Temporary directories of loads that a crash interrupted.
	if leftovers, err := filepath.Glob(filepath.Join(root, "load-*")); err == nil {
		for _, dir := range leftovers {
			_ = os.RemoveAll(dir)
		}
	}

	ctx := context.Background()
	if err := s.loadImages(ctx); err != nil {
		return nil, err
	}
	if err := s.loadTags(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) metadataDir() string {
	return filepath.Join(s.root, "metadata")
}

func (s *Store) metadataPath(id digest.Digest) string {
	return filepath.Join(s.metadataDir(), id.Encoded()+".json")
}

func (s *Store) tagsPath() string {
	return filepath.Join(s.root, "repositories.json")
}

func (s *Store) loadImages(ctx context.Context) error {
	entries, err := os.ReadDir(s.metadataDir())
	if err != nil {
		return fmt.Errorf("load images: %w", err)
	}

	for _, e := range entries {
		hex, ok := strings.CutSuffix(e.Name(), ".json")
		id := digest.NewDigestFromEncoded(digest.SHA256, hex)
		if !ok || id.Validate() != nil {
			continue // temporary files of atomicfile
		}
		rec, err := s.loadImage(id)
		if err != nil {
			log.FromContext(ctx).Warn("skipping unreadable image", log.KeyImage, id, log.Err(err))
			continue
		}
		s.images[id] = rec
	}
	return nil
}

func (s *Store) loadImage(id digest.Digest) (*record, error) {
	data, err := os.ReadFile(s.metadataPath(id))
	if err != nil {
		return nil, err
	}
	var meta imageMetadata
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("decode %s: %w", s.metadataPath(id), err)
	}

	config, err := s.cs.ReadAll(id)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	manifestData, err := s.cs.ReadAll(meta.Manifest)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var manifest ocispec.Manifest
	if err := json.Unmarshal(manifestData, &manifest); err != nil {
		return nil, fmt.Errorf("decode manifest %s: %w", meta.Manifest, err)
	}
	return newRecord(id, config, meta, manifest.Layers)
}

func newRecord(id digest.Digest, config []byte, meta imageMetadata, layers []ocispec.Descriptor) (*record, error) {
	var img dockerspec.DockerOCIImage
	if err := json.Unmarshal(config, &img); err != nil {
		return nil, fmt.Errorf("decode config %s: %w", id, err)
	}

	rec := &record{
		id:       id,
		config:   config,
		diffIDs:  img.RootFS.DiffIDs,
		manifest: meta.Manifest,
		layers:   layers,
		parent:   meta.Parent,
		size:     meta.Size,

		repoDigests: meta.RepoDigests,
	}
	if img.Created != nil {
		rec.created = img.Created.UTC().Format("2006-01-02T15:04:05.000000000Z")
	}
	return rec, nil
}

func (s *Store) loadTags(ctx context.Context) error {
	data, err := os.ReadFile(s.tagsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load tags: %w", err)
	}

	var index tagIndex
	if err := json.Unmarshal(data, &index); err != nil {
		return fmt.Errorf("load tags: decode %s: %w", s.tagsPath(), err)
	}
	for ref, id := range index.Tags {
		if s.images[id] == nil {
			// The image was deleted after the tag index was last written.
			log.FromContext(ctx).Warn("dropping tag of missing image", "ref", ref, log.KeyImage, id)
			continue
		}
		s.tags[ref] = id
	}
	return nil
}

// saveTagsLocked writes the tag index. s.mu must be held.
func (s *Store) saveTagsLocked() error {
	index := tagIndex{Tags: s.tags}
	if err := atomicfile.WriteJSON(s.tagsPath(), index, 0o600); err != nil {
		return fmt.Errorf("save tags: %w", err)
	}
	return nil
}

// tagsOfLocked returns the sorted tags of id. s.mu must be held.
func (s *Store) tagsOfLocked(id digest.Digest) []string {
	var tags []string
	for ref, target := range s.tags {
		if target == id {
			tags = append(tags, ref)
		}
	}
	sort.Strings(tags)
	return tags
}

// imageLocked builds the Image of rec. s.mu must be held.
func (s *Store) imageLocked(rec *record) (Image, error) {
	img := Image{
		ID:       rec.id,
		Manifest: rec.manifest,
		RepoTags: s.tagsOfLocked(rec.id),
		Parent:   rec.parent,
		Size:     rec.size,

		RepoDigests: slices.Clone(rec.repoDigests),
	}
	if err := json.Unmarshal(rec.config, &img.Config); err != nil {
		return Image{}, fmt.Errorf("decode config %s: %w", rec.id, err)
	}
	return img, nil
}

// List returns all images, tagged or not, newest first.
func (s *Store) List(ctx context.Context) ([]Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	recs := make([]*record, 0, len(s.images))
	for _, rec := range s.images {
		recs = append(recs, rec)
	}
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].created != recs[j].created {
			return recs[i].created > recs[j].created
		}
		return recs[i].id < recs[j].id
	})

	images := make([]Image, 0, len(recs))
	for _, rec := range recs {
		img, err := s.imageLocked(rec)
		if err != nil {
			return nil, err
		}
		images = append(images, img)
	}
	return images, nil
}

// noSuchImage is Docker's not-found error for images, "No such image: X".
type noSuchImage struct {
	ref string
}

func (e noSuchImage) Error() string { return "No such image: " + e.ref }
func (e noSuchImage) Unwrap() error { return errdefs.ErrNotFound }

// shortID returns the first 12 hex digits of id, as Docker shows IDs.
func shortID(id digest.Digest) string {
	hex := id.Encoded()
	if len(hex) > 12 {
		return hex[:12]
	}
	return hex
}
