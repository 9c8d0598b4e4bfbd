package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/errdefs"
	gorunc "github.com/containerd/go-runc"
	"github.com/moby/moby/api/pkg/stdcopy"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/runtime/runc"
)

// execProcess is a process started with runc exec in the container.
type execProcess struct {
	pid     int
	console console.Console // the pty master, nil without a terminal
	done    chan struct{}   // closed once status is set
	status  ExitStatus
}

// exec starts req.Process in the running container and streams its stdio
// over conn, framed like attach, until the process exited and its output
// ended. Then it closes conn, and opExecWait returns the exit status.
func (s *supervisor) exec(ctx context.Context, conn *net.UnixConn, req request) {
	p, stdin, outputs, err := s.startExec(ctx, req)
	if err != nil {
		log.FromContext(ctx).Info("exec failed", "exec", req.ExecID, log.Err(err))
		writeMessage(conn, errorResponse(err))
		conn.Close()
		return
	}
	a := &attachment{conn: conn, stdout: req.Stdout, stderr: req.Stderr, framed: p.console == nil}
	a.mu.Lock()
	err = writeMessage(conn, response{Pid: p.pid, Terminal: p.console != nil})
	if err != nil {
		// The client is gone, but the process keeps running. Its output
		// is still read, so it does not block on a full pipe.
		log.FromContext(ctx).Debug("write exec response", "exec", req.ExecID, log.Err(err))
		a.failed = true
	}
	a.mu.Unlock()

	var copying sync.WaitGroup
	for stream, r := range outputs {
		copying.Add(1)
		go func() {
			defer copying.Done()
			copyExecOutput(a, stream, r)
		}()
	}
	if stdin != nil {
		go func() {
			io.Copy(stdin, conn)
			if p.console == nil {
				stdin.Close()
			}
		}()
	} else {
		go io.Copy(io.Discard, conn)
	}

	go func() {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(p.pid, &ws, 0, nil)
			if err == nil || !errors.Is(err, unix.EINTR) {
				break
			}
		}
		drained := make(chan struct{})
		go func() {
			copying.Wait()
			close(drained)
		}()
		select {
		case <-drained:
		case <-time.After(drainTimeout):
			log.FromContext(ctx).Warn("exec output still open after the process exited", "exec", req.ExecID, "timeout", drainTimeout)
		}
		a.mu.Lock()
		conn.Close()
		a.mu.Unlock()
		if p.console != nil {
			p.console.Close()
		}
		status := exitStatusOf(ws)
		status.ExitedAt = time.Now().UTC()
		s.mu.Lock()
		p.status = status
		s.mu.Unlock()
		close(p.done)
	}()
}

