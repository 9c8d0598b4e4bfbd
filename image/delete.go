package image

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"

	"github.com/berth-engine/berth/internal/log"
)

// ContainerUse names a container that uses an image.
type ContainerUse struct {
	ContainerID string // may be empty when the caller does not know it
	Running     bool
}

// DeleteOptions control DeleteWithOptions.
type DeleteOptions struct {
	// Force deletes an image despite its tags and stopped containers.
	// Child images and running containers still block the delete.
	Force bool
	// NoPrune keeps untagged parent images that the delete leaves unused.
	NoPrune bool
	// UsedBy returns a container that uses the image, preferring a running
	// one. Nil means no container uses any image.
	UsedBy func(imageID digest.Digest) (ContainerUse, bool)
}

// Delete deletes an image with Docker's semantics and prunes its untagged
// parents. inUse reports whether a container uses an image. It may be nil.
// A used image is treated as used by a stopped container, so force deletes
// it anyway. DeleteWithOptions describes the rules.
func (s *Store) Delete(ctx context.Context, nameOrID string, force bool, inUse func(digest.Digest) bool) ([]imagetypes.DeleteResponse, error) {
	opts := DeleteOptions{Force: force}
	if inUse != nil {
		opts.UsedBy = func(id digest.Digest) (ContainerUse, bool) {
			return ContainerUse{}, inUse(id)
		}
	}
	return s.DeleteWithOptions(ctx, nameOrID, opts)
}

// DeleteWithOptions deletes an image the way "docker rmi" does and returns
// what it untagged and deleted, in order:
//   - A name removes that tag, and the repo digests of its repository if
//     the image keeps no other tag there. If the image keeps other tags or
//     repo digests, that is all.
//     Unless forced, the last tag of an image that a container uses is kept.
//   - An ID (or the last tag) deletes the image with all its tags. An image
//     with tags in several repositories needs Force.
//   - Child images and running containers always block the delete, stopped
//     containers unless forced. The error then wraps errdefs.ErrConflict.
//   - Deleting removes the image's layers and blobs that no other image
//     uses, and, unless NoPrune, parent images left untagged and unused.
//     Layers that a snapshot uses stay.
func (s *Store) DeleteWithOptions(ctx context.Context, nameOrID string, opts DeleteOptions) ([]imagetypes.DeleteResponse, error) {
	s.layerLock.Lock()
	defer s.layerLock.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()

	rec, err := s.resolveLocked(nameOrID)
	if err != nil {
		return nil, err
	}
	d := &deletion{s: s, ctx: ctx, opts: opts, records: []imagetypes.DeleteResponse{}}
	id := rec.id
	tags := s.tagsOfLocked(id)

	quiet := false
	if ref, ok := repoDigestReference(nameOrID, rec); ok {
		if err := d.untagRepoDigest(rec, ref); err != nil {
			return nil, err
		}
		if len(tags) > 0 || len(rec.repoDigests) > 0 {
			return d.records, nil
		}
		quiet = true
	} else if ref, ok := tagReference(nameOrID, id); ok {
		if !opts.Force && len(tags) == 1 {
			if use, used := d.usedBy(id); used {
				return nil, conflictError{msg: fmt.Sprintf(
					"conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
					nameOrID, shortContainerID(use.ContainerID), shortID(id))}
			}
		}
		if err := d.untag(ref); err != nil {
			return nil, err
		}
		if err := d.untagRepoDigestsOfTag(rec, ref); err != nil {
			return nil, err
		}
		if len(s.tagsOfLocked(id)) > 0 || len(rec.repoDigests) > 0 {
			return d.records, nil
		}
		quiet = true
	} else if len(tags) == 1 {
		mask := conflictHard
		if !opts.Force {
			mask |= conflictStoppedContainer
		}
		if conflict := d.check(id, mask); conflict != nil {
			return nil, *conflict
		}
		if err := d.untag(tags[0]); err != nil {
			return nil, err
		}
	}

	if err := d.deleteImage(id, opts.Force, quiet); err != nil {
		return d.records, err
	}
	return d.records, nil
}

