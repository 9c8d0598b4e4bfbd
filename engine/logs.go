package engine

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-engine/berth/api/server"
	"github.com/berth-engine/berth/logs"
)

// ContainerLogs reads the container's json-file log. With Follow it keeps
// reading until the container exits or the caller goes away.
func (e *Engine) ContainerLogs(ctx context.Context, ref string, opts server.LogsOptions, fn func(server.LogMessage) error) error {
	c, err := e.get(ref)
	if err != nil {
		return err
	}
	if !opts.Stdout && !opts.Stderr {
		return fmt.Errorf("you must choose at least one stream: %w", errdefs.ErrInvalidArgument)
	}

	stop := make(chan struct{})
	if opts.Follow && e.isRunning(c) {
		exited := e.exitChannel(c.ID)
		go func() {
			select {
			case <-exited:
			case <-ctx.Done():
			}
			close(stop)
		}()
	} else {
		close(stop)
	}

	ropts := logs.ReadOptions{
		Follow: opts.Follow,
		Tail:   opts.Tail,
		Since:  opts.Since,
		Until:  opts.Until,
		Stdout: opts.Stdout,
		Stderr: opts.Stderr,
	}
	return logs.Read(ctx, e.logPath(c.ID), ropts, stop, func(m logs.Message) error {
		return fn(server.LogMessage{Stream: m.Stream, Time: m.Time, Line: m.Line})
	})
}

// ContainerWait waits for the container to reach condition: not-running
// (the default), next-exit, or removed.
func (e *Engine) ContainerWait(ctx context.Context, ref string, condition container.WaitCondition) (<-chan container.WaitResponse, error) {
	c, err := e.get(ref)
	if err != nil {
		return nil, err
	}
	t := e.task(c.ID)
	e.mu.Lock()
	exited, removed := t.exit, t.removed
	e.mu.Unlock()

	result := make(chan container.WaitResponse, 1)
	respond := func() {
		// A failed start is reported by the start request itself, so the
		// wait carries only the exit code, as Docker's does.
		c.Lock()
		resp := container.WaitResponse{StatusCode: int64(c.State.ExitCode)}
		c.Unlock()
		result <- resp
		close(result)
	}

	var until <-chan struct{}
	switch condition {
	case "", container.WaitConditionNotRunning:
		if !e.isRunning(c) {
			respond()
			return result, nil
		}
		until = exited
	case container.WaitConditionNextExit:
		until = exited
	case container.WaitConditionRemoved:
		until = removed
	default:
		return nil, fmt.Errorf("invalid condition: %q: %w", condition, errdefs.ErrInvalidArgument)
	}

	go func() {
		select {
		case <-until:
			respond()
		case <-ctx.Done():
			close(result)
		}
	}()
	return result, nil
}
