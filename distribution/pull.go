package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/image"
)

// Media types of manifests that are not OCI's.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerSchema1      = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1Sig   = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// maxConfigSize bounds the image config a registry may send, which is read
// into memory.
const maxConfigSize = 8 << 20

// PullOptions are the options of Pull.
type PullOptions struct {
	// Platform selects the image from a multi-platform index. Nil means
	// the daemon's platform.
	Platform *ocispec.Platform

	Auth registry.AuthConfig

	// Progress receives Docker's progress messages. It may be nil.
	Progress *Progress
}

// Pull fetches the image ref from its registry into the image store, tags it
// when ref has a tag, and records its repo digest. Blobs in the store already
// are not fetched again. A name without tag or digest pulls every tag of the
// repository. It returns the images.
func (s *Service) Pull(ctx context.Context, ref string, opts PullOptions) ([]image.Image, error) {
	if opts.Progress == nil {
		opts.Progress = discardProgress()
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid reference format %q: %w", errdefs.ErrInvalidArgument, ref, err)
	}
	if !reference.IsNameOnly(named) {
		img, err := s.pullOne(ctx, ref, opts)
		if err != nil {
			return nil, err
		}
		return []image.Image{img}, nil
	}

	_, target, err := s.parseReference(ref)
	if err != nil {
		return nil, err
	}
	remoteOpts, err := s.remoteOptions(ctx, target.Context().Registry, opts.Auth)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(target.Context(), remoteOpts...)
	if err != nil {
		return nil, pullError(named, err)
	}
	var imgs []image.Image
	for _, tag := range tags {
		tagged, err := reference.WithTag(named, tag)
		if err != nil {
			continue // not a tag Docker could name
		}
		img, err := s.pullOne(ctx, tagged.String(), opts)
		if err != nil {
			return imgs, err
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}

// pullOne pulls the image that the tag or digest reference ref names.
func (s *Service) pullOne(ctx context.Context, ref string, opts PullOptions) (image.Image, error) {
	named, target, err := s.parseReference(ref)
	if err != nil {
		return image.Image{}, err
	}
	progress := opts.Progress
	remoteOpts, err := s.remoteOptions(ctx, target.Context().Registry, opts.Auth)
	if err != nil {
		return image.Image{}, err
	}

	desc, err := remote.Get(target, remoteOpts...)
	if err != nil {
		return image.Image{}, pullError(named, err)
	}
	manifest, err := s.resolveManifest(ctx, target.Context(), string(desc.MediaType), desc.Manifest, opts.Platform, remoteOpts)
	if err != nil {
		return image.Image{}, pullError(named, err)
	}
	progress.status(pullingFromID(named), "Pulling from "+reference.Path(named))

	config, err := fetchConfig(ctx, target.Context(), manifest.parsed.Config, remoteOpts)
	if err != nil {
		return image.Image{}, pullError(named, err)
	}
	if manifest.single && opts.Platform != nil {
		if err := checkPlatform(named, config, *opts.Platform); err != nil {
			return image.Image{}, err
		}
	}

	var previous digest.Digest
	if prev, err := s.images.Get(ctx, named.String()); err == nil {
		previous = prev.ID
	}

	req := image.IngestRequest{Config: config, Manifest: manifest.raw}
	for _, layer := range manifest.parsed.Layers {
		id := shortLayerID(layer.Digest)
		req.Layers = append(req.Layers, image.LayerSource{
			Blob: layer,
			Open: func(ctx context.Context) (io.ReadCloser, error) {
				rc, err := openBlob(ctx, target.Context(), layer.Digest, remoteOpts)
				if err != nil {
					return nil, err
				}
				return progress.reader(id, "Downloading", layer.Size, rc), nil
			},
		})
	}
	req.Progress = func(i int, event image.LayerEvent) {
		progress.status(shortLayerID(manifest.parsed.Layers[i].Digest), layerEventStatus[event])
	}

	img, err := s.images.Ingest(ctx, req)
	if err != nil {
		return image.Image{}, pullError(named, err)
	}
	if _, ok := named.(reference.Tagged); ok {
		if err := s.images.Tag(ctx, img.ID, named.String()); err != nil {
			return image.Image{}, err
		}
	}
	if err := s.images.AddRepoDigest(ctx, img.ID, reference.TrimNamed(named).String(), manifest.digest); err != nil {
		return image.Image{}, err
	}

	progress.status("", "Digest: "+manifest.digest.String())
	if previous == img.ID {
		progress.status("", "Status: Image is up to date for "+reference.FamiliarString(named))
	} else {
		progress.status("", "Status: Downloaded newer image for "+reference.FamiliarString(named))
	}
	return s.images.Get(ctx, img.ID.String())
}

// layerEventStatus is the status Docker shows for each step of a layer.
var layerEventStatus = map[image.LayerEvent]string{
	image.LayerExists:    "Already exists",
	image.LayerFetching:  "Pulling fs layer",
	image.LayerFetched:   "Download complete",
	image.LayerUnpacking: "Extracting",
	image.LayerDone:      "Pull complete",
}

// pullingFromID returns the ID of the "Pulling from" line: the tag, or the
// digest when ref has one.
func pullingFromID(ref reference.Named) string {
	if canonical, ok := ref.(reference.Canonical); ok {
		return canonical.Digest().String()
	}
	if tagged, ok := ref.(reference.Tagged); ok {
		return tagged.Tag()
	}
	return "latest"
}

// shortLayerID is the ID Docker shows for a layer: 12 hex digits of its
// blob digest.
func shortLayerID(d digest.Digest) string {
	hex := d.Encoded()
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

// imageManifest is an image manifest with its raw bytes and digest.
type imageManifest struct {
	raw    []byte
	digest digest.Digest // of the manifest the reference names, an index when it names one
	parsed ocispec.Manifest
	single bool // the reference names this manifest, not an index
}

// resolveManifest returns the image manifest for platform, following one
// level of index or manifest list.
func (s *Service) resolveManifest(ctx context.Context, repo name.Repository, mediaType string, raw []byte, platform *ocispec.Platform, opts []remote.Option) (imageManifest, error) {
	top := digest.FromBytes(raw)
	switch mediaType {
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		var index ocispec.Index
		if err := json.Unmarshal(raw, &index); err != nil {
			return imageManifest{}, fmt.Errorf("%w: decode index %s: %w", errdefs.ErrInvalidArgument, top, err)
		}
		want := image.DefaultPlatform()
		if platform != nil {
			want = *platform
		}
		chosen, err := image.MatchPlatform(index.Manifests, want)
		if err != nil {
			return imageManifest{}, err
		}
		desc, err := remote.Get(repo.Digest(chosen.Digest.String()), append(opts, remote.WithContext(ctx))...)
		if err != nil {
			return imageManifest{}, err
		}
		if desc.Digest.String() != chosen.Digest.String() {
			return imageManifest{}, fmt.Errorf("%w: manifest %s has digest %s", errdefs.ErrInvalidArgument, chosen.Digest, desc.Digest)
		}
		m, err := parseImageManifest(string(desc.MediaType), desc.Manifest)
		if err != nil {
			return imageManifest{}, err
		}
		m.digest = top
		return m, nil
	default:
		m, err := parseImageManifest(mediaType, raw)
		if err != nil {
			return imageManifest{}, err
		}
		m.digest = top
		m.single = true
		return m, nil
	}
}

func parseImageManifest(mediaType string, raw []byte) (imageManifest, error) {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
	case mediaTypeDockerSchema1, mediaTypeDockerSchema1Sig:
		return imageManifest{}, fmt.Errorf("%w: the image uses Docker's manifest version 2 schema 1, "+
			"which berth does not support, as Docker 28 does not: push it again with a current client",
			errdefs.ErrNotImplemented)
	default:
		return imageManifest{}, fmt.Errorf("%w: unsupported manifest media type %q", errdefs.ErrInvalidArgument, mediaType)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return imageManifest{}, fmt.Errorf("%w: decode manifest: %w", errdefs.ErrInvalidArgument, err)
	}
	return imageManifest{raw: raw, parsed: m}, nil
}

// checkPlatform fails when the image config is for another platform than
// the requested one.
func checkPlatform(ref reference.Named, config []byte, want ocispec.Platform) error {
	var got ocispec.Platform
	if err := json.Unmarshal(config, &got); err != nil {
		return fmt.Errorf("%w: decode image config: %w", errdefs.ErrInvalidArgument, err)
	}
	if got.OS == want.OS && got.Architecture == want.Architecture &&
		(want.Variant == "" || got.Variant == "" || got.Variant == want.Variant) {
		return nil
	}
	return fmt.Errorf("image with reference %s was found but does not match the specified platform: wanted %s, actual: %s: %w",
		reference.FamiliarString(ref), image.FormatPlatform(want), image.FormatPlatform(got), errdefs.ErrNotFound)
}

// fetchConfig fetches the config blob and checks its digest.
func fetchConfig(ctx context.Context, repo name.Repository, desc ocispec.Descriptor, opts []remote.Option) ([]byte, error) {
	if desc.Size > maxConfigSize {
		return nil, fmt.Errorf("%w: image config of %d bytes is larger than the %d bytes allowed",
			errdefs.ErrInvalidArgument, desc.Size, maxConfigSize)
	}
	rc, err := openBlob(ctx, repo, desc.Digest, opts)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch image config %s: %w", desc.Digest, err)
	}
	if got := digest.FromBytes(data); got != desc.Digest {
		return nil, fmt.Errorf("%w: image config has digest %s, expected %s", errdefs.ErrInvalidArgument, got, desc.Digest)
	}
	return data, nil
}

// openBlob starts the download of a blob. The caller checks its digest.
func openBlob(ctx context.Context, repo name.Repository, d digest.Digest, opts []remote.Option) (io.ReadCloser, error) {
	layer, err := remote.Layer(repo.Digest(d.String()), append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return nil, err
	}
	return layer.Compressed()
}

// pullError turns an error of a registry request into one of the kind the
// API maps to Docker's status code, in Docker's words.
func pullError(ref reference.Named, err error) error {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return err
	}
	switch terr.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("pull access denied for %s, repository does not exist or may require 'docker login': %s: %w",
			reference.FamiliarName(ref), registryMessage(terr), errdefs.ErrUnauthenticated)
	case http.StatusNotFound:
		return fmt.Errorf("manifest for %s not found: %s: %w", reference.FamiliarString(ref), registryMessage(terr), errdefs.ErrNotFound)
	}
	return registryStatusError(terr)
}

// registryMessage returns the registry's own description of a failed
// request, such as "manifest unknown: manifest unknown", the way Docker
// shows registry error codes.
func registryMessage(terr *transport.Error) string {
	if len(terr.Errors) == 0 {
		return fmt.Sprintf("%d %s", terr.StatusCode, http.StatusText(terr.StatusCode))
	}
	parts := make([]string, 0, len(terr.Errors))
	for _, d := range terr.Errors {
		code := strings.ToLower(strings.ReplaceAll(string(d.Code), "_", " "))
		parts = append(parts, code+": "+d.Message)
	}
	return strings.Join(parts, "; ")
}

// registryStatusError keeps the full error of a failed request and marks
// it with the kind its status maps to.
func registryStatusError(terr *transport.Error) error {
	switch terr.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", terr, errdefs.ErrUnauthenticated)
	case http.StatusForbidden:
		return fmt.Errorf("%w: %w", terr, errdefs.ErrPermissionDenied)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return fmt.Errorf("%w: %w", terr, errdefs.ErrUnavailable)
	}
	return terr
}
