package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
)

// handlerFunc serves one route. vars holds the path variables of the route's
// pattern. A returned error is sent with writeError, so a handler returns an
// error only while it has not written a response yet.
type handlerFunc func(w http.ResponseWriter, r *http.Request, vars map[string]string) error

// pattern matches a request path split into segments. A segment is a literal
// ("containers"), a variable matching one segment ("{id}"), or at most one
// variable matching one or more segments ("{name...}"). The multi-segment
// variable takes everything between the literal segments around it, which
// lets image names with slashes and registry ports
// ("localhost:5000/team/app:1.0") match "/images/{name...}/json".
type pattern struct {
	segments []string
	rest     int // index of the "{name...}" segment, -1 without one
}

func parsePattern(s string) pattern {
	p := pattern{segments: strings.Split(strings.TrimPrefix(s, "/"), "/"), rest: -1}
	for i, seg := range p.segments {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "...}") {
			if p.rest >= 0 {
				panic(fmt.Sprintf("route pattern %q has more than one multi-segment variable", s))
			}
			p.rest = i
		}
	}
	return p
}

// match returns the path variables when path matches p.
func (p pattern) match(path string) (map[string]string, bool) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if p.rest < 0 {
		if len(parts) != len(p.segments) {
			return nil, false
		}
		vars := map[string]string{}
		return vars, matchSegments(p.segments, parts, vars)
	}

	prefix, suffix := p.segments[:p.rest], p.segments[p.rest+1:]
	if len(parts) < len(prefix)+len(suffix)+1 {
		return nil, false
	}
	vars := map[string]string{}
	if !matchSegments(prefix, parts[:len(prefix)], vars) {
		return nil, false
	}
	if !matchSegments(suffix, parts[len(parts)-len(suffix):], vars) {
		return nil, false
	}

	value := strings.Join(parts[len(prefix):len(parts)-len(suffix)], "/")
	if value == "" {
		return nil, false
	}
	vars[strings.TrimSuffix(strings.TrimPrefix(p.segments[p.rest], "{"), "...}")] = value
	return vars, true
}

func matchSegments(segments, parts []string, vars map[string]string) bool {
	for i, seg := range segments {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if parts[i] == "" {
				return false
			}
			vars[seg[1:len(seg)-1]] = parts[i]
			continue
		}
		if seg != parts[i] {
			return false
		}
	}
	return true
}

type route struct {
	method  string // "" matches every method
	pattern pattern
	handle  handlerFunc
}

// router dispatches on method and path, trying routes in the order they were
// added, so literal routes such as "/images/json" go before variable ones.
type router struct {
	routes []route
}

func (rt *router) add(method, path string, h handlerFunc) {
	rt.routes = append(rt.routes, route{method: method, pattern: parsePattern(path), handle: h})
}

// lookup returns the handler for method and path. A path that matches only
// with another method is not found either, because Docker Engine returns 404
// in both cases.
func (rt *router) lookup(method, path string) (handlerFunc, map[string]string) {
	for _, r := range rt.routes {
		if r.method != "" && r.method != method {
			continue
		}
		if vars, ok := r.pattern.match(path); ok {
			return r.handle, vars
		}
	}
	return notFound, nil
}

func notFound(http.ResponseWriter, *http.Request, map[string]string) error {
	return errdefs.ErrNotFound.WithMessage("page not found")
}
