package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/internal/atomicfile"
	"github.com/berth-engine/berth/internal/log"
)

// AddRepoDigest records that the repository repo (such as
// "localhost:5000/team/app") stores the image id under the manifest digest
// manifest, as "repo@sha256:...". Pulls and pushes record it, so the image
// can be found by that reference and lists it in RepoDigests. An empty
// manifest means the image's own manifest; a pull through an index passes
// the index's digest, as Docker records it.
func (s *Store) AddRepoDigest(ctx context.Context, id digest.Digest, repo string, manifest digest.Digest) error {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return fmt.Errorf("%w: invalid repository %q: %w", errdefs.ErrInvalidArgument, repo, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	rec := s.images[id]
	if rec == nil {
		return noSuchImage{ref: id.String()}
	}
	if manifest == "" {
		manifest = rec.manifest
	}
	canonical, err := reference.WithDigest(reference.TrimNamed(named), manifest)
	if err != nil {
		return fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err)
	}
	ref := canonical.String()
	if slices.Contains(rec.repoDigests, ref) {
		return nil
	}

	digests := append(slices.Clone(rec.repoDigests), ref)
	slices.Sort(digests)
	if err := s.setRepoDigestsLocked(rec, digests); err != nil {
		return err
	}
	log.FromContext(ctx).Debug("repo digest added", log.KeyImage, id, "ref", ref)
	return nil
}

// setRepoDigestsLocked saves the metadata of rec with digests as its repo
// digests, then sets them in rec. s.mu must be held.
func (s *Store) setRepoDigestsLocked(rec *record, digests []string) error {
	meta := imageMetadata{Manifest: rec.manifest, Parent: rec.parent, Size: rec.size, RepoDigests: digests}
	if err := atomicfile.WriteJSON(s.metadataPath(rec.id), meta, 0o600); err != nil {
		return fmt.Errorf("save image %s: %w", rec.id, err)
	}
	rec.repoDigests = digests
	return nil
}

// Blobs returns the manifest blob of the image id and its decoded form, for
// pushing the image.
func (s *Store) Blobs(id digest.Digest) ([]byte, ocispec.Manifest, error) {
	s.mu.Lock()
	rec := s.images[id]
	s.mu.Unlock()
	if rec == nil {
		return nil, ocispec.Manifest{}, noSuchImage{ref: id.String()}
	}
	raw, err := s.cs.ReadAll(rec.manifest)
	if err != nil {
		return nil, ocispec.Manifest{}, fmt.Errorf("image %s: %w", id, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, ocispec.Manifest{}, fmt.Errorf("decode manifest of image %s: %w", id, err)
	}
	return raw, m, nil
}

// OpenBlob opens a blob of the content store.
func (s *Store) OpenBlob(d digest.Digest) (io.ReadCloser, error) {
	return s.cs.Open(d)
}
