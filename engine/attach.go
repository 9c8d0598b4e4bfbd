package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"

	"github.com/berth-engine/berth/api/server"
	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/detachkeys"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/logs"
	"github.com/berth-engine/berth/shim"
)

// errDetached ends an attach session whose client typed the detach keys.
var errDetached = errors.New("detached from container")

// pendingAttach is an attach request that arrived before the container
// started. Start fills conn (or err) and closes ready.
type pendingAttach struct {
	opts  server.AttachOptions
	ready chan struct{}
	conn  net.Conn
	err   error
}

// ContainerTTY reports whether the container has a terminal.
func (e *Engine) ContainerTTY(ctx context.Context, ref string) (bool, error) {
	c, err := e.get(ref)
	if err != nil {
		return false, err
	}
	c.Lock()
	defer c.Unlock()
	return c.Config.Tty, nil
}

// ContainerAttach connects the caller's streams to the container's. On a
// container that has not started yet it waits for the start, so that the
// caller sees the output from the first byte.
func (e *Engine) ContainerAttach(ctx context.Context, ref string, opts server.AttachOptions) error {
	c, err := e.get(ref)
	if err != nil {
		return err
	}
	keys, err := detachkeys.Parse(opts.DetachKeys)
	if err != nil {
		return err
	}

	c.Lock()
	tty := c.Config.Tty
	c.Unlock()

	if opts.Logs {
		if err := e.replayLogs(ctx, c, opts, tty); err != nil {
			return err
		}
	}
	if !opts.Stream {
		return nil
	}

	conn, err := e.attachConn(ctx, c, opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	return pump(ctx, conn, opts, tty, keys)
}

// attachConn returns a shim attach connection, waiting for the container to
// start when it has not yet.
func (e *Engine) attachConn(ctx context.Context, c *ctr.Container, opts server.AttachOptions) (net.Conn, error) {
	t := e.task(c.ID)
	client, pending := e.queueAttach(t, opts)
	if client != nil {
		return client.Attach(ctx, opts.UseStdin, opts.UseStdout, opts.UseStderr)
	}

	select {
	case <-pending.ready:
		return pending.conn, pending.err
	case <-ctx.Done():
		e.mu.Lock()
		for i, p := range t.attachers {
			if p == pending {
				t.attachers = append(t.attachers[:i], t.attachers[i+1:]...)
				break
			}
		}
		e.mu.Unlock()
		// Start may have connected it in the meantime.
		select {
		case <-pending.ready:
			if pending.conn != nil {
				pending.conn.Close()
			}
		default:
		}
		return nil, ctx.Err()
	}
}

// queueAttach returns the shim of a running container, or queues an attach
// request that the next start connects.
func (e *Engine) queueAttach(t *task, opts server.AttachOptions) (*shim.Client, *pendingAttach) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.shim != nil {
		return t.shim, nil
	}
	pending := &pendingAttach{opts: opts, ready: make(chan struct{})}
	t.attachers = append(t.attachers, pending)
	return nil, pending
}

// connectAttachers hands every waiting attach request its shim connection.
// Start calls it after the shim created the process and before the process
// runs.
func (e *Engine) connectAttachers(ctx context.Context, c *ctr.Container, client *shim.Client) {
	t := e.task(c.ID)
	e.mu.Lock()
	waiting := t.attachers
	t.attachers = nil
	e.mu.Unlock()

	for _, p := range waiting {
		p.conn, p.err = client.Attach(ctx, p.opts.UseStdin, p.opts.UseStdout, p.opts.UseStderr)
		close(p.ready)
	}
}

// failAttachers ends every waiting attach request with err.
func (e *Engine) failAttachers(id string, err error) {
	t := e.task(id)
	e.mu.Lock()
	waiting := t.attachers
	t.attachers = nil
	e.mu.Unlock()

	for _, p := range waiting {
		p.err = err
		close(p.ready)
	}
}

// pump copies between a shim attach connection and the caller until the
// output ends or the caller detaches.
func pump(ctx context.Context, conn net.Conn, opts server.AttachOptions, tty bool, keys []byte) error {
	stdinDone := make(chan error, 1)
	if opts.UseStdin && opts.Stdin != nil {
		go func() {
			err := copyStdin(conn, opts.Stdin, keys, tty)
			if err == nil {
				if uc, ok := conn.(interface{ CloseWrite() error }); ok {
					uc.CloseWrite()
				}
			}
			stdinDone <- err
		}()
	}

	outputDone := make(chan error, 1)
	go func() {
		stdout, stderr := opts.Stdout, opts.Stderr
		if stdout == nil || !opts.UseStdout {
			stdout = io.Discard
		}
		if stderr == nil || !opts.UseStderr {
			stderr = io.Discard
		}
		var err error
		if tty {
			_, err = io.Copy(stdout, conn)
		} else {
			_, err = stdcopy.StdCopy(stdout, stderr, conn)
		}
		outputDone <- err
	}()

	for {
		select {
		case err := <-outputDone:
			if err != nil && !errors.Is(err, net.ErrClosed) {
				log.FromContext(ctx).Debug("attach output ended", log.Err(err))
			}
			return nil
		case err := <-stdinDone:
			if errors.Is(err, errDetached) {
				return nil
			}
			stdinDone = nil
		case <-ctx.Done():
			return nil
		}
	}
}

// copyStdin forwards the caller's input, watching for the detach keys. It
// returns nil at the end of the input and errDetached when the keys are read.
func copyStdin(dst io.Writer, src io.Reader, keys []byte, tty bool) error {
	buf := make([]byte, 32*1024)
	matched := 0
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if tty && len(keys) > 0 {
				var out []byte
				for _, b := range chunk {
					if b == keys[matched] {
						matched++
						if matched == len(keys) {
							return errDetached
						}
						continue
					}
					if matched > 0 {
						out = append(out, keys[:matched]...)
						matched = 0
					}
					out = append(out, b)
				}
				chunk = out
			}
			if _, werr := dst.Write(chunk); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// replayLogs writes what the container logged so far, for attach with logs=1.
func (e *Engine) replayLogs(ctx context.Context, c *ctr.Container, opts server.AttachOptions, tty bool) error {
	done := make(chan struct{})
	close(done)
	return logs.Read(ctx, e.logPath(c.ID), logs.ReadOptions{Tail: -1, Stdout: opts.UseStdout, Stderr: opts.UseStderr}, done,
		func(m logs.Message) error {
			w := opts.Stdout
			if m.Stream == "stderr" {
				w = opts.Stderr
			}
			if w == nil {
				return nil
			}
			_, err := w.Write(m.Line)
			return err
		})
}

// ContainerResize changes the size of the container's terminal.
func (e *Engine) ContainerResize(ctx context.Context, ref string, height, width uint) error {
	c, err := e.get(ref)
	if err != nil {
		return err
	}
	client := e.shimOf(c.ID)
	if client == nil {
		return fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	if err := client.Resize(ctx, uint16(height), uint16(width)); err != nil {
		// The terminal goes away with the process: a resize that races the
		// exit is a request for a container that no longer runs.
		return fmt.Errorf("container %s is not running (resize terminal: %v): %w", c.ID, err, errdefs.ErrConflict)
	}
	return nil
}
