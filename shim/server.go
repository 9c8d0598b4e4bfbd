package shim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/atomicfile"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/logs"
	"github.com/berth-engine/berth/runtime/runc"
)

// lingerTime is how long the shim keeps serving after the container exited,
// so that clients connecting late still get the exit status from Wait.
// Afterwards they read it from exit.json.
const lingerTime = 2 * time.Second

// drainTimeout bounds the wait for the output pipes to close after the init
// process exited. Every process of the container dies with its init in the
// container's PID namespace, so only a process outside the container holding
// the pipes could make this wait expire.
const drainTimeout = 10 * time.Second

// Main runs a shim with the command line args of `berth shim` (flags only,
// without the subcommand name). It returns once the container has exited and
// the shim has lingered, or when ctx is done, in which case the container
// keeps running without a shim.
func Main(ctx context.Context, args []string) error {
	opts, readyFD, optionsFD, err := parseFlags(args)
	if err != nil {
		return err
	}
	if optionsFD >= 0 {
		if opts, err = readWarmOptions(optionsFD); err != nil {
			return err
		}
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx = log.WithLogger(ctx, logger.With(log.KeyContainer, opts.ID))

	var ready *os.File
	if readyFD >= 0 {
		ready = os.NewFile(uintptr(readyFD), "ready")
	}
	return serve(ctx, opts, ready)
}

// parseFlags reads the flags Launch passes. A shim started ahead of time by
// a Launcher has only --ready-fd and --options-fd, and reads its Options
// from the options pipe.
func parseFlags(args []string) (Options, int, int, error) {
	var opts Options
	fs := flag.NewFlagSet("shim", flag.ContinueOnError)
	fs.StringVar(&opts.ID, "id", "", "container id")
	fs.StringVar(&opts.Bundle, "bundle", "", "OCI bundle directory")
	fs.StringVar(&opts.StateDir, "state-dir", "", "directory for the socket, pid, exit and log files")
	fs.StringVar(&opts.LogPath, "log-path", "", "json-file log of the container output")
	fs.StringVar(&opts.RuncRoot, "runc-root", "", "runc --root directory")
	fs.StringVar(&opts.RuncBinary, "runc-binary", "", "runc executable (default runc from PATH)")
	fs.BoolVar(&opts.Terminal, "terminal", false, "run the process on a pseudo terminal")
	fs.BoolVar(&opts.OpenStdin, "open-stdin", false, "keep stdin open for attach clients")
	fs.BoolVar(&opts.StdinOnce, "stdin-once", false, "close stdin when the first attach client ends its input")
	readyFD := fs.Int("ready-fd", -1, "file descriptor that receives the create result")
	optionsFD := fs.Int("options-fd", -1, "file descriptor to read the options from, instead of flags")
	if err := fs.Parse(args); err != nil {
		return Options{}, 0, 0, err
	}
	if *optionsFD >= 0 {
		return Options{}, *readyFD, *optionsFD, nil
	}

	for name, value := range map[string]string{
		"--id": opts.ID, "--bundle": opts.Bundle, "--state-dir": opts.StateDir, "--log-path": opts.LogPath,
	} {
		if value == "" {
			return Options{}, 0, 0, fmt.Errorf("shim: missing %s: %w", name, errdefs.ErrInvalidArgument)
		}
	}
	return opts, *readyFD, -1, nil
}

// createResult is the shim's report to Launch on the ready pipe.
type createResult struct {
	Pid int `json:"pid,omitempty"`
	// Error is set when the container could not be created. RuncMessage
	// is runc's own error line when runc create failed.
	Error       string `json:"error,omitempty"`
	RuncMessage string `json:"runcMessage,omitempty"`
}

// supervisor is the running shim.
type supervisor struct {
	opts Options
	runc *runc.Runc

	pid        int
	socketInfo os.FileInfo     // identifies the socket file this shim created
	console    console.Console // the pty master with Terminal
	out        *output
	copying    sync.WaitGroup // output copies still running

	stdinMu      sync.Mutex
	stdin        io.WriteCloser // nil without OpenStdin, or once closed
	stdinClaimed bool           // a StdinOnce client took stdin

	mu       sync.Mutex
	started  bool
	exited   bool // the init process is a zombie or reaped, so kill must not signal its pid
	status   ExitStatus
	finished chan struct{} // closed once status is final and runc delete ran

	execs map[string]*execProcess // guarded by mu
}

// serve creates the container, reports to ready and supervises the
// container until it exits.
func serve(ctx context.Context, opts Options, ready *os.File) error {
	s := &supervisor{
		opts: opts,
		runc: runc.New(runc.Config{
			Binary:  opts.RuncBinary,
			Root:    opts.RuncRoot,
			LogPath: filepath.Join(opts.StateDir, RuncLogFile),
		}),
		finished: make(chan struct{}),
	}

	listener, err := s.setup(ctx)
	if err != nil {
		report(ctx, ready, createResultFor(err))
		return err
	}
	report(ctx, ready, createResult{Pid: s.pid})
	log.FromContext(ctx).Info("container created", "pid", s.pid)
	debug.FreeOSMemory()

	go s.acceptLoop(ctx, listener)
	reaped := make(chan unix.WaitStatus, 1)
	reapErr := make(chan error, 1)
	go func() {
		status, err := s.reap()
		if err != nil {
			reapErr <- err
			return
		}
		reaped <- status
	}()

	select {
	case <-ctx.Done():
		log.FromContext(ctx).Warn("shim stopped before the container exited", log.Err(ctx.Err()))
		s.cleanupFiles(listener)
		return ctx.Err()
	case status := <-reaped:
		s.finish(ctx, exitStatusOf(status), "")
	case err := <-reapErr:
		log.FromContext(ctx).Error("wait for container process", log.Err(err))
		s.finish(ctx, ExitStatus{ExitCode: 255}, "wait for container process: "+err.Error())
	}

	select {
	case <-ctx.Done():
	case <-time.After(lingerTime):
	}
	s.cleanupFiles(listener)
	return nil
}

// setup writes the pid file, becomes a subreaper, creates the container and
// listens on the socket. On failure nothing of the container is left.
func (s *supervisor) setup(ctx context.Context) (*net.UnixListener, error) {
	if err := os.MkdirAll(s.opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	pidPath := filepath.Join(s.opts.StateDir, PidFile)
	if err := atomicfile.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, fmt.Errorf("write shim pid file: %w", err)
	}

	// The container's init process is a child of runc create, which exits
	// right away. As subreaper the shim inherits it and can wait for it.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		os.Remove(pidPath)
		return nil, fmt.Errorf("become child subreaper: %w", err)
	}

	logWriter, err := logs.NewWriter(s.opts.LogPath)
	if err != nil {
		os.Remove(pidPath)
		return nil, err
	}
	s.out = newOutput(logWriter)

	if err := s.create(ctx); err != nil {
		logWriter.Close()
		os.Remove(pidPath)
		return nil, err
	}

	socketPath := filepath.Join(s.opts.StateDir, SocketFile)
	listener, err := listen(socketPath)
	if err == nil {
		s.socketInfo, err = os.Stat(socketPath)
		if err != nil {
			listener.Close()
		}
	}
	if err != nil {
		s.abort(ctx)
		logWriter.Close()
		os.Remove(pidPath)
		return nil, err
	}
	return listener, nil
}

