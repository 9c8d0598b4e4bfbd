package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/image"
)

// maxConcurrentUploads is the number of blobs Push uploads at once, the
// default of dockerd's max-concurrent-uploads.
const maxConcurrentUploads = 5

// PushOptions are the options of Push.
type PushOptions struct {
	Auth registry.AuthConfig

	// Progress receives Docker's progress messages. It may be nil.
	Progress *Progress
}

// PushResult is one pushed tag, as Docker reports it in the aux field of
// the push stream.
type PushResult struct {
	Tag    string
	Digest string
	Size   int
}

// Push uploads the image that the tag ref names to its registry: the
// blobs the registry lacks, then the manifest, unchanged, so the registry
// stores the image under the manifest digest the image has here. A name
// without a tag pushes every tag of the repository.
func (s *Service) Push(ctx context.Context, ref string, opts PushOptions) ([]PushResult, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid reference format %q: %w", errdefs.ErrInvalidArgument, ref, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, fmt.Errorf("%w: cannot push a digest reference %q: push a tag", errdefs.ErrInvalidArgument, ref)
	}
	progress := opts.Progress
	if progress == nil {
		progress = discardProgress()
	}

	tags, err := s.repositoryTags(ctx, named)
	if err != nil {
		return nil, err
	}
	progress.status("", "The push refers to repository ["+named.Name()+"]")

	var results []PushResult
	for _, tagged := range tags {
		result, err := s.pushTag(ctx, tagged, opts.Auth, progress)
		if err != nil {
			return results, err
		}
		results = append(results, result)
	}
	return results, nil
}

// repositoryTags returns the tags to push for named: its tag, or every tag
// of its repository when it has none.
func (s *Service) repositoryTags(ctx context.Context, named reference.Named) ([]reference.NamedTagged, error) {
	if tagged, ok := named.(reference.NamedTagged); ok {
		return []reference.NamedTagged{tagged}, nil
	}
	imgs, err := s.images.List(ctx)
	if err != nil {
		return nil, err
	}
	var tags []reference.NamedTagged
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			parsed, err := reference.ParseNormalizedNamed(tag)
			if err != nil || parsed.Name() != named.Name() {
				continue
			}
			if tagged, ok := parsed.(reference.NamedTagged); ok {
				tags = append(tags, tagged)
			}
		}
	}
	if len(tags) == 0 {
		return nil, fmt.Errorf("An image does not exist locally with the tag: %s: %w",
			reference.FamiliarName(named), errdefs.ErrNotFound)
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Tag() < tags[j].Tag() })
	return tags, nil
}

func (s *Service) pushTag(ctx context.Context, tagged reference.NamedTagged, auth registry.AuthConfig, progress *Progress) (PushResult, error) {
	img, err := s.images.Get(ctx, tagged.String())
	if err != nil {
		if errdefs.IsNotFound(err) {
			return PushResult{}, fmt.Errorf("An image does not exist locally with the tag: %s: %w",
				reference.FamiliarString(tagged), errdefs.ErrNotFound)
		}
		return PushResult{}, err
	}
	rawManifest, manifest, err := s.images.Blobs(img.ID)
	if err != nil {
		return PushResult{}, err
	}

	var opts []name.Option
	if s.isInsecure(reference.Domain(tagged)) {
		opts = append(opts, name.Insecure)
	}
	target, err := name.NewTag(tagged.String(), opts...)
	if err != nil {
		return PushResult{}, fmt.Errorf("%w: invalid reference %q: %w", errdefs.ErrInvalidArgument, tagged, err)
	}
	remoteOpts, err := s.remoteOptions(ctx, target.Context().Registry, auth)
	if err != nil {
		return PushResult{}, err
	}

	mountFrom := s.mountSource(img, target.Context())
	if err := s.uploadLayers(ctx, target.Context(), manifest.Layers, mountFrom, remoteOpts, progress); err != nil {
		return PushResult{}, pushError(tagged, err)
	}
	config := &storedBlob{store: s.images, desc: manifest.Config}
	if err := remote.WriteLayer(target.Context(), config, remoteOpts...); err != nil {
		return PushResult{}, pushError(tagged, err)
	}
	mediaType := manifest.MediaType
	if mediaType == "" {
		mediaType = ocispec.MediaTypeImageManifest
	}
	if err := remote.Put(target, rawTaggable{raw: rawManifest, mediaType: types.MediaType(mediaType)}, remoteOpts...); err != nil {
		return PushResult{}, pushError(tagged, err)
	}

	if err := s.images.AddRepoDigest(ctx, img.ID, tagged.Name(), ""); err != nil {
		return PushResult{}, err
	}
	result := PushResult{Tag: tagged.Tag(), Digest: digest.FromBytes(rawManifest).String(), Size: len(rawManifest)}
	progress.status("", fmt.Sprintf("%s: digest: %s size: %d", result.Tag, result.Digest, result.Size))
	if aux, err := json.Marshal(result); err == nil {
		raw := json.RawMessage(aux)
		progress.emit(jsonstream.Message{Aux: &raw})
	}
	return result, nil
}

