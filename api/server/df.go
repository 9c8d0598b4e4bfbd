package server

import (
	"fmt"
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"

	"github.com/berth-engine/berth/api/version"
)

// legacyDiskUsage is the body of GET /system/df before API 1.52.
type legacyDiskUsage struct {
	LayersSize int64               `json:"LayersSize"`
	Images     []image.Summary     `json:"Images"`
	Containers []container.Summary `json:"Containers"`
	Volumes    []volume.Volume     `json:"Volumes"`
	BuildCache []build.CacheRecord `json:"BuildCache"`
}

// getSystemDF serves GET /system/df from the image, container and volume
// lists. berth has no build cache, so its usage is always empty.
func (s *Server) getSystemDF(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	q := r.URL.Query()
	types := map[string]bool{}
	for _, t := range q["type"] {
		switch system.DiskUsageObject(t) {
		case system.ContainerObject, system.ImageObject, system.VolumeObject, system.BuildCacheObject:
			types[t] = true
		default:
			return fmt.Errorf("invalid object type %q: use container, image, volume or build-cache: %w",
				t, errdefs.ErrInvalidArgument)
		}
	}
	wants := func(t system.DiskUsageObject) bool { return len(types) == 0 || types[string(t)] }
	verbose := boolValue(q, "verbose")

	images, err := s.backend.ImageList(r.Context(), true, nil)
	if err != nil {
		return err
	}
	containers, err := s.backend.ContainerList(r.Context(), ContainerListOptions{All: true, Size: true})
	if err != nil {
		return err
	}
	volumes, err := s.backend.VolumeDiskUsage(r.Context())
	if err != nil {
		return err
	}
	imageUsage, layersSize := imageDiskUsage(images)
	containerUsage := containerDiskUsage(containers)
	volumeUsage := volumeDiskUsage(volumes)

	if version.FromContext(r.Context()).Less(version.Version{Major: 1, Minor: 52}) {
		return writeJSON(w, http.StatusOK, legacyDiskUsage{
			LayersSize: layersSize,
			Images:     imageUsage.Items,
			Containers: containerUsage.Items,
			Volumes:    volumes,
			BuildCache: []build.CacheRecord{},
		})
	}

	var du system.DiskUsage
	if wants(system.ImageObject) {
		du.ImageUsage = imageUsage
	}
	if wants(system.ContainerObject) {
		du.ContainerUsage = containerUsage
	}
	if wants(system.VolumeObject) {
		du.VolumeUsage = volumeUsage
	}
	if wants(system.BuildCacheObject) {
		du.BuildCacheUsage = &build.DiskUsage{}
	}
	if !verbose {
		if du.ImageUsage != nil {
			du.ImageUsage.Items = nil
		}
		if du.ContainerUsage != nil {
			du.ContainerUsage.Items = nil
		}
		if du.VolumeUsage != nil {
			du.VolumeUsage.Items = nil
		}
	}
	return writeJSON(w, http.StatusOK, du)
}

// imageDiskUsage counts each layer once, as an image's Size minus its
// parent's, and sets SharedSize to the parent's Size. Layers below no image
// that a container uses are reclaimable.
func imageDiskUsage(images []image.Summary) (*image.DiskUsage, int64) {
	byID := map[string]*image.Summary{}
	for i := range images {
		byID[images[i].ID] = &images[i]
	}
	ownSize := func(img *image.Summary) int64 {
		if parent, ok := byID[img.ParentID]; ok && img.ParentID != "" {
			return img.Size - parent.Size
		}
		return img.Size
	}

	needed := map[string]bool{}
	usage := &image.DiskUsage{Items: images}
	for i := range images {
		img := &images[i]
		usage.TotalCount++
		if img.Containers > 0 {
			usage.ActiveCount++
			for id := img.ID; id != "" && !needed[id]; {
				needed[id] = true
				parent, ok := byID[id]
				if !ok {
					break
				}
				id = parent.ParentID
			}
		}
	}
	for i := range images {
		img := &images[i]
		own := ownSize(img)
		img.SharedSize = img.Size - own
		usage.TotalSize += own
		if !needed[img.ID] {
			usage.Reclaimable += own
		}
	}
	return usage, usage.TotalSize
}

// containerDiskUsage sums the writable layers of the containers. The layers
// of containers that are not running are reclaimable.
func containerDiskUsage(containers []container.Summary) *container.DiskUsage {
	usage := &container.DiskUsage{Items: containers}
	for _, c := range containers {
		usage.TotalCount++
		usage.TotalSize += c.SizeRw
		switch c.State {
		case container.StateRunning, container.StatePaused, container.StateRestarting:
			usage.ActiveCount++
		default:
			usage.Reclaimable += c.SizeRw
		}
	}
	return usage
}

// volumeDiskUsage sums the sizes of the volumes. Volumes that no container
// references are reclaimable.
func volumeDiskUsage(volumes []volume.Volume) *volume.DiskUsage {
	usage := &volume.DiskUsage{Items: volumes}
	for _, v := range volumes {
		usage.TotalCount++
		if v.UsageData == nil {
			continue
		}
		usage.TotalSize += v.UsageData.Size
		if v.UsageData.RefCount > 0 {
			usage.ActiveCount++
		} else {
			usage.Reclaimable += v.UsageData.Size
		}
	}
	return usage
}