// abort removes a created container after a later setup step failed.
func (s *supervisor) abort(ctx context.Context) {
	if err := s.runc.Delete(context.WithoutCancel(ctx), s.opts.ID, true); err != nil {
		log.FromContext(ctx).Error("remove container after failed setup", log.Err(err))
	}
}

// listen serves on path, replacing a socket a previous shim left behind.
func listen(path string) (*net.UnixListener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	var listener *net.UnixListener
	err := withShortPath(path, func(p string) error {
		var err error
		listener, err = net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// The shim removes the file itself when it exits.
	listener.SetUnlinkOnClose(false)
	return listener, nil
}

// createResultFor describes a setup failure for Launch.
func createResultFor(err error) createResult {
	result := createResult{Error: err.Error()}
	var runcErr *runc.Error
	if errors.As(err, &runcErr) && runcErr.Op == "create" {
		result.RuncMessage = runcErr.Message
	}
	return result
}

// report writes the create result to Launch and closes the pipe.
func report(ctx context.Context, ready *os.File, result createResult) {
	if ready == nil {
		return
	}
	defer ready.Close()
	if err := writeMessage(ready, result); err != nil {
		log.FromContext(ctx).Warn("report create result", log.Err(err))
	}
}

// exitStatusOf turns a wait status into Docker's exit code.
func exitStatusOf(ws unix.WaitStatus) ExitStatus {
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	return ExitStatus{ExitCode: code}
}

// reap waits for the init process to exit. It first waits without reaping
// and marks the process as exited, so that kill never signals a pid the
// kernel may have reused, then reaps it.
func (s *supervisor) reap() (unix.WaitStatus, error) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, s.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINTR) {
			return 0, err
		}
	}

	s.mu.Lock()
	s.exited = true
	s.mu.Unlock()

	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(s.pid, &ws, 0, nil)
		if err == nil {
			return ws, nil
		}
		if !errors.Is(err, unix.EINTR) {
			return 0, err
		}
	}
}