// tagReference returns the normalized tag that nameOrID names, or false
// when nameOrID is an ID, an ID prefix or a digest reference.
func tagReference(nameOrID string, id digest.Digest) (string, bool) {
	if strings.HasPrefix(id.String(), nameOrID) || strings.HasPrefix(id.Encoded(), nameOrID) {
		return "", false
	}
	named, err := reference.ParseNormalizedNamed(nameOrID)
	if err != nil {
		return "", false
	}
	if _, ok := named.(reference.Canonical); ok {
		return "", false
	}
	return reference.TagNameOnly(named).String(), true
}

type conflictType int

const (
	conflictDependentChild conflictType = 1 << iota
	conflictRunningContainer
	conflictActiveReference
	conflictStoppedContainer

	conflictHard = conflictDependentChild | conflictRunningContainer
	conflictSoft = conflictActiveReference | conflictStoppedContainer
)

// conflictError is a delete conflict with Docker's wording.
type conflictError struct {
	msg  string
	used bool // a container uses the image
}

func (e conflictError) Error() string { return e.msg }
func (e conflictError) Unwrap() error { return errdefs.ErrConflict }

// deletion is one DeleteWithOptions call. The caller holds s.mu and
// s.layerLock.
type deletion struct {
	s       *Store
	ctx     context.Context
	opts    DeleteOptions
	records []imagetypes.DeleteResponse
}

func (d *deletion) usedBy(id digest.Digest) (ContainerUse, bool) {
	if d.opts.UsedBy == nil {
		return ContainerUse{}, false
	}
	return d.opts.UsedBy(id)
}

// untag removes the tag ref and records it. The tag index is written before
// anything else changes.
func (d *deletion) untag(ref string) error {
	id, ok := d.s.tags[ref]
	if !ok {
		return nil
	}
	delete(d.s.tags, ref)
	if err := d.s.saveTagsLocked(); err != nil {
		d.s.tags[ref] = id
		return err
	}
	d.records = append(d.records, imagetypes.DeleteResponse{Untagged: FamiliarName(ref)})
	return nil
}

// repoDigestReference returns the normalized form of nameOrID when it is
// one of the repo digests of rec.
func repoDigestReference(nameOrID string, rec *record) (string, bool) {
	named, err := reference.ParseNormalizedNamed(nameOrID)
	if err != nil {
		return "", false
	}
	if _, ok := named.(reference.Canonical); !ok {
		return "", false
	}
	ref := named.String()
	return ref, slices.Contains(rec.repoDigests, ref)
}

// untagRepoDigest removes the repo digest ref of rec, saves the image's
// metadata and records the removal.
func (d *deletion) untagRepoDigest(rec *record, ref string) error {
	remaining := slices.DeleteFunc(slices.Clone(rec.repoDigests), func(r string) bool { return r == ref })
	if err := d.s.setRepoDigestsLocked(rec, remaining); err != nil {
		return err
	}
	d.records = append(d.records, imagetypes.DeleteResponse{Untagged: FamiliarName(ref)})
	return nil
}

// untagRepoDigestsOfTag removes the repo digests of rec in the repository of
// the removed tag ref once rec has no other tag there, as Docker Engine's
// ImageDelete does, so a pulled image does not stay behind as "repo <none>".
func (d *deletion) untagRepoDigestsOfTag(rec *record, ref string) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil
	}
	repo := named.Name()
	inRepo := func(r string) bool {
		n, err := reference.ParseNormalizedNamed(r)
		return err == nil && n.Name() == repo
	}
	if slices.ContainsFunc(d.s.tagsOfLocked(rec.id), inRepo) {
		return nil
	}
	var removed, remaining []string
	for _, r := range rec.repoDigests {
		if inRepo(r) {
			removed = append(removed, r)
		} else {
			remaining = append(remaining, r)
		}
	}
	if len(removed) == 0 {
		return nil
	}
	if err := d.s.setRepoDigestsLocked(rec, remaining); err != nil {
		return err
	}
	for _, r := range removed {
		d.records = append(d.records, imagetypes.DeleteResponse{Untagged: FamiliarName(r)})
	}
	return nil
}

