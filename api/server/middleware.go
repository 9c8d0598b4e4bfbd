package server

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth-engine/berth/api/version"
	"github.com/berth-engine/berth/internal/log"
)

// middleware wraps the router with, from the outside in: a request id in the
// logger of the request context, access logging at Debug level, panic
// recovery, and API version handling.
func (s *Server) middleware(rt *router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := log.With(r.Context(), log.KeyRequest, newRequestID())
		r = r.WithContext(ctx)
		rec := &responseRecorder{ResponseWriter: w}
		start := time.Now()

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler { //nolint:errorlint // net/http panics with this exact value
					panic(p)
				}
				log.FromContext(ctx).Error("api handler panicked",
					"method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if !rec.wroteHeader && !rec.hijacked {
					writeError(ctx, rec, errdefs.ErrInternal.WithMessage("internal server error"))
				}
			}
			log.FromContext(ctx).Debug("api request", "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "duration", time.Since(start))
		}()

		s.serveVersioned(rec, r, rt)
	})
}

// serveVersioned strips the "/vN.M" prefix from the path, rejects versions
// outside version.Min()..version.Max(), stores the version in the request
// context and dispatches to the route. Paths without a prefix use
// version.Max().
func (s *Server) serveVersioned(rec *responseRecorder, r *http.Request, rt *router) {
	ctx := r.Context()
	path := r.URL.Path
	v := version.Max()

	// Every response names the server and its newest API version, including
	// the rejection of an unsupported version.
	header := rec.Header()
	header.Set("Server", "Berth/"+s.serverVersion+" ("+runtime.GOOS+")")
	header.Set("Api-Version", version.Max().String())
	header.Set("Ostype", runtime.GOOS)

	if rest, ok := strings.CutPrefix(path, "/v"); ok {
		text, tail, _ := strings.Cut(rest, "/")
		if text != "" && strings.Trim(text, "0123456789.") == "" {
			parsed, err := version.Parse(text)
			if err != nil {
				writeError(ctx, rec, err)
				return
			}
			v = parsed
			path = "/" + tail
		}
	}
	if err := version.CheckSupported(v); err != nil {
		writeError(ctx, rec, err)
		return
	}

	r = r.WithContext(version.WithContext(ctx, v))
	handle, vars := rt.lookup(r.Method, path)
	err := handle(rec, r, vars)
	if err == nil {
		return
	}
	if rec.wroteHeader || rec.hijacked {
		log.FromContext(ctx).Error("api request failed after the response started",
			"method", r.Method, "path", r.URL.Path, log.Err(err))
		return
	}
	writeError(ctx, rec, err)
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// responseRecorder records the status of a response for the access log and
// for deciding whether an error can still be sent as an HTTP status.
type responseRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	hijacked    bool
}

func (r *responseRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status = code
		r.wroteHeader = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *responseRecorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.status = http.StatusOK
		r.wroteHeader = true
	}
	return r.ResponseWriter.Write(p)
}

// FlushError flushes the underlying writer; http.ResponseController uses it.
func (r *responseRecorder) FlushError() error {
	if !r.wroteHeader {
		r.status = http.StatusOK
		r.wroteHeader = true
	}
	return http.NewResponseController(r.ResponseWriter).Flush()
}

// Hijack takes over the connection; http.ResponseController uses it.
func (r *responseRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil {
		r.hijacked = true
		r.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// Unwrap returns the wrapped writer; http.ResponseController uses it.
func (r *responseRecorder) Unwrap() http.ResponseWriter {
	return r.ResponseWriter
}
