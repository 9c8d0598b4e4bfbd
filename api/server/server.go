// Package server serves the Docker Engine API over HTTP.
//
// The wire format is the one of Docker Engine API v1.57 (types from
// github.com/moby/moby/api), so the moby Go client and the docker CLI work
// against it. Handlers decode requests, call the Backend and encode its
// results. Errors carry github.com/containerd/errdefs kinds, which decide the
// HTTP status in one place (statusFromError).
package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/berth-engine/berth/internal/log"
)

// Server is the Engine API HTTP server.
type Server struct {
	backend         Backend
	serverVersion   string
	shutdownTimeout time.Duration
	handler         http.Handler

	// closing is cancelled when Serve shuts down. Long-lived streams (events,
	// followed logs, wait, attach) end with it, because http.Server.Shutdown
	// waits for handlers that would otherwise never return.
	closing     context.Context
	stopStreams context.CancelFunc

	// hijacked counts attach handlers that own their connection, which
	// http.Server.Shutdown no longer tracks.
	hijacked sync.WaitGroup
}

// Option configures a Server.
type Option func(*Server)

// WithServerVersion sets the daemon version sent in the Server header
// ("Berth/<version> (linux)"). The default is "dev".
func WithServerVersion(v string) Option {
	return func(s *Server) { s.serverVersion = v }
}

// WithShutdownTimeout sets how long Serve waits for requests in flight after
// its context is cancelled before closing their connections. The default is
// 10 seconds.
func WithShutdownTimeout(d time.Duration) Option {
	return func(s *Server) { s.shutdownTimeout = d }
}

// New returns a server for backend.
func New(backend Backend, opts ...Option) *Server {
	s := &Server{
		backend:         backend,
		serverVersion:   "dev",
		shutdownTimeout: 10 * time.Second,
	}
	for _, opt := range opts {
		opt(s)
	}
	s.closing, s.stopStreams = context.WithCancel(context.Background())

	rt := &router{}
	s.addRoutes(rt)
	s.handler = s.middleware(rt)
	return s
}

// Handler returns the HTTP handler serving the API.
func (s *Server) Handler() http.Handler {
	return s.handler
}

// Serve accepts connections on l until ctx is cancelled, then shuts down
// gracefully: it stops accepting, ends long-lived streams, waits up to the
// shutdown timeout for the other requests and closes what remains. Request
// contexts inherit the values (such as the logger) of ctx, not its
// cancellation. Serve returns nil after a shutdown caused by ctx.
//
// NOTE: the shutdown ends the streams of every Serve call on the same
// Server, and streams opened later end at once. Run all listeners of one
// daemon with the same ctx and do not Serve again after a shutdown.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ReadHeaderTimeout: time.Minute,
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	logger := log.FromContext(ctx)
	logger.Info("api server shutting down", "addr", l.Addr().String())
	s.stopStreams()

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("api server shutdown timed out, closing connections", log.Err(err))
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}

	s.waitHijacked(shutdownCtx)
	return nil
}

func (s *Server) waitHijacked(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		s.hijacked.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		log.FromContext(ctx).Warn("attach streams still open after shutdown timeout")
	}
}

// streamContext returns a context for a long-lived stream: it ends with the
// request or when Serve shuts down, whichever comes first.
func (s *Server) streamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closing, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

func (s *Server) addRoutes(rt *router) {
	s.addSystemRoutes(rt)
	s.addContainerRoutes(rt)
	s.addExecRoutes(rt)
	s.addArchiveRoutes(rt)
	s.addImageRoutes(rt)
	s.addImageArchiveRoutes(rt)
	s.addRegistryRoutes(rt)
	s.addNetworkRoutes(rt)
	s.addVolumeRoutes(rt)
	rt.add(http.MethodPost, "/build", s.postBuild)
	rt.add(http.MethodPost, "/build/prune", s.postBuildPrune)
	addSwarmRoutes(rt)
	addUnimplementedRoutes(rt)
}