// check returns the first conflict of the kinds in mask that blocks
// deleting id, or nil.
func (d *deletion) check(id digest.Digest, mask conflictType) *conflictError {
	newConflict := func(hard bool, reason string) *conflictError {
		force := "must be forced"
		if hard {
			force = "cannot be forced"
		}
		return &conflictError{msg: fmt.Sprintf("conflict: unable to delete %s (%s) - %s", shortID(id), force, reason)}
	}

	if mask&conflictDependentChild != 0 && d.s.hasChildrenLocked(id) {
		return newConflict(true, "image has dependent child images")
	}
	use, used := d.usedBy(id)
	if mask&conflictRunningContainer != 0 && used && use.Running {
		c := newConflict(true, "image is being used by running container"+containerSuffix(use.ContainerID))
		c.used = true
		return c
	}
	if mask&conflictActiveReference != 0 && len(d.s.tagsOfLocked(id)) > 0 {
		return newConflict(false, "image is referenced in multiple repositories")
	}
	if mask&conflictStoppedContainer != 0 && used && !use.Running {
		c := newConflict(false, "image is being used by stopped container"+containerSuffix(use.ContainerID))
		c.used = true
		return c
	}
	return nil
}

func containerSuffix(containerID string) string {
	if containerID == "" {
		return ""
	}
	return " " + shortContainerID(containerID)
}

func shortContainerID(containerID string) string {
	if len(containerID) > 12 {
		return containerID[:12]
	}
	return containerID
}

func (s *Store) hasChildrenLocked(id digest.Digest) bool {
	for _, rec := range s.images {
		if rec.parent == id {
			return true
		}
	}
	return false
}

// deleteImage deletes id after checking for conflicts, then prunes its
// parent. When quiet, conflicts of images that have tags or children, or
// that containers use, end the deletion without an error.
func (d *deletion) deleteImage(id digest.Digest, force, quiet bool) error {
	mask := conflictHard
	if !force {
		mask |= conflictSoft
	}
	if conflict := d.check(id, mask); conflict != nil {
		dangling := len(d.s.tagsOfLocked(id)) == 0 && !d.s.hasChildrenLocked(id)
		if quiet && (!dangling || conflict.used) {
			return nil
		}
		return *conflict
	}

	rec := d.s.images[id]
	for _, ref := range d.s.tagsOfLocked(id) {
		if err := d.untag(ref); err != nil {
			return err
		}
	}
	for _, ref := range rec.repoDigests {
		d.records = append(d.records, imagetypes.DeleteResponse{Untagged: FamiliarName(ref)})
	}
	if err := os.Remove(d.s.metadataPath(id)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("delete image %s: %w", id, err)
	}
	delete(d.s.images, id)
	d.records = append(d.records, imagetypes.DeleteResponse{Deleted: id.String()})
	log.FromContext(d.ctx).Debug("image deleted", log.KeyImage, id)

	d.removeLayers(rec)
	d.removeBlobs(rec)

	if d.opts.NoPrune || rec.parent == "" || d.s.images[rec.parent] == nil {
		return nil
	}
	return d.deleteImage(rec.parent, false, true)
}

// removeLayers removes the layers of the deleted image rec, top first, until
// it reaches one that a remaining image or a snapshot uses.
func (d *deletion) removeLayers(rec *record) {
	used := d.s.usedLayersLocked()
	chain := chainIDs(rec.diffIDs)
	for i := len(chain) - 1; i >= 0; i-- {
		id := chain[i]
		if used[id] {
			return
		}
		err := d.s.ls.RemoveLayer(d.ctx, id)
		switch {
		case err == nil:
			d.records = append(d.records, imagetypes.DeleteResponse{Deleted: id.String()})
		case errdefs.IsNotFound(err):
		case errdefs.IsConflict(err):
			return // a snapshot or a committed layer is based on it
		default:
			log.FromContext(d.ctx).Warn("removing layer of deleted image", log.KeyImage, rec.id, "layer", id, log.Err(err))
			return
		}
	}
}

