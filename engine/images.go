package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/events"
	mobyimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/api/server"
	"github.com/berth-engine/berth/build"
	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/snapshot"
)

// ImageList returns the images, newest first. Without all, images that
// only serve as parents of other images (build steps) are left out.
func (e *Engine) ImageList(ctx context.Context, all bool, filters map[string][]string) ([]mobyimage.Summary, error) {
	for k := range filters {
		switch k {
		case "dangling", "label", "reference", "before", "since":
		default:
			return nil, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	imgs, err := e.images.List(ctx)
	if err != nil {
		return nil, err
	}
	parents := map[digest.Digest]bool{}
	for _, img := range imgs {
		if img.Parent != "" {
			parents[img.Parent] = true
		}
	}
	usedBy := e.imageUsers()

	out := []mobyimage.Summary{}
	for _, img := range imgs {
		if !all && len(img.RepoTags) == 0 && parents[img.ID] {
			continue
		}
		if !matchImage(img, filters) {
			continue
		}
		s := mobyimage.Summary{
			ID:          img.ID.String(),
			ParentID:    img.Parent.String(),
			RepoTags:    familiarNames(img.RepoTags),
			RepoDigests: familiarNames(img.RepoDigests),
			Labels:      img.Config.Config.Labels,
			Size:        img.Size,
			SharedSize:  -1,
			Containers:  int64(usedBy[img.ID]),
		}
		if img.Config.Created != nil {
			s.Created = img.Config.Created.Unix()
		}
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		out = append(out, s)
	}
	return out, nil
}

func matchImage(img image.Image, filters map[string][]string) bool {
	for key, values := range filters {
		for _, v := range values {
			switch key {
			case "dangling":
				if (v == "true" || v == "1") != (len(img.RepoTags) == 0) {
					return false
				}
			case "label":
				k, want, hasValue := strings.Cut(v, "=")
				got, ok := img.Config.Config.Labels[k]
				if !ok || (hasValue && got != want) {
					return false
				}
			case "reference":
				matched := false
				for _, tag := range familiarNames(img.RepoTags) {
					if ok, _ := reference.FamiliarMatch(v, mustParse(tag)); ok {
						matched = true
					}
				}
				if !matched {
					return false
				}
			}
		}
	}
	return true
}

func mustParse(s string) reference.Reference {
	ref, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil
	}
	return ref
}

func familiarNames(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		out = append(out, image.FamiliarName(t))
	}
	return out
}

// imageUsers counts the containers of each image.
func (e *Engine) imageUsers() map[digest.Digest]int {
	users := map[digest.Digest]int{}
	for _, c := range e.containers.List() {
		users[c.Image]++
	}
	return users
}

// imageUser returns a container of the image, preferring a running one.
func (e *Engine) imageUser(id digest.Digest) (image.ContainerUse, bool) {
	var use image.ContainerUse
	found := false
	for _, c := range e.containers.List() {
		if c.Image != id {
			continue
		}
		c.Lock()
		running := c.State.IsRunning()
		c.Unlock()
		if !found || running {
			use = image.ContainerUse{ContainerID: c.ID, Running: running}
			found = true
		}
		if running {
			break
		}
	}
	return use, found
}

// ImageInspect returns the low-level view of an image.
func (e *Engine) ImageInspect(ctx context.Context, ref string) (mobyimage.InspectResponse, error) {
	img, err := e.images.Get(ctx, ref)
	if err != nil {
		return mobyimage.InspectResponse{}, err
	}
	config := img.Config.Config
	resp := mobyimage.InspectResponse{
		ID:           img.ID.String(),
		RepoTags:     familiarNames(img.RepoTags),
		RepoDigests:  familiarNames(img.RepoDigests),
		Author:       img.Config.Author,
		Config:       &config,
		Architecture: img.Config.Architecture,
		Variant:      img.Config.Variant,
		Os:           img.Config.OS,
		Size:         img.Size,
		GraphDriver:  &storage.DriverData{Name: "overlay2", Data: map[string]string{}},
		RootFS:       mobyimage.RootFS{Type: "layers"},
	}
	if img.Config.Created != nil {
		resp.Created = img.Config.Created.UTC().Format(time.RFC3339Nano)
	}
	for _, d := range img.Config.RootFS.DiffIDs {
		resp.RootFS.Layers = append(resp.RootFS.Layers, d.String())
	}
	if n := len(img.Config.History); n > 0 {
		resp.Comment = img.Config.History[n-1].Comment
	}
	return resp, nil
}

