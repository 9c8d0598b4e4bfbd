package server

import (
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-engine/berth/api/version"
	"github.com/berth-engine/berth/internal/log"
)

func (s *Server) addContainerRoutes(rt *router) {
	rt.add(http.MethodPost, "/containers/create", s.postContainersCreate)
	rt.add(http.MethodGet, "/containers/json", s.getContainersJSON)
	rt.add(http.MethodPost, "/containers/prune", s.postContainersPrune)
	rt.add(http.MethodGet, "/containers/{id}/json", s.getContainerJSON)
	rt.add(http.MethodPost, "/containers/{id}/start", s.postContainerStart)
	rt.add(http.MethodPost, "/containers/{id}/stop", s.postContainerStop)
	rt.add(http.MethodPost, "/containers/{id}/restart", s.postContainerRestart)
	rt.add(http.MethodPost, "/containers/{id}/kill", s.postContainerKill)
	rt.add(http.MethodPost, "/containers/{id}/wait", s.postContainerWait)
	rt.add(http.MethodPost, "/containers/{id}/attach", s.postContainerAttach)
	rt.add(http.MethodPost, "/containers/{id}/resize", s.postContainerResize)
	rt.add(http.MethodGet, "/containers/{id}/logs", s.getContainerLogs)
	rt.add(http.MethodPost, "/containers/{id}/pause", s.postContainerPause)
	rt.add(http.MethodPost, "/containers/{id}/unpause", s.postContainerUnpause)
	rt.add(http.MethodPost, "/containers/{id}/rename", s.postContainerRename)
	rt.add(http.MethodPost, "/containers/{id}/update", s.postContainerUpdate)
	rt.add(http.MethodGet, "/containers/{id}/top", s.getContainerTop)
	rt.add(http.MethodGet, "/containers/{id}/changes", s.getContainerChanges)
	rt.add(http.MethodGet, "/containers/{id}/export", s.getContainerExport)
	rt.add(http.MethodPost, "/commit", s.postCommit)
	rt.add(http.MethodGet, "/containers/{id}/stats", s.getContainerStats)
	rt.add(http.MethodDelete, "/containers/{id}", s.deleteContainer)
}

func (s *Server) postContainersCreate(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var body container.CreateRequest
	if err := decodeJSONBody(r, &body); err != nil {
		return err
	}
	if body.Config == nil {
		return invalidParameter("config cannot be empty in order to create a container")
	}

	// TODO: pass the "platform" query parameter once the backend takes one.
	resp, err := s.backend.ContainerCreate(r.Context(), ContainerCreateRequest{
		Name:             r.URL.Query().Get("name"),
		Config:           body.Config,
		HostConfig:       body.HostConfig,
		NetworkingConfig: body.NetworkingConfig,
	})
	if err != nil {
		return err
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) getContainersJSON(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	q := r.URL.Query()
	limit, _, err := intValue(q, "limit")
	if err != nil {
		return err
	}
	filters, err := parseFilters(q.Get("filters"))
	if err != nil {
		return err
	}

	list, err := s.backend.ContainerList(r.Context(), ContainerListOptions{
		All:     boolValue(q, "all"),
		Limit:   limit,
		Size:    boolValue(q, "size"),
		Filters: filters,
	})
	if err != nil {
		return err
	}
	if list == nil {
		list = []container.Summary{}
	}
	return writeJSON(w, http.StatusOK, list)
}

func (s *Server) getContainerJSON(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	resp, err := s.backend.ContainerInspect(r.Context(), vars["id"], boolValue(r.URL.Query(), "size"))
	if err != nil {
		return err
	}
	body, err := inspectForVersion(resp, version.FromContext(r.Context()))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, body)
}

