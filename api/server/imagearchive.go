package server

import (
	"context"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-engine/berth/internal/log"
)

// ImageArchiver moves images in and out of the daemon as image archives, in
// the format of docker save.
type ImageArchiver interface {
	// ImageLoad stores the images of the archive r and returns one line per
	// image, as docker load prints them: "Loaded image: NAME" for each tag,
	// "Loaded image ID: sha256:..." for an image without tags.
	ImageLoad(ctx context.Context, r io.Reader) ([]string, error)

	// ImageSave writes the images that names refer to as an archive to w.
	// It resolves every name before it writes anything.
	ImageSave(ctx context.Context, names []string, w io.Writer) error
}

func (s *Server) addImageArchiveRoutes(rt *router) {
	rt.add(http.MethodPost, "/images/load", s.postImagesLoad)
	rt.add(http.MethodGet, "/images/get", s.getImagesGet)
	rt.add(http.MethodGet, "/images/{name...}/get", s.getImagesGet)
}

// postImagesLoad loads an archive and reports the loaded images as a JSON
// message stream of "stream" lines, as Docker Engine does. The archive is
// read completely before the response starts, so a bad archive gets an
// error status.
func (s *Server) postImagesLoad(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	lines, err := s.backend.ImageLoad(r.Context(), r.Body)
	if err != nil {
		return err
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	for _, line := range lines {
		if err := writeStreamMessage(w, jsonstream.Message{Stream: line + "\n"}); err != nil {
			return err
		}
	}
	return nil
}

// getImagesGet writes the images named by the path or by "names" query
// parameters as a tar stream.
func (s *Server) getImagesGet(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	names := r.URL.Query()["names"]
	if name := vars["name"]; name != "" {
		names = []string{name}
	}
	if len(names) == 0 {
		return invalidParameter("no image names given: set the names query parameter")
	}

	out := &tarResponse{w: w}
	err := s.backend.ImageSave(r.Context(), names, out)
	if err == nil || !out.started {
		return err
	}
	// The status is sent already. Closing the connection without the end
	// of the chunked body makes the client see a failed transfer, not a
	// short archive.
	log.FromContext(r.Context()).Warn("failed to save images", "names", names, log.Err(err))
	panic(http.ErrAbortHandler)
}

// tarResponse sends the status and tar content type with the first write.
type tarResponse struct {
	w       http.ResponseWriter
	started bool
}

func (t *tarResponse) Write(p []byte) (int, error) {
	if !t.started {
		t.started = true
		t.w.Header().Set("Content-Type", "application/x-tar")
		t.w.WriteHeader(http.StatusOK)
	}
	return t.w.Write(p)
}