// ImageHistory lists the steps that made the image, newest first.
func (e *Engine) ImageHistory(ctx context.Context, ref string) ([]mobyimage.HistoryResponseItem, error) {
	img, err := e.images.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	// Each history entry that is no empty layer made the next layer, whose
	// size it reports.
	layerSizes := make([]int64, len(img.Config.History))
	var chain digest.Digest
	layer := 0
	for i, h := range img.Config.History {
		if h.EmptyLayer || layer >= len(img.Config.RootFS.DiffIDs) {
			continue
		}
		chain = snapshot.ChainID(chain, img.Config.RootFS.DiffIDs[layer])
		layer++
		if l, err := e.snapshots.Layer(chain); err == nil {
			layerSizes[i] = l.Size
		}
	}

	out := []mobyimage.HistoryResponseItem{}
	for i := len(img.Config.History) - 1; i >= 0; i-- {
		h := img.Config.History[i]
		item := mobyimage.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, Tags: []string{}, Size: layerSizes[i]}
		if h.Created != nil {
			item.Created = h.Created.Unix()
		}
		if i == len(img.Config.History)-1 {
			item.ID = img.ID.String()
			item.Tags = familiarNames(img.RepoTags)
		}
		out = append(out, item)
	}
	return out, nil
}

// ImageDelete untags or deletes an image.
func (e *Engine) ImageDelete(ctx context.Context, ref string, force, noPrune bool) ([]mobyimage.DeleteResponse, error) {
	e.imageUse.Lock()
	defer e.imageUse.Unlock()
	resp, err := e.images.DeleteWithOptions(ctx, ref, image.DeleteOptions{
		Force:   force,
		NoPrune: noPrune,
		UsedBy:  e.imageUser,
	})
	if err != nil {
		return nil, err
	}
	for _, r := range resp {
		switch {
		case r.Deleted != "":
			e.events.Publish(events.ImageEventType, events.ActionDelete, r.Deleted, nil)
		case r.Untagged != "":
			e.events.Publish(events.ImageEventType, events.ActionUnTag, r.Untagged, nil)
		}
	}
	return resp, nil
}

// ImageTag adds repository:tag to an image.
func (e *Engine) ImageTag(ctx context.Context, ref, repository, tag string) error {
	img, err := e.images.Get(ctx, ref)
	if err != nil {
		return err
	}
	name, err := tagName(repository, tag)
	if err != nil {
		return err
	}
	if err := e.images.Tag(ctx, img.ID, name); err != nil {
		return err
	}
	e.events.Publish(events.ImageEventType, events.ActionTag, img.ID.String(), map[string]string{"name": name})
	return nil
}

// tagName joins repository and tag into a normalised reference.
func tagName(repository, tag string) (string, error) {
	ref := repository
	if tag != "" {
		ref += ":" + tag
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("invalid reference format %q: %w: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	if _, ok := named.(reference.Digested); ok {
		return "", fmt.Errorf("refusing to create a tag with a digest reference: %s: %w", ref, errdefs.ErrInvalidArgument)
	}
	return reference.TagNameOnly(named).String(), nil
}

// ImageImport makes an image from a root filesystem tarball.
func (e *Engine) ImageImport(ctx context.Context, req server.ImageImportRequest) (string, error) {
	var name string
	if req.Ref != "" {
		n, err := tagName(req.Ref, "")
		if err != nil {
			return "", err
		}
		name = n
	}
	var cfg dockerspec.DockerOCIImage
	if err := build.ApplyChanges(&cfg, req.Changes); err != nil {
		return "", err
	}
	if req.Message != "" {
		cfg.History = append(cfg.History, historyComment(req.Message))
	}
	img, err := e.images.Import(ctx, req.Source, cfg)
	if err != nil {
		return "", err
	}
	if name != "" {
		if err := e.images.Tag(ctx, img.ID, name); err != nil {
			return "", err
		}
	}
	e.events.Publish(events.ImageEventType, events.ActionImport, img.ID.String(), nil)
	return img.ID.String(), nil
}

func historyComment(msg string) ocispec.History {
	return ocispec.History{Comment: msg}
}
