package server

import (
	"context"
	"io"
	"net/http"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-engine/berth/internal/detachkeys"
	"github.com/berth-engine/berth/internal/log"
)

// ExecStartOptions describe how POST /exec/{id}/start runs an exec
// instance. Without Detach, Stdout and Stderr receive the raw bytes of each
// stream (already framed by the server without a TTY) and Stdin, when not
// nil, is read until io.EOF.
type ExecStartOptions struct {
	Detach      bool
	Stdin       io.Reader
	Stdout      io.Writer
	Stderr      io.Writer
	ConsoleSize *[2]uint
}

// ExecBackend runs additional processes in running containers.
type ExecBackend interface {
	// ContainerExecCreate registers an exec instance and returns its ID.
	ContainerExecCreate(ctx context.Context, nameOrID string, config container.ExecCreateRequest) (string, error)
	// ContainerExecStart starts the process and, unless Detach, streams
	// until its output ends, the client detaches or ctx is cancelled.
	ContainerExecStart(ctx context.Context, execID string, opts ExecStartOptions) error
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error)
	ContainerExecResize(ctx context.Context, execID string, height, width uint) error
}

func (s *Server) addExecRoutes(rt *router) {
	rt.add(http.MethodPost, "/containers/{id}/exec", s.postContainerExec)
	rt.add(http.MethodPost, "/exec/{id}/start", s.postExecStart)
	rt.add(http.MethodGet, "/exec/{id}/json", s.getExecJSON)
	rt.add(http.MethodPost, "/exec/{id}/resize", s.postExecResize)
}

func (s *Server) postContainerExec(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var config container.ExecCreateRequest
	if err := decodeJSONBody(r, &config); err != nil {
		return err
	}
	if len(config.Cmd) == 0 {
		return invalidParameter("No exec command specified")
	}
	if _, err := detachkeys.Parse(config.DetachKeys); err != nil {
		return err
	}
	id, err := s.backend.ContainerExecCreate(r.Context(), vars["id"], config)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
}

// postExecStart starts an exec instance. Detached, it returns 200 once the
// process started. Otherwise it hijacks the connection and streams as attach
// does.
func (s *Server) postExecStart(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	ctx := r.Context()
	id := vars["id"]
	var req container.ExecStartRequest
	if err := decodeJSONBody(r, &req); err != nil {
		return err
	}
	inspect, err := s.backend.ContainerExecInspect(ctx, id)
	if err != nil {
		return err
	}
	if req.Detach {
		if err := s.backend.ContainerExecStart(ctx, id, ExecStartOptions{Detach: true, ConsoleSize: req.ConsoleSize}); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	tty := inspect.ProcessConfig != nil && inspect.ProcessConfig.Tty

	stream, err := s.hijackStream(ctx, w, r, "start exec "+id, tty)
	if stream == nil || err != nil {
		return err
	}
	defer stream.close()
	ctx, out, buffered, cancel := stream.ctx, stream.out, stream.input, stream.cancel
	stdout, stderr := stream.stdout, stream.stderr
	opts := ExecStartOptions{Stdout: stdout, Stderr: stderr, ConsoleSize: req.ConsoleSize}
	if inspect.OpenStdin {
		opts.Stdin = &clientReader{r: buffered, onError: cancel}
	} else {
		go discardClientInput(buffered)
	}

	err = s.backend.ContainerExecStart(ctx, id, opts)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		log.FromContext(ctx).Debug("exec stream ended with the client connection", log.Err(err))
	default:
		log.FromContext(ctx).Info("exec failed", "exec", id, log.Err(err))
		msg := errorMessage(err)
		if tty {
			_, _ = io.WriteString(out, msg+"\r\n")
		} else {
			_, _ = newStdWriter(out, stdcopy.Stderr).Write([]byte(msg + "\n"))
		}
	}
	return nil
}

func (s *Server) getExecJSON(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	inspect, err := s.backend.ContainerExecInspect(r.Context(), vars["id"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inspect)
}

func (s *Server) postExecResize(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	q := r.URL.Query()
	height, _, err := intValue(q, "h")
	if err != nil {
		return err
	}
	width, _, err := intValue(q, "w")
	if err != nil {
		return err
	}
	if height < 0 || width < 0 {
		return invalidParameter("invalid terminal size")
	}
	if err := s.backend.ContainerExecResize(r.Context(), vars["id"], uint(height), uint(width)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
