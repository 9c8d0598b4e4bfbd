package server

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/volume"

	"github.com/berth-engine/berth/api/version"
)

// VolumeBackend manages volumes.
type VolumeBackend interface {
	// VolumeList returns the volumes that pass filters (dangling, name,
	// label, driver).
	VolumeList(ctx context.Context, filters map[string][]string) (volume.ListResponse, error)
	// VolumeCreate creates a volume, or returns the existing one of that
	// name. An empty name creates an anonymous volume.
	VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error)
	VolumeInspect(ctx context.Context, name string) (volume.Volume, error)
	// VolumeRemove deletes a volume that no container references. force
	// makes a missing volume no error.
	VolumeRemove(ctx context.Context, name string, force bool) error
	// VolumesPrune removes unused volumes that pass filters (label,
	// label!, all). Without all=true only anonymous volumes go.
	VolumesPrune(ctx context.Context, filters map[string][]string) (volume.PruneReport, error)
	// VolumeDiskUsage returns every volume with UsageData set.
	VolumeDiskUsage(ctx context.Context) ([]volume.Volume, error)
}

func (s *Server) addVolumeRoutes(rt *router) {
	rt.add(http.MethodGet, "/volumes", s.getVolumes)
	rt.add(http.MethodPost, "/volumes/create", s.postVolumeCreate)
	rt.add(http.MethodPost, "/volumes/prune", s.postVolumesPrune)
	rt.add(http.MethodGet, "/volumes/{name}", s.getVolume)
	rt.add(http.MethodDelete, "/volumes/{name}", s.deleteVolume)
}

func (s *Server) getVolumes(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	list, err := s.backend.VolumeList(r.Context(), filters)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (s *Server) postVolumeCreate(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var req volume.CreateRequest
	if err := decodeJSONBody(r, &req); err != nil {
		return err
	}
	v, err := s.backend.VolumeCreate(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) getVolume(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	v, err := s.backend.VolumeInspect(r.Context(), vars["name"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteVolume(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := s.backend.VolumeRemove(r.Context(), vars["name"], boolValue(r.URL.Query(), "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// postVolumesPrune serves POST /volumes/prune. Clients of API versions
// before 1.42 expect every unused volume to go, named ones too, as
// Docker Engine prunes for them.
func (s *Server) postVolumesPrune(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	if _, ok := filters["all"]; !ok && version.FromContext(r.Context()).Less(version.Version{Major: 1, Minor: 42}) {
		if filters == nil {
			filters = map[string][]string{}
		}
		filters["all"] = []string{"true"}
	}
	report, err := s.backend.VolumesPrune(r.Context(), filters)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, report)
}
