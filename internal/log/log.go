// Package log carries a structured logger in a context.
//
// Packages below the daemon never build or configure loggers: they log through
// FromContext, and each boundary (API request, container, image pull) adds its
// attributes with With. Attribute keys are fixed and snake_case; use the Key
// constants so that every log line names the same object the same way.
package log

import (
	"context"
	"log/slog"
)

// Attribute keys shared by every package.
const (
	KeyContainer = "container"
	KeyImage     = "image"
	KeyDigest    = "digest"
	KeySnapshot  = "snapshot"
	KeyNetwork   = "network"
	KeyVolume    = "volume"
	KeyExec      = "exec"
	KeyRequest   = "request"
	KeyErr       = "err"
)

type loggerKey struct{}

// FromContext returns the logger stored in ctx, or slog.Default when there is none.
func FromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// WithLogger stores l in a new context derived from ctx.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// With adds attributes to the logger in ctx and returns the new context.
func With(ctx context.Context, args ...any) context.Context {
	return WithLogger(ctx, FromContext(ctx).With(args...))
}

// Err is the attribute for an error.
func Err(err error) slog.Attr {
	return slog.Any(KeyErr, err)
}
