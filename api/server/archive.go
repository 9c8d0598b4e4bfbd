package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/container"
)

// ContainerArchiver copies files into and out of containers. Every path,
// and every entry of an uploaded archive, resolves inside the container's
// root filesystem.
type ContainerArchiver interface {
	// ContainerStatPath describes a path without following a final
	// symlink.
	ContainerStatPath(ctx context.Context, nameOrID, path string) (container.PathStat, error)
	// ContainerArchivePath calls start with the description of path once
	// it is found, then writes path as a tar to the writer start returns.
	ContainerArchivePath(ctx context.Context, nameOrID, path string, start func(container.PathStat) (io.Writer, error)) error
	// ContainerExtractToDir unpacks the tar r into the directory path.
	ContainerExtractToDir(ctx context.Context, nameOrID, path string, noOverwriteDirNonDir, copyUIDGID bool, r io.Reader) error
}

// pathStatHeader is the response header that carries a path's description.
const pathStatHeader = "X-Docker-Container-Path-Stat"

func (s *Server) addArchiveRoutes(rt *router) {
	rt.add(http.MethodHead, "/containers/{id}/archive", s.headContainerArchive)
	rt.add(http.MethodGet, "/containers/{id}/archive", s.getContainerArchive)
	rt.add(http.MethodPut, "/containers/{id}/archive", s.putContainerArchive)
}

func (s *Server) archiver() (ContainerArchiver, error) {
	a, ok := s.backend.(ContainerArchiver)
	if !ok {
		return nil, notImplemented("copying files is not implemented by berth")
	}
	return a, nil
}

func archivePath(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", invalidParameter("path cannot be empty")
	}
	return p, nil
}

func setPathStatHeader(w http.ResponseWriter, stat container.PathStat) error {
	data, err := json.Marshal(stat)
	if err != nil {
		return err
	}
	w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString(data))
	return nil
}

func (s *Server) headContainerArchive(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	a, err := s.archiver()
	if err != nil {
		return err
	}
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	stat, err := a.ContainerStatPath(r.Context(), vars["id"], p)
	if err != nil {
		return err
	}
	if err := setPathStatHeader(w, stat); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getContainerArchive(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	a, err := s.archiver()
	if err != nil {
		return err
	}
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	// Errors found before start returns get an error status. Once the tar
	// has begun, a failure can only cut the stream short.
	return a.ContainerArchivePath(r.Context(), vars["id"], p, func(stat container.PathStat) (io.Writer, error) {
		if err := setPathStatHeader(w, stat); err != nil {
			return nil, err
		}
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		return w, nil
	})
}

func (s *Server) putContainerArchive(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	a, err := s.archiver()
	if err != nil {
		return err
	}
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if err := a.ContainerExtractToDir(r.Context(), vars["id"], p,
		boolValue(q, "noOverwriteDirNonDir"), boolValue(q, "copyUIDGID"), r.Body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
