package image

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// Get returns the image that nameOrID refers to, resolved the way Docker
// does:
//   - a full ID, with or without "sha256:", matches that image only;
//   - a name or name:tag ("busybox" means docker.io/library/busybox:latest)
//     matches the tagged image;
//   - name@digest matches the image recorded under that repo digest, else
//     the image whose manifest has that digest;
//   - otherwise an ID prefix of at least one hex digit, with or without
//     "sha256:", matches the one image whose ID starts with it.
//
// The error is "No such image: X" wrapping errdefs.ErrNotFound when nothing
// matches. An unparsable reference or an ambiguous ID prefix yields an error
// wrapping errdefs.ErrInvalidArgument.
func (s *Store) Get(ctx context.Context, nameOrID string) (Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	rec, err := s.resolveLocked(nameOrID)
	if err != nil {
		return Image{}, err
	}
	return s.imageLocked(rec)
}

var idPrefixPattern = regexp.MustCompile(`^[a-f0-9]{1,64}$`)

// resolveLocked implements Get. s.mu must be held.
func (s *Store) resolveLocked(nameOrID string) (*record, error) {
	if nameOrID == "" {
		return nil, noSuchImage{ref: nameOrID}
	}
	ref, err := reference.ParseAnyReference(nameOrID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err)
	}

	named, isNamed := ref.(reference.Named)
	if !isNamed {
		// ParseAnyReference returns an unnamed reference only for a full ID.
		if digested, ok := ref.(reference.Digested); ok {
			if rec := s.images[digested.Digest()]; rec != nil {
				return rec, nil
			}
		}
		return nil, noSuchImage{ref: reference.FamiliarString(ref)}
	}

	if canonical, ok := named.(reference.Canonical); ok {
		for _, rec := range s.images {
			if slices.Contains(rec.repoDigests, canonical.String()) {
				return rec, nil
			}
		}
		for _, rec := range s.images {
			if rec.manifest == canonical.Digest() {
				return rec, nil
			}
		}
		return nil, noSuchImage{ref: reference.FamiliarString(named)}
	}

	tagged := reference.TagNameOnly(named)
	if id, ok := s.tags[tagged.String()]; ok {
		if rec := s.images[id]; rec != nil {
			return rec, nil
		}
	}

	rec, err := s.searchPrefixLocked(nameOrID)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, noSuchImage{ref: reference.FamiliarString(tagged)}
	}
	return rec, nil
}

// searchPrefixLocked returns the only image whose ID starts with prefix,
// nil if none does. s.mu must be held.
func (s *Store) searchPrefixLocked(prefix string) (*record, error) {
	hex := strings.TrimPrefix(prefix, string(digest.SHA256)+":")
	if !idPrefixPattern.MatchString(hex) {
		return nil, nil
	}

	var found []*record
	for id, rec := range s.images {
		if strings.HasPrefix(id.Encoded(), hex) {
			found = append(found, rec)
		}
	}
	if len(found) > 1 {
		return nil, fmt.Errorf("%w: image ID prefix %q is ambiguous: it matches %d images, give more digits",
			errdefs.ErrInvalidArgument, prefix, len(found))
	}
	if len(found) == 0 {
		return nil, nil
	}
	return found[0], nil
}

// parseTag normalizes ref to a tagged reference, adding ":latest" when it
// has no tag. References with a digest cannot be tags.
func parseTag(ref string) (reference.NamedTagged, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, fmt.Errorf("%w: tag %q contains a digest: use name[:tag]", errdefs.ErrInvalidArgument, ref)
	}
	tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
	if !ok {
		return nil, fmt.Errorf("%w: invalid tag %q", errdefs.ErrInvalidArgument, ref)
	}
	return tagged, nil
}

// Tag points ref (normalized, ":latest" added when it has no tag) at the
// image id, moving it from the image it pointed at before. The error wraps
// errdefs.ErrNotFound when id is not a stored image ID and
// errdefs.ErrInvalidArgument when ref is not a valid tag.
func (s *Store) Tag(ctx context.Context, id digest.Digest, ref string) error {
	tagged, err := parseTag(ref)
	if err != nil {
		return fmt.Errorf("tag image: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	if s.images[id] == nil {
		return noSuchImage{ref: id.String()}
	}
	name := tagged.String()
	previous, existed := s.tags[name]
	if existed && previous == id {
		return nil
	}

	s.tags[name] = id
	if err := s.saveTagsLocked(); err != nil {
		if existed {
			s.tags[name] = previous
		} else {
			delete(s.tags, name)
		}
		return err
	}
	return nil
}

// Untag removes the tag ref. The error is "No such image: X" wrapping
// errdefs.ErrNotFound when the tag does not exist.
func (s *Store) Untag(ctx context.Context, ref string) error {
	tagged, err := parseTag(ref)
	if err != nil {
		return fmt.Errorf("untag image: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	name := tagged.String()
	id, ok := s.tags[name]
	if !ok {
		return noSuchImage{ref: reference.FamiliarString(tagged)}
	}

	delete(s.tags, name)
	if err := s.saveTagsLocked(); err != nil {
		s.tags[name] = id
		return err
	}
	return nil
}
