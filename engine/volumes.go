package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	apivolume "github.com/moby/moby/api/types/volume"

	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/volume"
)

// apiVolume returns the API view of v. With usage, UsageData holds its
// size and the number of containers that reference it.
func (e *Engine) apiVolume(v volume.Volume, usage bool) apivolume.Volume {
	out := apivolume.Volume{
		Name:       v.Name,
		Driver:     v.Driver,
		Mountpoint: e.volumes.Path(v.Name),
		CreatedAt:  v.CreatedAt.Format(time.RFC3339),
		Labels:     v.Labels,
		Options:    v.Options,
		Scope:      "local",
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	if usage {
		out.UsageData = &apivolume.UsageData{
			Size:     e.volumes.Size(v.Name),
			RefCount: int64(len(e.volumes.Users(v.Name))),
		}
	}
	return out
}

func (e *Engine) publishVolume(name string, action events.Action) {
	e.events.Publish(events.VolumeEventType, action, name, map[string]string{"driver": volume.LocalDriver})
}

// VolumeCreate creates a volume, or returns the one of that name.
func (e *Engine) VolumeCreate(ctx context.Context, req apivolume.CreateRequest) (apivolume.Volume, error) {
	_, getErr := e.volumes.Get(req.Name)
	v, err := e.volumes.Create(req.Name, req.Driver, req.Labels, req.DriverOpts)
	if err != nil {
		return apivolume.Volume{}, err
	}
	if req.Name == "" || getErr != nil {
		e.publishVolume(v.Name, events.ActionCreate)
		log.FromContext(ctx).Info("volume created", "volume", v.Name)
	}
	return e.apiVolume(v, false), nil
}

// VolumeInspect returns volume name.
func (e *Engine) VolumeInspect(ctx context.Context, name string) (apivolume.Volume, error) {
	v, err := e.volumes.Get(name)
	if err != nil {
		return apivolume.Volume{}, err
	}
	return e.apiVolume(v, false), nil
}

var volumeListFilters = map[string]bool{"dangling": true, "name": true, "label": true, "driver": true}

// VolumeList returns the volumes that pass filters: dangling (not
// referenced by any container), name (a substring), label (KEY or
// KEY=VALUE) and driver.
func (e *Engine) VolumeList(ctx context.Context, filters map[string][]string) (apivolume.ListResponse, error) {
	for key := range filters {
		if !volumeListFilters[key] {
			return apivolume.ListResponse{}, fmt.Errorf("invalid filter '%s': %w", key, errdefs.ErrInvalidArgument)
		}
	}
	for _, v := range filters["dangling"] {
		if parseBoolFilter(v) == nil {
			return apivolume.ListResponse{}, fmt.Errorf("invalid filter 'dangling=%s': %w", v, errdefs.ErrInvalidArgument)
		}
	}
	resp := apivolume.ListResponse{Volumes: []apivolume.Volume{}, Warnings: []string{}}
	for _, v := range e.volumes.List() {
		if e.matchVolume(v, filters) {
			resp.Volumes = append(resp.Volumes, e.apiVolume(v, false))
		}
	}
	return resp, nil
}

func parseBoolFilter(v string) *bool {
	var b bool
	switch strings.ToLower(v) {
	case "1", "true":
		b = true
	case "0", "false":
	default:
		return nil
	}
	return &b
}

func (e *Engine) matchVolume(v volume.Volume, filters map[string][]string) bool {
	for _, d := range filters["dangling"] {
		if *parseBoolFilter(d) != (len(e.volumes.Users(v.Name)) == 0) {
			return false
		}
	}
	if names := filters["name"]; len(names) > 0 {
		ok := false
		for _, n := range names {
			ok = ok || strings.Contains(v.Name, n)
		}
		if !ok {
			return false
		}
	}
	if drivers := filters["driver"]; len(drivers) > 0 {
		ok := false
		for _, d := range drivers {
			ok = ok || d == v.Driver
		}
		if !ok {
			return false
		}
	}
	for _, l := range filters["label"] {
		if !hasLabel(v.Labels, l) {
			return false
		}
	}
	for _, l := range filters["label!"] {
		if hasLabel(v.Labels, l) {
			return false
		}
	}
	return true
}

// VolumeRemove deletes a volume that no container references. force
// makes a missing volume no error.
func (e *Engine) VolumeRemove(ctx context.Context, name string, force bool) error {
	_, getErr := e.volumes.Get(name)
	if err := e.volumes.Remove(name, force); err != nil {
		return err
	}
	if getErr == nil {
		e.publishVolume(name, events.ActionDestroy)
		log.FromContext(ctx).Info("volume removed", "volume", name)
	}
	return nil
}

var volumePruneFilters = map[string]bool{"label": true, "label!": true, "all": true}

// VolumesPrune removes the volumes no container references that pass
// filters. As in Docker Engine for API 1.42 and later, only anonymous
// volumes go unless all=true.
func (e *Engine) VolumesPrune(ctx context.Context, filters map[string][]string) (apivolume.PruneReport, error) {
	for key := range filters {
		if !volumePruneFilters[key] {
			return apivolume.PruneReport{}, fmt.Errorf("invalid filter '%s': %w", key, errdefs.ErrInvalidArgument)
		}
	}
	all := false
	for _, v := range filters["all"] {
		b := parseBoolFilter(v)
		if b == nil {
			return apivolume.PruneReport{}, fmt.Errorf("invalid filter 'all=%s': %w", v, errdefs.ErrInvalidArgument)
		}
		all = *b
	}
	report := apivolume.PruneReport{VolumesDeleted: []string{}}
	for _, v := range e.volumes.List() {
		if !all && !v.Anonymous() {
			continue
		}
		if !e.matchVolume(v, map[string][]string{"label": filters["label"], "label!": filters["label!"]}) {
			continue
		}
		if len(e.volumes.Users(v.Name)) > 0 {
			continue
		}
		size := e.volumes.Size(v.Name)
		if err := e.volumes.Remove(v.Name, false); err != nil {
			// A container started using it since the check.
			log.FromContext(ctx).Warn("prune volume", "volume", v.Name, log.Err(err))
			continue
		}
		e.publishVolume(v.Name, events.ActionDestroy)
		report.VolumesDeleted = append(report.VolumesDeleted, v.Name)
		report.SpaceReclaimed += uint64(size)
	}
	return report, nil
}

// VolumeDiskUsage returns every volume with its size and reference count,
// for system df.
func (e *Engine) VolumeDiskUsage(ctx context.Context) ([]apivolume.Volume, error) {
	out := []apivolume.Volume{}
	for _, v := range e.volumes.List() {
		out = append(out, e.apiVolume(v, true))
	}
	return out, nil
}