// finish records the exit: it waits for the remaining output, checks for an
// OOM kill, writes exit.json and runs runc delete. Then it sends the status
// to waiting clients and ends the attach streams.
func (s *supervisor) finish(ctx context.Context, status ExitStatus, failure string) {
	status.ExitedAt = time.Now().UTC()
	status.Error = failure
	logger := log.FromContext(ctx)

	s.mu.Lock()
	s.exited = true
	s.mu.Unlock()

	drained := make(chan struct{})
	go func() {
		s.copying.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(drainTimeout):
		logger.Warn("container output still open after the process exited", "timeout", drainTimeout)
	}
	if err := s.out.log.Close(); err != nil {
		logger.Error("close container log", log.Err(err))
	}
	s.closeStdin()
	if s.console != nil {
		s.console.Close()
	}

	status.OOMKilled = s.oomKilled(ctx)
	exitPath := filepath.Join(s.opts.StateDir, ExitFile)
	if err := atomicfile.WriteJSON(exitPath, status, 0o600); err != nil {
		logger.Error("write exit status", log.Err(err))
	}

	deleteCtx := context.WithoutCancel(ctx)
	if err := s.runc.Delete(deleteCtx, s.opts.ID, false); err != nil {
		logger.Warn("delete container, retrying with force", log.Err(err))
		if err := s.runc.Delete(deleteCtx, s.opts.ID, true); err != nil && !runc.IsNotFound(err) {
			logger.Error("delete container", log.Err(err))
		}
	}
	logger.Info("container exited", "exit_code", status.ExitCode, "oom_killed", status.OOMKilled)

	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
	close(s.finished)
	s.out.close()
}

// cleanupFiles stops serving and removes the socket and pid files, unless a
// newer shim for the same state directory (a restarted container) has
// replaced them meanwhile.
func (s *supervisor) cleanupFiles(listener *net.UnixListener) {
	listener.Close()

	socketPath := filepath.Join(s.opts.StateDir, SocketFile)
	if info, err := os.Stat(socketPath); err == nil && os.SameFile(info, s.socketInfo) {
		os.Remove(socketPath)
	}
	pidPath := filepath.Join(s.opts.StateDir, PidFile)
	if data, err := os.ReadFile(pidPath); err == nil && string(data) == strconv.Itoa(os.Getpid()) {
		os.Remove(pidPath)
	}
}

// closeStdin closes the container's stdin pipe, once.
func (s *supervisor) closeStdin() {
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	if s.stdin != nil && !s.opts.Terminal {
		s.stdin.Close()
	}
	s.stdin = nil
}

// copyOutput starts copying one output stream. closer, if not nil, is
// closed when the stream ended.
func (s *supervisor) copyOutput(ctx context.Context, stream stdcopy.StdType, r io.Reader, closer io.Closer) {
	s.copying.Add(1)
	go func() {
		defer s.copying.Done()
		s.out.copy(ctx, stream, r)
		if closer != nil {
			closer.Close()
		}
	}()
}
