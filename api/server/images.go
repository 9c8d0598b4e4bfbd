package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-engine/berth/api/version"
	"github.com/berth-engine/berth/internal/log"
)

func (s *Server) addImageRoutes(rt *router) {
	rt.add(http.MethodGet, "/images/json", s.getImagesJSON)
	rt.add(http.MethodPost, "/images/create", s.postImagesCreate)
	rt.add(http.MethodPost, "/images/prune", s.postImagesPrune)
	rt.add(http.MethodGet, "/images/{name...}/json", s.getImageJSON)
	rt.add(http.MethodGet, "/images/{name...}/history", s.getImageHistory)
	rt.add(http.MethodPost, "/images/{name...}/tag", s.postImageTag)
	rt.add(http.MethodDelete, "/images/{name...}", s.deleteImage)
}

func (s *Server) getImagesJSON(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	q := r.URL.Query()
	filters, err := parseFilters(q.Get("filters"))
	if err != nil {
		return err
	}

	list, err := s.backend.ImageList(r.Context(), boolValue(q, "all"), filters)
	if err != nil {
		return err
	}
	if list == nil {
		list = []image.Summary{}
	}
	body, err := imageListForVersion(list, version.FromContext(r.Context()))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, body)
}

func (s *Server) getImageJSON(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	resp, err := s.backend.ImageInspect(r.Context(), vars["name"])
	if err != nil {
		return err
	}
	body, err := imageInspectForVersion(resp, version.FromContext(r.Context()))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, body)
}

func (s *Server) getImageHistory(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	history, err := s.backend.ImageHistory(r.Context(), vars["name"])
	if err != nil {
		return err
	}
	if history == nil {
		history = []image.HistoryResponseItem{}
	}
	return writeJSON(w, http.StatusOK, history)
}

func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	q := r.URL.Query()
	deleted, err := s.backend.ImageDelete(r.Context(), vars["name"], boolValue(q, "force"), boolValue(q, "noprune"))
	if err != nil {
		return err
	}
	if deleted == nil {
		deleted = []image.DeleteResponse{}
	}
	return writeJSON(w, http.StatusOK, deleted)
}

// postImageTag tags an image as "repo:tag". The backend gets repo and tag as
// the client sent them, after checking that they form a valid reference.
func (s *Server) postImageTag(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	q := r.URL.Query()
	repo, tag := q.Get("repo"), q.Get("tag")
	if repo == "" {
		return invalidParameter("repository name (repo) is required")
	}
	if _, err := parseTargetReference(repo, tag); err != nil {
		return err
	}

	if err := s.backend.ImageTag(r.Context(), vars["name"], repo, tag); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// parseTargetReference checks that repo (which may carry a tag) and the
// optional tag name a new tag, and returns it in familiar form with the tag
// "latest" when none is given ("team/app:1.0", "busybox:latest"). Digest
// references are rejected.
func parseTargetReference(repo, tag string) (string, error) {
	ref, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return "", invalidParameter(fmt.Sprintf("invalid reference %q: %v", repo, err))
	}
	if _, ok := ref.(reference.Digested); ok {
		return "", invalidParameter(fmt.Sprintf("invalid reference %q: cannot tag with a digest reference", repo))
	}
	if tag != "" {
		ref, err = reference.WithTag(reference.TrimNamed(ref), tag)
		if err != nil {
			return "", invalidParameter(fmt.Sprintf("invalid tag %q: %v", tag, err))
		}
	}
	return reference.FamiliarString(reference.TagNameOnly(ref)), nil
}

// postImagesCreate pulls an image (fromImage) or imports a root filesystem
// tarball (fromSrc=-, the body is the tarball). The response is a JSON
// message stream like Docker Engine's: pull progress, or one
// {"status":"sha256:..."} line with the imported image's ID.
func (s *Server) postImagesCreate(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	q := r.URL.Query()
	switch {
	case q.Get("fromImage") != "":
		return s.pullImage(w, r)
	case q.Get("fromSrc") == "":
		return invalidParameter("either fromImage or fromSrc must be set")
	case q.Get("fromSrc") != "-":
		return notImplemented("importing images from a URL is not implemented by berth; " +
			"download the tarball and import it from a file or stdin")
	}

	var ref string
	if repo := q.Get("repo"); repo != "" {
		var err error
		if ref, err = parseTargetReference(repo, q.Get("tag")); err != nil {
			return err
		}
	}

	id, err := s.backend.ImageImport(r.Context(), ImageImportRequest{
		Source:   r.Body,
		Ref:      ref,
		Changes:  q["changes"],
		Message:  q.Get("message"),
		Platform: q.Get("platform"),
	})
	if err != nil {
		return err
	}
	if id == "" {
		return errors.New("import image: backend returned no image ID")
	}
	log.FromContext(r.Context()).Debug("image imported", log.KeyImage, id)

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return writeStreamMessage(w, jsonstream.Message{Status: id})
}

func (s *Server) postImagesPrune(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	report, err := s.backend.ImagesPrune(r.Context(), filters)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, report)
}