// mountSource returns a repository on the same registry that has the
// image's blobs, from the image's repo digests, for cross-repository
// mounts. It returns nil if there is none.
func (s *Service) mountSource(img image.Image, target name.Repository) *name.Repository {
	for _, ref := range img.RepoDigests {
		_, source, err := s.parseReference(ref)
		if err != nil {
			continue
		}
		repo := source.Context()
		if repo.RegistryStr() == target.RegistryStr() && repo.RepositoryStr() != target.RepositoryStr() {
			return &repo
		}
	}
	return nil
}

// uploadLayers uploads the layer blobs the registry lacks, at most
// maxConcurrentUploads at a time, reporting each layer as Docker does.
func (s *Service) uploadLayers(ctx context.Context, repo name.Repository, layers []ocispec.Descriptor, mountFrom *name.Repository, opts []remote.Option, progress *Progress) error {
	for _, layer := range layers {
		progress.status(shortLayerID(layer.Digest), "Preparing")
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slots := make(chan struct{}, maxConcurrentUploads)
	errs := make([]error, len(layers))
	var wg sync.WaitGroup
	for i, desc := range layers {
		id := shortLayerID(desc.Digest)
		progress.status(id, "Waiting")
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-slots }()

			blob := &storedBlob{store: s.images, desc: desc, progress: progress, id: id}
			var layer v1.Layer = blob
			if mountFrom != nil {
				layer = &remote.MountableLayer{Layer: blob, Reference: mountFrom.Digest(desc.Digest.String())}
			}
			if err := remote.WriteLayer(repo, layer, append(opts, remote.WithContext(ctx))...); err != nil {
				errs[i] = err
				cancel()
				return
			}
			switch {
			case blob.opened.Load():
				progress.status(id, "Pushed")
			case mountFrom != nil:
				progress.status(id, "Mounted from "+mountFrom.RepositoryStr())
			default:
				progress.status(id, "Layer already exists")
			}
		}()
	}
	wg.Wait()

	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

// storedBlob is a blob of the image store as a go-containerregistry layer,
// for uploading. It records whether its content was read.
type storedBlob struct {
	store    *image.Store
	desc     ocispec.Descriptor
	progress *Progress // nil for no progress messages
	id       string
	opened   atomic.Bool
}

func (b *storedBlob) Digest() (v1.Hash, error) { return v1.NewHash(b.desc.Digest.String()) }

// DiffID is not needed to upload a blob and is not known for config blobs.
func (b *storedBlob) DiffID() (v1.Hash, error) {
	return v1.Hash{}, errors.New("diff ID of a stored blob is not available")
}

func (b *storedBlob) Compressed() (io.ReadCloser, error) {
	rc, err := b.store.OpenBlob(b.desc.Digest)
	if err != nil {
		return nil, err
	}
	b.opened.Store(true)
	if b.progress == nil {
		return rc, nil
	}
	return b.progress.reader(b.id, "Pushing", b.desc.Size, rc), nil
}

func (b *storedBlob) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("uncompressed content of a stored blob is not available")
}

func (b *storedBlob) Size() (int64, error) { return b.desc.Size, nil }

func (b *storedBlob) MediaType() (types.MediaType, error) {
	return types.MediaType(b.desc.MediaType), nil
}

// rawTaggable is a manifest to put unchanged.
type rawTaggable struct {
	raw       []byte
	mediaType types.MediaType
}

func (t rawTaggable) RawManifest() ([]byte, error)        { return t.raw, nil }
func (t rawTaggable) MediaType() (types.MediaType, error) { return t.mediaType, nil }

// pushError turns an error of a registry request into one of the kind the
// API maps to Docker's status code.
func pushError(ref reference.Named, err error) error {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return err
	}
	if terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden {
		return fmt.Errorf("push access denied for %s: %s: %w", reference.FamiliarName(ref), registryMessage(terr), errdefs.ErrUnauthenticated)
	}
	return registryStatusError(terr)
}
