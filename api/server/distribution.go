package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"

	"github.com/berth-engine/berth/distribution"
	"github.com/berth-engine/berth/internal/log"
)

// RegistryBackend moves images between the daemon and registries.
type RegistryBackend interface {
	// ImagePull pulls ref ("name:tag" or "name@digest") for platform ("" for
	// the daemon's), passing progress messages to send. A name without tag
	// or digest pulls every tag of the repository.
	ImagePull(ctx context.Context, ref, platform string, auth registry.AuthConfig, send func(jsonstream.Message) error) error

	// ImagePush pushes the tag ref, or every tag of its repository when it
	// has none, passing progress messages to send.
	ImagePush(ctx context.Context, ref string, auth registry.AuthConfig, send func(jsonstream.Message) error) error

	// Login checks the credentials against the registry they name.
	Login(ctx context.Context, auth registry.AuthConfig) error
}

func (s *Server) addRegistryRoutes(rt *router) {
	rt.add(http.MethodPost, "/images/{name...}/push", s.postImagePush)
	rt.add(http.MethodPost, "/auth", s.postAuth)
}

// pullReference returns the reference that the fromImage and tag query
// parameters of POST /images/create name. tag may be a tag or a digest. A
// reference without tag or digest means every tag of the repository.
func pullReference(fromImage, tag string) (string, error) {
	named, err := reference.ParseNormalizedNamed(fromImage)
	if err != nil {
		return "", invalidParameter("invalid reference format: " + err.Error())
	}
	if tag == "" {
		return named.String(), nil
	}
	if strings.Contains(tag, ":") {
		canonical, err := reference.WithDigest(reference.TrimNamed(named), digest.Digest(tag))
		if err == nil {
			err = digest.Digest(tag).Validate()
		}
		if err != nil {
			return "", invalidParameter("invalid digest " + tag + ": " + err.Error())
		}
		return canonical.String(), nil
	}
	tagged, err := reference.WithTag(reference.TrimNamed(named), tag)
	if err != nil {
		return "", invalidParameter("invalid tag " + tag + ": " + err.Error())
	}
	return tagged.String(), nil
}

// pullImage serves POST /images/create?fromImage=...: it streams Docker's
// progress messages, and a failure after the stream started as an
// errorDetail message.
func (s *Server) pullImage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ref, err := pullReference(q.Get("fromImage"), q.Get("tag"))
	if err != nil {
		return err
	}
	auth, err := distribution.DecodeAuth(r.Header.Get(registry.AuthHeader))
	if err != nil {
		return err
	}

	stream := &progressStream{w: w}
	err = s.backend.ImagePull(r.Context(), ref, q.Get("platform"), auth, stream.send)
	return stream.finish(r.Context(), err, "pull "+ref)
}

func (s *Server) postImagePush(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	named, err := reference.ParseNormalizedNamed(vars["name"])
	if err != nil {
		return invalidParameter("invalid reference format: " + err.Error())
	}
	ref := named.String()
	if tag := r.URL.Query().Get("tag"); tag != "" {
		tagged, err := reference.WithTag(reference.TrimNamed(named), tag)
		if err != nil {
			return invalidParameter("invalid tag " + tag + ": " + err.Error())
		}
		ref = tagged.String()
	}
	auth, err := distribution.DecodeAuth(r.Header.Get(registry.AuthHeader))
	if err != nil {
		return err
	}

	stream := &progressStream{w: w}
	err = s.backend.ImagePush(r.Context(), ref, auth, stream.send)
	return stream.finish(r.Context(), err, "push "+ref)
}

func (s *Server) postAuth(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var auth registry.AuthConfig
	if err := decodeJSONBody(r, &auth); err != nil {
		return err
	}
	if err := s.backend.Login(r.Context(), auth); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registry.AuthResponse{Status: "Login Succeeded"})
}

// progressStream writes JSON progress messages, sending the status line
// with the first one, so an error before any progress still gets an error
// status.
type progressStream struct {
	w       http.ResponseWriter
	started bool
}

func (p *progressStream) send(m jsonstream.Message) error {
	if !p.started {
		p.started = true
		p.w.Header().Set("Content-Type", "application/json")
		p.w.WriteHeader(http.StatusOK)
	}
	if err := writeStreamMessage(p.w, m); err != nil {
		return err
	}
	flush(p.w)
	return nil
}

// finish returns err for the API to send when the stream has not started,
// and otherwise sends it as the stream's last message.
func (p *progressStream) finish(ctx context.Context, err error, operation string) error {
	if err == nil || !p.started {
		return err
	}
	if ctx.Err() != nil {
		return nil // the client went away
	}
	log.FromContext(ctx).Warn("registry operation failed", "operation", operation, log.Err(err))
	msg := errorMessage(err)
	return writeStreamMessage(p.w, streamError{ErrorDetail: jsonstream.Error{Message: msg}, Error: msg})
}
