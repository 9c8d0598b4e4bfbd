package engine

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	mobyimage "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
)

// pruneFilter is the parsed `filters` query of a prune request.
type pruneFilter struct {
	until     time.Time // zero: no limit
	labels    []string  // "key" or "key=value", all of which must match
	notLabels []string  // "key" or "key=value", none of which may match
	dangling  bool      // images only: prune untagged images alone
}

// parsePruneFilter checks filters against the keys a prune accepts: until,
// label, label! and, when images is set, dangling.
func parsePruneFilter(filters map[string][]string, images bool, now time.Time) (pruneFilter, error) {
	f := pruneFilter{dangling: true}
	for key, values := range filters {
		switch {
		case key == "until":
			for _, v := range values {
				t, err := parseTimestamp(v, now)
				if err != nil {
					return pruneFilter{}, err
				}
				f.until = t
			}
		case key == "label":
			f.labels = append(f.labels, values...)
		case key == "label!":
			f.notLabels = append(f.notLabels, values...)
		case key == "dangling" && images:
			for _, v := range values {
				switch strings.ToLower(v) {
				case "true", "1":
					f.dangling = true
				case "false", "0":
					f.dangling = false
				default:
					return pruneFilter{}, fmt.Errorf("invalid filter 'dangling=%s': %w", v, errdefs.ErrInvalidArgument)
				}
			}
		default:
			return pruneFilter{}, fmt.Errorf("invalid filter '%s': %w", key, errdefs.ErrInvalidArgument)
		}
	}
	return f, nil
}

// match reports whether an object created at created with labels passes the
// until and label filters.
func (f pruneFilter) match(created time.Time, labels map[string]string) bool {
	if !f.until.IsZero() && created.After(f.until) {
		return false
	}
	for _, l := range f.labels {
		if !hasLabel(labels, l) {
			return false
		}
	}
	for _, l := range f.notLabels {
		if hasLabel(labels, l) {
			return false
		}
	}
	return true
}

// hasLabel reports whether labels has the key of filter "key" or
// "key=value", with that value in the second form.
func hasLabel(labels map[string]string, filter string) bool {
	k, want, hasValue := strings.Cut(filter, "=")
	got, ok := labels[k]
	return ok && (!hasValue || got == want)
}

// parseTimestamp reads the value of an until filter: a Unix time in
// seconds (with an optional fraction), an RFC 3339 time or date, or a
// duration such as "24h" counted back from now.
func parseTimestamp(value string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(value); err == nil {
		return now.Add(-d), nil
	}
	if secs, err := strconv.ParseFloat(value, 64); err == nil && !math.IsInf(secs, 0) && !math.IsNaN(secs) {
		whole, frac := math.Modf(secs)
		return time.Unix(int64(whole), int64(frac*1e9)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, value, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid filter 'until=%s': cannot parse it as a timestamp or duration: %w",
		value, errdefs.ErrInvalidArgument)
}

// ContainersPrune removes every stopped container that passes the filters
// and reports the IDs and the size of their writable layers.
func (e *Engine) ContainersPrune(ctx context.Context, filters map[string][]string) (container.PruneReport, error) {
	f, err := parsePruneFilter(filters, false, time.Now())
	if err != nil {
		return container.PruneReport{}, err
	}
	report := container.PruneReport{ContainersDeleted: []string{}}
	for _, c := range e.containers.List() {
		if err := ctx.Err(); err != nil {
			return report, err
		}
		c.Lock()
		status := c.State.Status
		matched := !c.Hidden && f.match(c.Created, c.Config.Labels)
		c.Unlock()
		if !matched || (status != ctr.Created && status != ctr.Exited && status != ctr.Dead) {
			continue
		}
		size, err := e.snapshots.Size(ctx, c.SnapshotKey)
		if err != nil {
			log.FromContext(ctx).Warn("measure writable layer of container to prune", log.KeyContainer, c.ID, log.Err(err))
			size = 0
		}
		// remove rejects a container that started since the listing.
		if err := e.remove(ctx, c, false); err != nil {
			log.FromContext(ctx).Warn("prune container", log.KeyContainer, c.ID, log.Err(err))
			continue
		}
		report.ContainersDeleted = append(report.ContainersDeleted, c.ID)
		if size > 0 {
			report.SpaceReclaimed += uint64(size)
		}
	}
	e.events.Publish(events.ContainerEventType, events.ActionPrune, "",
		map[string]string{"reclaimed": strconv.FormatUint(report.SpaceReclaimed, 10)})
	return report, nil
}

// ImagesPrune deletes the images that no container uses and that pass the
// filters: with dangling (the default) only untagged ones. Untagged images
// that are parents of other images are left to the deletion of their
// children. The space reclaimed is the size of the deleted layers.
//
// NOTE: a build that commits a step while a prune runs can lose that step's
// image, because it is untagged and has neither children nor containers
// until the next step starts.
func (e *Engine) ImagesPrune(ctx context.Context, filters map[string][]string) (mobyimage.PruneReport, error) {
	f, err := parsePruneFilter(filters, true, time.Now())
	if err != nil {
		return mobyimage.PruneReport{}, err
	}
	imgs, err := e.images.List(ctx)
	if err != nil {
		return mobyimage.PruneReport{}, err
	}
	layerSizes := map[string]int64{}
	for _, l := range e.snapshots.Layers() {
		layerSizes[l.ChainID.String()] = l.Size
	}
	hasChildren := map[digest.Digest]bool{}
	for _, img := range imgs {
		if img.Parent != "" {
			hasChildren[img.Parent] = true
		}
	}
	used := e.imageUsers()

	report := mobyimage.PruneReport{ImagesDeleted: []mobyimage.DeleteResponse{}}
	for _, img := range imgs {
		if err := ctx.Err(); err != nil {
			return report, err
		}
		tagged := len(img.RepoTags) > 0
		if used[img.ID] > 0 || (f.dangling && tagged) || (!tagged && hasChildren[img.ID]) {
			continue
		}
		if img.Config.Created == nil && !f.until.IsZero() {
			// As in Docker, an image without a creation time is never older
			// than until.
			continue
		}
		var created time.Time
		if img.Config.Created != nil {
			created = *img.Config.Created
		}
		if !f.match(created, img.Config.Config.Labels) {
			continue
		}
		// As in Docker, a tagged image goes by deleting its tags one by one,
		// so the last one deletes the image. The delete rejects an image that
		// a container started to use since the listing.
		refs := img.RepoTags
		if !tagged {
			refs = []string{img.ID.String()}
		}
		for _, ref := range refs {
			deleted, err := e.ImageDelete(ctx, ref, false, false)
			if err != nil {
				if !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
					log.FromContext(ctx).Warn("prune image", log.KeyImage, img.ID, "reference", ref, log.Err(err))
				}
				continue
			}
			report.ImagesDeleted = append(report.ImagesDeleted, deleted...)
		}
	}
	for _, d := range report.ImagesDeleted {
		if size, ok := layerSizes[d.Deleted]; ok && size > 0 {
			report.SpaceReclaimed += uint64(size)
		}
	}
	e.events.Publish(events.ImageEventType, events.ActionPrune, "",
		map[string]string{"reclaimed": strconv.FormatUint(report.SpaceReclaimed, 10)})
	return report, nil
}
