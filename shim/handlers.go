package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/containerd/console"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/log"
)

// acceptLoop serves each connection in its own goroutine until the listener
// is closed.
func (s *supervisor) acceptLoop(ctx context.Context, listener *net.UnixListener) {
	for {
		conn, err := listener.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.FromContext(ctx).Error("accept shim connection", log.Err(err))
			}
			return
		}
		go s.handle(ctx, conn)
	}
}

// handle reads one request and writes the response. An attach connection
// stays open for the container's stdio, and every other connection is
// closed afterwards.
func (s *supervisor) handle(ctx context.Context, conn *net.UnixConn) {
	var req request
	if err := readMessage(conn, &req); err != nil {
		if !errors.Is(err, io.EOF) {
			log.FromContext(ctx).Warn("read shim request", log.Err(err))
		}
		conn.Close()
		return
	}

	if req.Op == opAttach {
		s.attach(ctx, conn, req)
		return
	}
	if req.Op == opExec {
		s.exec(ctx, conn, req)
		return
	}
	defer conn.Close()

	var resp response
	switch req.Op {
	case opState:
		resp = s.state()
	case opStart:
		resp = s.start(ctx)
	case opWait:
		resp = s.wait(ctx, conn)
	case opKill:
		resp = s.kill(syscall.Signal(req.Signal))
	case opResize:
		resp = s.resize(req.Height, req.Width)
	case opExecWait:
		resp = s.execWait(ctx, conn, req.ExecID)
	case opExecResize:
		resp = s.execResize(req.ExecID, req.Height, req.Width)
	default:
		resp = errorResponse(fmt.Errorf("unknown shim operation %q: %w", req.Op, errdefs.ErrNotImplemented))
	}
	if err := writeMessage(conn, resp); err != nil && !errors.Is(err, net.ErrClosed) {
		log.FromContext(ctx).Debug("write shim response", "op", req.Op, log.Err(err))
	}
}

func (s *supervisor) state() response {
	s.mu.Lock()
	defer s.mu.Unlock()

	status := statusCreated
	switch {
	case s.isFinished():
		status = statusExited
	case s.started:
		status = statusRunning
	}
	return response{Pid: s.pid, Status: status, Terminal: s.opts.Terminal}
}

// isFinished reports whether the exit was recorded. The caller holds s.mu.
func (s *supervisor) isFinished() bool {
	select {
	case <-s.finished:
		return true
	default:
		return false
	}
}

func (s *supervisor) start(ctx context.Context) response {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errorResponse(fmt.Errorf("container %s is already started: %w", s.opts.ID, errdefs.ErrConflict))
	}
	if s.exited {
		s.mu.Unlock()
		return errorResponse(fmt.Errorf("container %s has exited: %w", s.opts.ID, errdefs.ErrConflict))
	}
	s.started = true
	s.mu.Unlock()

	if err := s.runc.Start(context.WithoutCancel(ctx), s.opts.ID); err != nil {
		log.FromContext(ctx).Error("start container", log.Err(err))
		return errorResponse(err)
	}
	log.FromContext(ctx).Info("container started")
	return response{Pid: s.pid}
}

// wait returns the exit status once it is recorded, or an empty response
// when the client closes the connection first.
func (s *supervisor) wait(ctx context.Context, conn net.Conn) response {
	gone := make(chan struct{})
	go func() {
		// A waiting client sends nothing more, so any read result means
		// it closed the connection.
		var b [1]byte
		conn.Read(b[:])
		close(gone)
	}()

	select {
	case <-s.finished:
	case <-gone:
		return response{}
	case <-ctx.Done():
		return errorResponse(fmt.Errorf("shim stopped: %w", errdefs.ErrUnavailable))
	}

	s.mu.Lock()
	status := s.status
	s.mu.Unlock()
	return response{Exit: &status}
}

// kill signals the init process directly. The shim is its parent and marks
// it exited before reaping it, so the pid cannot belong to another process.
func (s *supervisor) kill(sig syscall.Signal) response {
	if sig <= 0 {
		return errorResponse(fmt.Errorf("invalid signal %d: %w", sig, errdefs.ErrInvalidArgument))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited {
		return errorResponse(fmt.Errorf("container %s is not running: %w", s.opts.ID, errdefs.ErrConflict))
	}
	if err := unix.Kill(s.pid, sig); err != nil {
		return errorResponse(fmt.Errorf("send signal %d to container %s: %w", sig, s.opts.ID, err))
	}
	return response{}
}

// resize sets the terminal size. Without a terminal there is nothing to
// resize, and like Docker the request succeeds.
func (s *supervisor) resize(height, width uint16) response {
	if s.console == nil {
		return response{}
	}
	if err := s.console.Resize(console.WinSize{Height: height, Width: width}); err != nil {
		return errorResponse(fmt.Errorf("resize terminal of container %s: %w", s.opts.ID, err))
	}
	return response{}
}

// attach registers conn for the selected output streams and copies what the
// client sends to the container's stdin.
func (s *supervisor) attach(ctx context.Context, conn *net.UnixConn, req request) {
	a := &attachment{conn: conn, stdout: req.Stdout, stderr: req.Stderr, framed: !s.opts.Terminal}

	// Hold the attachment's lock until the response is written, so that
	// no output frame precedes it.
	a.mu.Lock()
	if !s.out.add(a) {
		a.mu.Unlock()
		writeMessage(conn, errorResponse(fmt.Errorf("container %s has exited: %w", s.opts.ID, errdefs.ErrConflict)))
		conn.Close()
		return
	}
	err := writeMessage(conn, response{Pid: s.pid, Terminal: s.opts.Terminal})
	a.mu.Unlock()
	if err != nil {
		s.out.remove(a)
		conn.Close()
		return
	}

	if !req.Stdin {
		return
	}
	go s.copyStdin(ctx, conn)
}

// copyStdin forwards the client's input to the container until the client
// closes its write side. With StdinOnce that end closes the container's stdin
// (pipes only: a terminal has no separate end of input, and a client that
// detaches from a terminal leaves it open for the next attach, as Docker
// does).
func (s *supervisor) copyStdin(ctx context.Context, conn *net.UnixConn) {
	s.stdinMu.Lock()
	stdin := s.stdin
	once := s.opts.StdinOnce && !s.opts.Terminal && !s.stdinClaimed
	if once {
		s.stdinClaimed = true
	}
	s.stdinMu.Unlock()

	if stdin == nil {
		// Stdin is closed or was never open: drop the input.
		io.Copy(io.Discard, conn)
		return
	}

	_, err := io.Copy(stdin, conn)
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.EPIPE) {
		log.FromContext(ctx).Debug("copy attach stdin", log.Err(err))
	}
	if once {
		s.closeStdin()
	}
}
