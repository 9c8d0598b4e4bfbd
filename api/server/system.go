package server

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types"
	"github.com/moby/moby/api/types/events"

	"github.com/berth-engine/berth/api/version"
	"github.com/berth-engine/berth/internal/log"
)

func (s *Server) addSystemRoutes(rt *router) {
	rt.add(http.MethodGet, "/_ping", s.getPing)
	rt.add(http.MethodHead, "/_ping", s.getPing)
	rt.add(http.MethodGet, "/version", s.getVersion)
	rt.add(http.MethodGet, "/info", s.getInfo)
	rt.add(http.MethodGet, "/events", s.getEvents)
	rt.add(http.MethodGet, "/system/df", s.getSystemDF)
}

// getPing serves GET and HEAD /_ping. The moby client reads the API version,
// OS type, builder version and experimental flag from the headers.
// Builder-Version 1 makes the docker CLI use the classic builder (POST
// /build) rather than BuildKit.
func (s *Server) getPing(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	header := w.Header()
	header.Set("Builder-Version", "1")
	header.Set("Docker-Experimental", "false")
	header.Set("Swarm", "inactive")
	header.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	header.Set("Pragma", "no-cache")
	header.Set("Content-Type", "text/plain; charset=utf-8")

	if r.Method == http.MethodHead {
		header.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("OK"))
	return err
}

// getVersion serves GET /version. The API version fields come from the
// server, which is the authority on them, whatever the backend filled in.
func (s *Server) getVersion(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	v, err := s.backend.Version(r.Context())
	if err != nil {
		return err
	}
	v.APIVersion = version.Max().String()
	v.MinAPIVersion = version.Min().String()
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) getInfo(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	info, err := s.backend.Info(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, info)
}

// isEventFilter reports whether GET /events in Docker Engine accepts key as
// a filter.
func isEventFilter(key string) bool {
	switch key {
	case "config", "container", "daemon", "event", "image", "label", "network",
		"node", "plugin", "scope", "secret", "service", "type", "volume":
		return true
	default:
		return false
	}
}

// getEvents streams events as JSON, one object per line, flushing after
// each. The headers go out before the first event because the moby client
// waits for them before it returns from Events.
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	q := r.URL.Query()
	since, err := parseUnixTimestamp("since", q.Get("since"))
	if err != nil {
		return err
	}
	until, err := parseUnixTimestamp("until", q.Get("until"))
	if err != nil {
		return err
	}
	filters, err := parseFilters(q.Get("filters"))
	if err != nil {
		return err
	}
	for key := range filters {
		if !isEventFilter(key) {
			return invalidParameter(fmt.Sprintf("invalid filter '%s'", key))
		}
	}

	ctx, cancel := s.streamContext(r.Context())
	defer cancel()

	mediaType := negotiateEventsMediaType(r.Header.Values("Accept"))
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(http.StatusOK)
	flush(w)

	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	legacy := version.FromContext(r.Context()).Less(version.Version{Major: 1, Minor: 52})
	err = s.backend.Events(ctx, since, until, filters, func(m events.Message) error {
		if mediaType == types.MediaTypeJSONSequence {
			if _, err := w.Write([]byte{0x1e}); err != nil {
				return err
			}
		}
		var body any = m
		if legacy {
			body = withLegacyEventFields(m)
		}
		if err := enc.Encode(body); err != nil {
			return err
		}
		flush(w)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		log.FromContext(ctx).Error("event stream ended", log.Err(err))
	}
	return nil
}

// legacyEventMessage is an event as API versions before 1.52 send it, with
// the fields that API 1.22 deprecated (status, id, from) still filled in for
// container and image events. Clients such as older Dev Container CLIs read
// status.
type legacyEventMessage struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

func withLegacyEventFields(m events.Message) legacyEventMessage {
	out := legacyEventMessage{Message: m}
	switch m.Type {
	case events.ContainerEventType:
		out.Status = string(m.Action)
		out.ID = m.Actor.ID
		out.From = m.Actor.Attributes["image"]
	case events.ImageEventType:
		out.Status = string(m.Action)
		out.ID = m.Actor.ID
	}
	return out
}

// negotiateEventsMediaType picks the stream format from the Accept headers:
// JSON Lines, NDJSON and JSON carry the same bytes, a JSON text sequence
// (RFC 7464) prefixes each record with an ASCII record separator. The result
// is the supported type with the highest q value, application/json when none
// is named.
func negotiateEventsMediaType(accept []string) string {
	supported := map[string]bool{
		types.MediaTypeJSON: true, types.MediaTypeJSONLines: true,
		types.MediaTypeNDJSON: true, types.MediaTypeJSONSequence: true,
	}
	best, bestQ := types.MediaTypeJSON, -1.0
	for _, value := range accept {
		for _, item := range strings.Split(value, ",") {
			mediaType, params, err := mime.ParseMediaType(strings.TrimSpace(item))
			if err != nil || !supported[mediaType] {
				continue
			}
			q := 1.0
			if text, ok := params["q"]; ok {
				if parsed, err := strconv.ParseFloat(text, 64); err == nil {
					q = parsed
				}
			}
			if q > bestQ {
				best, bestQ = mediaType, q
			}
		}
	}
	return best
}

// addSwarmRoutes rejects every swarm endpoint with 503, as a Docker Engine
// that is not part of a swarm does.
func addSwarmRoutes(rt *router) {
	notManager := func(http.ResponseWriter, *http.Request, map[string]string) error {
		return errdefs.ErrUnavailable.WithMessage("This node is not a swarm manager. " +
			`Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)
	}
	for _, prefix := range []string{"/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs"} {
		rt.add("", prefix, notManager)
		rt.add("", prefix+"/{rest...}", notManager)
	}
}

// addUnimplementedRoutes rejects endpoints of the Engine API that berth does
// not serve yet with 501 and the name of the operation, so clients show a
// clear message rather than "page not found".
func addUnimplementedRoutes(rt *router) {
	unimplemented := []struct{ method, path, operation string }{
		{http.MethodGet, "/images/search", "searching registries"},
		{http.MethodPost, "/session", "BuildKit sessions"},
	}
	for _, u := range unimplemented {
		msg := u.operation + " is not implemented by berth"
		rt.add(u.method, u.path, func(http.ResponseWriter, *http.Request, map[string]string) error {
			return notImplemented(msg)
		})
	}
	// Every method and path under these areas, until they are served.
	for prefix, operation := range map[string]string{
		"/plugins": "plugins", "/distribution": "registry distribution lookups",
	} {
		// No such object exists, and `docker inspect NAME` moves on to the
		// next kind of object only after a not-found response. This route comes
		// first, because the router takes the first match.
		kind := strings.TrimSuffix(strings.TrimPrefix(prefix, "/"), "s")
		notFound := func(_ http.ResponseWriter, _ *http.Request, vars map[string]string) error {
			return fmt.Errorf("No such %s: %s: %w", kind, vars["name"], errdefs.ErrNotFound)
		}
		rt.add(http.MethodGet, prefix+"/{name}", notFound)
		rt.add(http.MethodGet, prefix+"/{name}/json", notFound)
		msg := operation + " are not implemented by berth"
		handler := func(http.ResponseWriter, *http.Request, map[string]string) error {
			return notImplemented(msg)
		}
		rt.add("", prefix, handler)
		rt.add("", prefix+"/{rest...}", handler)
	}
}
