package shim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/console"
	gorunc "github.com/containerd/go-runc"
	"github.com/moby/moby/api/pkg/stdcopy"

	"github.com/berth-engine/berth/runtime/runc"
)

// create runs runc create with the container's stdio: pipes without a
// terminal, a pty received on a console socket with one. Output copying
// starts only after runc create succeeded, so runc's own error text, which
// it also prints to the container's stderr, never reaches the log.
func (s *supervisor) create(ctx context.Context) error {
	if s.opts.Terminal {
		return s.createWithTerminal(ctx)
	}
	return s.createWithPipes(ctx)
}

func (s *supervisor) createWithPipes(ctx context.Context) error {
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create stdout pipe: %w", err)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		closeAll(stdoutR, stdoutW)
		return fmt.Errorf("create stderr pipe: %w", err)
	}
	var stdinR, stdinW *os.File
	if s.opts.OpenStdin {
		stdinR, stdinW, err = os.Pipe()
		if err != nil {
			closeAll(stdoutR, stdoutW, stderrR, stderrW)
			return fmt.Errorf("create stdin pipe: %w", err)
		}
	}

	err = s.runcCreate(ctx, runc.CreateOptions{IO: runc.IO{Stdin: stdinR, Stdout: stdoutW, Stderr: stderrW}})
	// The container holds its own copies now. Closing the shim's write
	// ends lets the reads end once the container's processes are gone.
	closeAll(stdoutW, stderrW, stdinR)
	if err != nil {
		closeAll(stdoutR, stderrR, stdinW)
		return err
	}

	if stdinW != nil {
		s.stdin = stdinW
	}
	s.copyOutput(ctx, stdcopy.Stdout, stdoutR, stdoutR)
	s.copyOutput(ctx, stdcopy.Stderr, stderrR, stderrR)
	return nil
}

func (s *supervisor) createWithTerminal(ctx context.Context) error {
	socket, err := gorunc.NewTempConsoleSocket()
	if err != nil {
		return fmt.Errorf("create console socket: %w", err)
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

	if err := s.runcCreate(ctx, runc.CreateOptions{ConsoleSocket: socket.Path()}); err != nil {
		// Closing the socket ends ReceiveMaster.
		socket.Close()
		if r := <-masterC; r.console != nil {
			r.console.Close()
		}
		return err
	}

	r := <-masterC
	if r.err != nil {
		s.abort(ctx)
		return fmt.Errorf("receive pty master: %w", r.err)
	}
	s.console = r.console
	if s.opts.OpenStdin {
		s.stdin = r.console
	}
	// The console is closed in finish, after the copy and every stdin writer
	// are done with it.
	s.copyOutput(ctx, stdcopy.Stdout, r.console, nil)
	return nil
}

// runcCreate runs runc create and reads the init pid it wrote.
func (s *supervisor) runcCreate(ctx context.Context, opts runc.CreateOptions) error {
	pidPath := filepath.Join(s.opts.StateDir, InitPidFile)
	opts.PidFile = pidPath
	// runc create must finish even when ctx is cancelled meanwhile:
	// a half-created container is harder to clean up than a whole one.
	if err := s.runc.Create(context.WithoutCancel(ctx), s.opts.ID, s.opts.Bundle, opts); err != nil {
		return err
	}

	data, err := os.ReadFile(pidPath)
	if err != nil {
		s.abort(ctx)
		return fmt.Errorf("read init pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		s.abort(ctx)
		return fmt.Errorf("invalid init pid %q in %s", data, pidPath)
	}
	s.pid = pid
	return nil
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}