// postContainerStart starts a container. A backend error wrapping
// errdefs.ErrNotModified (container already running) becomes 304, which
// clients treat as success.
func (s *Server) postContainerStart(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	q := r.URL.Query()
	if q.Get("checkpoint") != "" || q.Get("checkpoint-dir") != "" {
		return notImplemented("starting from a checkpoint is not implemented by berth")
	}
	if err := s.backend.ContainerStart(r.Context(), vars["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stopOptions parses "signal" and "t" of stop and restart. "timeout" is
// accepted as another name for "t". Docker Engine reads "signal" from API
// 1.42 on.
func stopOptions(r *http.Request) (signal string, timeout *int, err error) {
	q := r.URL.Query()
	seconds, ok, err := intValue(q, "t")
	if err != nil {
		return "", nil, err
	}
	if !ok {
		seconds, ok, err = intValue(q, "timeout")
		if err != nil {
			return "", nil, err
		}
	}
	if ok {
		timeout = &seconds
	}
	if version.FromContext(r.Context()).AtLeast(version.Version{Major: 1, Minor: 42}) {
		signal = q.Get("signal")
	}
	return signal, timeout, nil
}

// postContainerStop stops a container. A backend error wrapping
// errdefs.ErrNotModified (container not running) becomes 304.
func (s *Server) postContainerStop(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	signal, timeout, err := stopOptions(r)
	if err != nil {
		return err
	}
	if err := s.backend.ContainerStop(r.Context(), vars["id"], signal, timeout); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) postContainerRestart(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	signal, timeout, err := stopOptions(r)
	if err != nil {
		return err
	}
	if err := s.backend.ContainerRestart(r.Context(), vars["id"], signal, timeout); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) postContainerKill(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := s.backend.ContainerKill(r.Context(), vars["id"], r.URL.Query().Get("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) postContainerPause(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := s.backend.ContainerPause(r.Context(), vars["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) postContainerUnpause(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := s.backend.ContainerUnpause(r.Context(), vars["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) postContainerRename(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := s.backend.ContainerRename(r.Context(), vars["id"], r.URL.Query().Get("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// postContainerUpdate serves POST /containers/{id}/update.
func (s *Server) postContainerUpdate(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var update container.UpdateConfig
	if err := decodeJSONBody(r, &update); err != nil {
		return err
	}
	resp, err := s.backend.ContainerUpdate(r.Context(), vars["id"], update)
	if err != nil {
		return err
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) getContainerTop(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	resp, err := s.backend.ContainerTop(r.Context(), vars["id"], r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) getContainerChanges(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	changes, err := s.backend.ContainerChanges(r.Context(), vars["id"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, changes)
}

func (s *Server) getContainerExport(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	rc, err := s.backend.ContainerExport(r.Context(), vars["id"])
	if err != nil {
		return err
	}
	defer rc.Close()

	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		// The status is sent already, so the client sees a cut tar.
		log.FromContext(r.Context()).Warn("failed to export container", log.KeyContainer, vars["id"], log.Err(err))
	}
	return nil
}

// postCommit creates an image from a container. A JSON config in the body
// is not read: the image takes the container's config and the changes.
func (s *Server) postCommit(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	q := r.URL.Query()
	if q.Get("container") == "" {
		return invalidParameter("missing container parameter")
	}
	id, err := s.backend.ContainerCommit(r.Context(), ContainerCommitRequest{
		Container:  q.Get("container"),
		Repository: q.Get("repo"),
		Tag:        q.Get("tag"),
		Comment:    q.Get("comment"),
		Author:     q.Get("author"),
		Changes:    q["changes"],
		NoPause:    !boolValueOrDefault(q, "pause", true),
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, container.CommitResponse{ID: id})
}

func (s *Server) getContainerStats(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	q := r.URL.Query()
	opts := StatsOptions{Stream: boolValueOrDefault(q, "stream", true), OneShot: boolValue(q, "one-shot")}
	if opts.Stream && opts.OneShot {
		return invalidParameter("cannot have stream=true and one-shot=true")
	}
	wrote := false
	err := s.backend.ContainerStats(r.Context(), vars["id"], opts, func(stats container.StatsResponse) error {
		if !wrote {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			wrote = true
		}
		if err := writeJSONBody(w, stats); err != nil {
			return err
		}
		flush(w)
		return nil
	})
	if err != nil && wrote {
		// The status is sent already, so the stream just ends.
		log.FromContext(r.Context()).Warn("failed to send container stats", log.KeyContainer, vars["id"], log.Err(err))
		return nil
	}
	return err
}

func (s *Server) postContainersPrune(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	report, err := s.backend.ContainersPrune(r.Context(), filters)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, report)
}

func (s *Server) deleteContainer(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	q := r.URL.Query()
	if boolValue(q, "link") {
		return notImplemented("removing container links is not implemented by berth")
	}
	if err := s.backend.ContainerRemove(r.Context(), vars["id"], boolValue(q, "force"), boolValue(q, "v")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) postContainerResize(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	q := r.URL.Query()
	height, err := uintValue(q, "h")
	if err != nil {
		return err
	}
	width, err := uintValue(q, "w")
	if err != nil {
		return err
	}
	if err := s.backend.ContainerResize(r.Context(), vars["id"], height, width); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// parseWaitCondition validates the "condition" parameter; "" means
// not-running. API versions before 1.30 had no conditions.
func parseWaitCondition(r *http.Request, q url.Values) (container.WaitCondition, error) {
	if version.FromContext(r.Context()).Less(version.Version{Major: 1, Minor: 30}) {
		return container.WaitConditionNotRunning, nil
	}
	switch c := container.WaitCondition(q.Get("condition")); c {
	case "":
		return container.WaitConditionNotRunning, nil
	case container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
		return c, nil
	default:
		return "", invalidParameter(fmt.Sprintf("invalid condition: %q", c))
	}
}

// postContainerWait sends the response headers as soon as the backend has
// accepted the wait, then the WaitResponse when the condition is met. The
// moby client returns from ContainerWait once it has the headers, so a
// client can start the container after that and not miss its exit. When the
// client goes away the wait ends without a response.
func (s *Server) postContainerWait(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	condition, err := parseWaitCondition(r, r.URL.Query())
	if err != nil {
		return err
	}

	ctx, cancel := s.streamContext(r.Context())
	defer cancel()
	results, err := s.backend.ContainerWait(ctx, vars["id"], condition)
	if err != nil {
		return err
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flush(w)

	var resp container.WaitResponse
	select {
	case <-ctx.Done():
		log.FromContext(ctx).Debug("container wait ended before the condition was met", log.Err(ctx.Err()))
		return nil
	case result, ok := <-results:
		resp = result
		if !ok {
			resp = container.WaitResponse{
				StatusCode: -1,
				Error:      &container.WaitExitError{Message: "wait ended without a result"},
			}
		}
	}

	_ = writeJSONBody(w, resp)
	return nil
}
