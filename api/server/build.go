package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"

	"github.com/berth-engine/berth/internal/log"
)

// postBuild runs a classic (non-BuildKit) build of the tar context in the
// body and streams the JSON messages of Docker's classic builder:
// {"stream": text} for each write of the backend's progress, then
// {"aux": {"ID": "sha256:..."}}. With q=1 the progress is kept back and only
// the image ID is sent, or the kept progress followed by the error.
//
// An error before any output still becomes an HTTP status; after output has
// started it goes into the stream as {"errorDetail": {...}, "error": "..."},
// which the docker CLI prints and exits non-zero on.
func (s *Server) postBuild(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	req, err := parseBuildRequest(r.URL.Query())
	if err != nil {
		return err
	}
	req.Context = r.Body
	req.AuthConfigs = decodeBuildAuth(r.Context(), r.Header.Get(buildAuthHeader))

	out := &buildOutput{w: w}
	var progress io.Writer = out
	var kept bytes.Buffer
	if req.Quiet {
		progress = &lockedWriter{w: &kept}
	}

	id, err := s.backend.Build(r.Context(), req, progress)
	if err != nil {
		if kept.Len() > 0 {
			_, _ = out.Write(kept.Bytes())
		}
		if !out.started() {
			return err
		}
		log.FromContext(r.Context()).Debug("build failed", log.Err(err))
		return out.writeError(err)
	}

	aux, err := json.Marshal(build.Result{ID: id})
	if err != nil {
		return err
	}
	raw := json.RawMessage(aux)
	if err := out.writeMessage(jsonstream.Message{Aux: &raw}); err != nil {
		return err
	}
	if req.Quiet {
		return out.writeMessage(jsonstream.Message{Stream: id + "\n"})
	}
	return nil
}

// postBuildPrune serves POST /build/prune. The classic builder's cache is
// one index of build steps, so every prune empties it. The filters are
// checked for syntax only: BuildKit defines many build cache filter keys,
// and none of them selects a subset here.
func (s *Server) postBuildPrune(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if _, err := parseFilters(r.URL.Query().Get("filters")); err != nil {
		return err
	}
	report, err := s.backend.BuildCachePrune(r.Context())
	if err != nil {
		return err
	}
	if report.CachesDeleted == nil {
		report.CachesDeleted = []string{}
	}
	return writeJSON(w, http.StatusOK, report)
}

// buildAuthHeader carries the client's registry credentials for a build:
// base64url JSON of a map from registry address to credentials.
const buildAuthHeader = "X-Registry-Config"

// decodeBuildAuth decodes the X-Registry-Config header. Like Docker Engine,
// it builds without credentials when the header is malformed.
func decodeBuildAuth(ctx context.Context, header string) map[string]registry.AuthConfig {
	if header == "" {
		return nil
	}
	var auths map[string]registry.AuthConfig
	decoder := json.NewDecoder(base64.NewDecoder(base64.URLEncoding, strings.NewReader(header)))
	if err := decoder.Decode(&auths); err != nil {
		log.FromContext(ctx).Warn("ignoring invalid X-Registry-Config header", log.Err(err))
		return nil
	}
	return auths
}

func parseBuildRequest(q url.Values) (BuildRequest, error) {
	if q.Get("remote") != "" {
		return BuildRequest{}, notImplemented("building from a remote context is not implemented by berth; " +
			"send the build context as a tar archive")
	}
	if q.Get("version") == "2" {
		return BuildRequest{}, notImplemented("BuildKit is not implemented by berth; " +
			"use the classic builder (DOCKER_BUILDKIT=0)")
	}

	tags, err := parseBuildTags(q["t"])
	if err != nil {
		return BuildRequest{}, err
	}
	req := BuildRequest{
		Dockerfile:  q.Get("dockerfile"),
		Tags:        tags,
		NoCache:     boolValue(q, "nocache"),
		Remove:      boolValueOrDefault(q, "rm", true),
		ForceRm:     boolValue(q, "forcerm"),
		Pull:        boolValue(q, "pull"),
		Target:      q.Get("target"),
		Quiet:       boolValue(q, "q"),
		NetworkMode: q.Get("networkmode"),
		ExtraHosts:  q["extrahosts"],
	}
	if req.ForceRm {
		req.Remove = true
	}
	if err := decodeJSONParam(q, "buildargs", &req.BuildArgs); err != nil {
		return BuildRequest{}, err
	}
	if err := decodeJSONParam(q, "labels", &req.Labels); err != nil {
		return BuildRequest{}, err
	}
	return req, nil
}

// parseBuildTags checks the "t" parameters and returns them in familiar form
// with the tag "latest" when none is given, without duplicates.
func parseBuildTags(values []string) ([]string, error) {
	var tags []string
	seen := map[string]bool{}
	for _, value := range values {
		ref, err := reference.ParseNormalizedNamed(value)
		if err != nil {
			return nil, invalidParameter(fmt.Sprintf("invalid tag %q: %v", value, err))
		}
		if _, ok := ref.(reference.Digested); ok {
			return nil, invalidParameter(fmt.Sprintf("invalid tag %q: build tag cannot contain a digest", value))
		}
		tag := reference.FamiliarString(reference.TagNameOnly(ref))
		if !seen[tag] {
			seen[tag] = true
			tags = append(tags, tag)
		}
	}
	return tags, nil
}

func decodeJSONParam(q url.Values, key string, v any) error {
	s := q.Get(key)
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return invalidParameter(fmt.Sprintf("invalid value for %q: %v", key, err))
	}
	return nil
}

// buildOutput turns the backend's plain-text progress into JSON stream
// messages. It sends the response headers with the first message, so that
// an early error can still become an HTTP status.
type buildOutput struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	began   bool
	lastErr error
}

func (b *buildOutput) started() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.began
}

// Write sends p as one {"stream": ...} message.
func (b *buildOutput) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := b.writeMessage(jsonstream.Message{Stream: string(p)}); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (b *buildOutput) writeMessage(m any) error {
	b.mu.Lock()
	defer b.mu.Unlock()

	if b.lastErr != nil {
		return b.lastErr
	}
	if !b.began {
		b.began = true
		b.w.Header().Set("Content-Type", "application/json")
		b.w.WriteHeader(http.StatusOK)
	}
	if err := writeStreamMessage(b.w, m); err != nil {
		b.lastErr = err
		return err
	}
	flush(b.w)
	return nil
}

// writeError sends err as the last message of the stream. An error with an
// exit code (a RUN command that failed) carries it as the code, as Docker's
// classic builder sends it, and the docker CLI exits with that code.
func (b *buildOutput) writeError(err error) error {
	detail := jsonstream.Error{Message: errorMessage(err)}
	var exit interface{ ExitCode() int }
	if errors.As(err, &exit) {
		detail.Code = exit.ExitCode()
	}
	return b.writeMessage(streamError{ErrorDetail: detail, Error: detail.Message})
}

// streamError is an error inside a JSON message stream. Docker Engine sends
// both fields: clients read errorDetail, older ones read error.
type streamError struct {
	ErrorDetail jsonstream.Error `json:"errorDetail"`
	Error       string           `json:"error"`
}

// writeStreamMessage writes one message of a JSON message stream. Docker
// Engine ends each message with "\r\n".
func writeStreamMessage(w io.Writer, m any) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\r', '\n'))
	return err
}