// copyExecOutput sends one output stream of an exec process to a.
func copyExecOutput(a *attachment, stream stdcopy.StdType, r io.ReadCloser) {
	defer r.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			a.write(stream, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// startExec runs runc exec and registers the process. It returns the
// process's stdin (nil when not requested) and its output streams.
func (s *supervisor) startExec(ctx context.Context, req request) (*execProcess, io.WriteCloser, map[stdcopy.StdType]io.ReadCloser, error) {
	if req.ExecID == "" || req.Process == nil {
		return nil, nil, nil, fmt.Errorf("invalid exec request: missing exec id or process: %w", errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	running := s.started && !s.exited
	_, dup := s.execs[req.ExecID]
	s.mu.Unlock()
	if !running {
		return nil, nil, nil, fmt.Errorf("Container %s is not running: %w", s.opts.ID, errdefs.ErrConflict)
	}
	if dup {
		return nil, nil, nil, fmt.Errorf("exec %s already exists: %w", req.ExecID, errdefs.ErrConflict)
	}

	pidFile := filepath.Join(s.opts.StateDir, "exec-"+req.ExecID+".pid")
	defer os.Remove(pidFile)
	p := &execProcess{done: make(chan struct{})}
	var stdin io.WriteCloser
	outputs := map[stdcopy.StdType]io.ReadCloser{}

	if req.Process.Terminal {
		socket, err := gorunc.NewTempConsoleSocket()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("create console socket: %w", err)
		}
		defer socket.Close()
		type received struct {
			console console.Console
			err     error
		}
		masterC := make(chan received, 1)
		go func() {
			master, err := socket.ReceiveMaster()
			masterC <- received{master, err}
		}()
		err = s.runc.Exec(context.WithoutCancel(ctx), s.opts.ID, *req.Process, runc.ExecOptions{PidFile: pidFile, ConsoleSocket: socket.Path()})
		if err != nil {
			socket.Close()
			if r := <-masterC; r.console != nil {
				r.console.Close()
			}
			return nil, nil, nil, execError(s.opts.ID, err)
		}
		r := <-masterC
		if r.err != nil {
			return nil, nil, nil, fmt.Errorf("receive pty master: %w", r.err)
		}
		p.console = r.console
		outputs[stdcopy.Stdout] = io.NopCloser(r.console)
		if req.Stdin {
			stdin = r.console
		}
	} else {
		stdoutR, stdoutW, err := os.Pipe()
		if err != nil {
			return nil, nil, nil, err
		}
		stderrR, stderrW, err := os.Pipe()
		if err != nil {
			closeAll(stdoutR, stdoutW)
			return nil, nil, nil, err
		}
		var stdinR, stdinW *os.File
		if req.Stdin {
			if stdinR, stdinW, err = os.Pipe(); err != nil {
				closeAll(stdoutR, stdoutW, stderrR, stderrW)
				return nil, nil, nil, err
			}
		}
		err = s.runc.Exec(context.WithoutCancel(ctx), s.opts.ID, *req.Process,
			runc.ExecOptions{IO: runc.IO{Stdin: stdinR, Stdout: stdoutW, Stderr: stderrW}, PidFile: pidFile})
		closeAll(stdoutW, stderrW, stdinR)
		if err != nil {
			closeAll(stdoutR, stderrR, stdinW)
			return nil, nil, nil, execError(s.opts.ID, err)
		}
		outputs[stdcopy.Stdout] = stdoutR
		outputs[stdcopy.Stderr] = stderrR
		if stdinW != nil {
			stdin = stdinW
		}
	}

	data, err := os.ReadFile(pidFile)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read exec pid: %w", err)
	}
	p.pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || p.pid <= 0 {
		return nil, nil, nil, fmt.Errorf("invalid exec pid %q in %s", data, pidFile)
	}

	s.mu.Lock()
	if s.execs == nil {
		s.execs = map[string]*execProcess{}
	}
	s.execs[req.ExecID] = p
	s.mu.Unlock()
	return p, stdin, outputs, nil
}

// execError turns a runc exec failure into a StartError with runc's
// message, from which the caller derives Docker's exit code.
func execError(id string, err error) error {
	var runcErr *runc.Error
	if errors.As(err, &runcErr) && runcErr.Message != "" {
		return &StartError{ID: id, Message: runcErr.Message}
	}
	return err
}

// execWait returns the exit status of an exec process once it exited, or an
// empty response when the client goes away first.
func (s *supervisor) execWait(ctx context.Context, conn net.Conn, id string) response {
	s.mu.Lock()
	p := s.execs[id]
	s.mu.Unlock()
	if p == nil {
		return errorResponse(fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound))
	}
	gone := make(chan struct{})
	go func() {
		// A waiting client sends nothing more, so any read result means
		// it closed the connection.
		var buf [1]byte
		conn.Read(buf[:])
		close(gone)
	}()
	select {
	case <-p.done:
	case <-gone:
		return response{}
	case <-ctx.Done():
		return errorResponse(fmt.Errorf("shim stopped: %w", errdefs.ErrUnavailable))
	}
	// The daemon waits for each exec once, so the record goes with this
	// response. Without that, health check probes, one exec each, would
	// grow the map for as long as the container runs.
	s.mu.Lock()
	status := p.status
	delete(s.execs, id)
	s.mu.Unlock()
	return response{Exit: &status}
}

// execResize sets the terminal size of an exec process.
func (s *supervisor) execResize(id string, height, width uint16) response {
	s.mu.Lock()
	p := s.execs[id]
	s.mu.Unlock()
	if p == nil {
		return errorResponse(fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound))
	}
	select {
	case <-p.done:
		return response{}
	default:
	}
	if p.console == nil {
		return response{}
	}
	if err := p.console.Resize(console.WinSize{Height: height, Width: width}); err != nil && !errors.Is(err, syscall.EBADF) {
		return errorResponse(fmt.Errorf("resize terminal of exec %s: %w", id, err))
	}
	return response{}
}
