package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/common"

	"github.com/berth-engine/berth/internal/log"
)

// statusFromError maps an error to its HTTP status by its errdefs kind. It
// is the only place that decides status codes for errors: handlers return
// errors and never pick a status for them.
//
// The moby client maps the status back to the same kind, so a backend error
// wrapping errdefs.ErrNotFound arrives at the client as one for which
// errdefs.IsNotFound is true.
func statusFromError(err error) int {
	switch {
	case errdefs.IsNotModified(err):
		return http.StatusNotModified
	case errdefs.IsNotFound(err):
		return http.StatusNotFound
	case errdefs.IsInvalidArgument(err):
		return http.StatusBadRequest
	case errdefs.IsConflict(err), errdefs.IsAlreadyExists(err):
		return http.StatusConflict
	case errdefs.IsUnauthorized(err):
		return http.StatusUnauthorized
	case errdefs.IsPermissionDenied(err):
		return http.StatusForbidden
	case errdefs.IsFailedPrecondition(err):
		return http.StatusPreconditionFailed
	case errdefs.IsNotImplemented(err):
		return http.StatusNotImplemented
	case errdefs.IsUnavailable(err):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// writeError sends err as Docker's error body {"message": "..."}. A
// not-modified error becomes a bare 304, which has no body.
func writeError(ctx context.Context, w http.ResponseWriter, err error) {
	status := statusFromError(err)
	logger := log.FromContext(ctx)
	// Only unexpected failures are logged as errors. The other statuses are
	// regular outcomes (not found, not implemented, not a swarm manager).
	if status == http.StatusInternalServerError {
		logger.Error("api request failed", "status", status, log.Err(err))
	} else {
		logger.Debug("api request rejected", "status", status, log.Err(err))
	}

	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}

	// The moby client decodes the body as JSON only when the Content-Type is
	// exactly "application/json", without parameters.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(common.ErrorResponse{Message: errorMessage(err)})
}

// errorKinds are the errdefs kinds whose names the engine's errors may end
// with when they wrap a kind with %w.
var errorKinds = []error{
	errdefs.ErrNotFound, errdefs.ErrInvalidArgument, errdefs.ErrConflict,
	errdefs.ErrAlreadyExists, errdefs.ErrNotImplemented, errdefs.ErrUnavailable,
	errdefs.ErrPermissionDenied, errdefs.ErrFailedPrecondition, errdefs.ErrNotModified,
	errdefs.ErrUnknown,
}

// errorMessage returns the message sent to the client. The name of the error's
// kind ("not found", "conflict") that wrapping with %w adds before or after
// a message is left out, so messages read as Docker's do: "No such
// container: web".
func errorMessage(err error) string {
	if errors.Is(err, context.Canceled) {
		return "request canceled"
	}
	msg := err.Error()
	for _, kind := range errorKinds {
		if errors.Is(err, kind) {
			msg = strings.TrimSuffix(msg, ": "+kind.Error())
			if kind == errdefs.ErrConflict {
				// Docker's own conflict messages start with "conflict: ".
				continue
			}
			msg = strings.TrimPrefix(msg, kind.Error()+": ")
			msg = strings.Replace(msg, ": "+kind.Error()+": ", ": ", 1)
		}
	}
	return msg
}

// invalidParameter returns an error wrapping errdefs.ErrInvalidArgument with
// msg as its whole message.
func invalidParameter(msg string) error {
	return errdefs.ErrInvalidArgument.WithMessage(msg)
}

// notImplemented returns an error wrapping errdefs.ErrNotImplemented with msg
// as its whole message.
func notImplemented(msg string) error {
	return errdefs.ErrNotImplemented.WithMessage(msg)
}