// usedLayersLocked returns the chain IDs of all layers of the stored images.
func (s *Store) usedLayersLocked() map[digest.Digest]bool {
	used := map[digest.Digest]bool{}
	for _, rec := range s.images {
		for _, id := range chainIDs(rec.diffIDs) {
			used[id] = true
		}
	}
	return used
}

// removeBlobs removes the config, manifest and layer blobs of the deleted
// image rec that no remaining image references.
func (d *deletion) removeBlobs(rec *record) {
	used := map[digest.Digest]bool{}
	for _, other := range d.s.images {
		used[other.id] = true
		used[other.manifest] = true
		for _, layer := range other.layers {
			used[layer.Digest] = true
		}
	}

	candidates := []digest.Digest{rec.manifest, rec.id}
	for _, layer := range rec.layers {
		candidates = append(candidates, layer.Digest)
	}
	for _, blob := range candidates {
		if used[blob] {
			continue
		}
		used[blob] = true // a layer blob can occur twice in one manifest
		if err := d.s.cs.Delete(blob); err != nil && !errdefs.IsNotFound(err) {
			log.FromContext(d.ctx).Warn("removing blob of deleted image", log.KeyImage, rec.id, log.KeyDigest, blob, log.Err(err))
		}
	}
}

// PruneLayers removes all layers that no image and no snapshot uses, such
// as the layers of a force-deleted image once its containers are gone, and
// returns their chain IDs. It also removes the blobs that no image uses,
// such as those of a failed pull.
func (s *Store) PruneLayers(ctx context.Context) ([]digest.Digest, error) {
	s.layerLock.Lock()
	defer s.layerLock.Unlock()
	s.mu.Lock()
	used := s.usedLayersLocked()
	s.mu.Unlock()

	layers := s.ls.Layers()
	depth := map[digest.Digest]int{}
	parents := map[digest.Digest]digest.Digest{}
	for _, l := range layers {
		parents[l.ChainID] = l.Parent
	}
	for _, l := range layers {
		for id := l.ChainID; id != ""; id = parents[id] {
			depth[l.ChainID]++
		}
	}
	// Children first, because a layer with children cannot be removed.
	sort.Slice(layers, func(i, j int) bool { return depth[layers[i].ChainID] > depth[layers[j].ChainID] })

	var removed []digest.Digest
	for _, l := range layers {
		if used[l.ChainID] {
			continue
		}
		err := s.ls.RemoveLayer(ctx, l.ChainID)
		switch {
		case err == nil:
			removed = append(removed, l.ChainID)
		case errdefs.IsConflict(err), errdefs.IsNotFound(err):
		default:
			return removed, fmt.Errorf("prune layers: %w", err)
		}
	}
	return removed, s.pruneBlobs(ctx)
}

// pruneBlobs removes the blobs of the content store that no image uses,
// such as those of a pull that failed. s.layerLock must be held
// exclusively, so no image being created is about to use one.
func (s *Store) pruneBlobs(ctx context.Context) error {
	s.mu.Lock()
	used := map[digest.Digest]bool{}
	for id, rec := range s.images {
		used[id] = true
		used[rec.manifest] = true
		for _, layer := range rec.layers {
			used[layer.Digest] = true
		}
	}
	s.mu.Unlock()

	var unused []digest.Digest
	err := s.cs.Walk(func(d digest.Digest, _ int64) error {
		if !used[d] {
			unused = append(unused, d)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("prune blobs: %w", err)
	}
	for _, d := range unused {
		if err := s.cs.Delete(d); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("prune blobs: %w", err)
		}
	}
	if len(unused) > 0 {
		log.FromContext(ctx).Debug("pruned unused blobs", "count", len(unused))
	}
	return nil
}
