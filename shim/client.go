package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/runtime/runc"
)

// Client talks to one container's shim. Each call opens its own connection,
// so a Client stays usable across shim connection failures and is safe for
// concurrent use.
type Client struct {
	id       string
	stateDir string
	socket   string
	pid      int
	terminal bool
}

// Launch starts a shim for opts and waits until runc create finished: the
// container's process exists but has not executed its command yet (Start
// does that). The shim runs as `<ShimBinary> shim ...` in a new session with
// its stdin on /dev/null and its stdout and stderr in StateDir/shim.log, so
// it does not depend on the caller. A runc create failure returns a
// *StartError with runc's message, from which ExitCodeForStartError derives
// Docker's exit code.
//
// A stale exit.json in StateDir is removed first. When ctx ends before the
// shim reported, Launch kills the shim and force-deletes the container.
func Launch(ctx context.Context, opts Options) (*Client, error) {
	return launch(ctx, opts, func() (*exec.Cmd, *os.File, error) { return startShim(opts) })
}

// launch waits for the create result of the shim that start starts (or
// hands opts to) and returns its client.
func launch(ctx context.Context, opts Options, start func() (*exec.Cmd, *os.File, error)) (*Client, error) {
	if err := validateOptions(opts); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create shim state directory: %w", err)
	}
	if err := os.Remove(filepath.Join(opts.StateDir, ExitFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove previous exit status: %w", err)
	}

	cmd, readyR, err := start()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()

	type reported struct {
		result createResult
		err    error
	}
	reportC := make(chan reported, 1)
	go func() {
		var result createResult
		err := readMessage(readyR, &result)
		reportC <- reported{result, err}
	}()

	var r reported
	select {
	case r = <-reportC:
	case <-ctx.Done():
		cmd.Process.Kill()
		cmd.Wait()
		cleanupAfterCancel(opts)
		return nil, fmt.Errorf("launch shim for container %s: %w", opts.ID, ctx.Err())
	}

	if r.err != nil || r.result.Error != "" {
		// The shim exits after reporting a failure; reap it.
		cmd.Wait()
		return nil, launchError(opts, r.result, r.err)
	}
	// The shim keeps running after Launch returns. Reap it when it exits
	// while this process still lives.
	go cmd.Wait()

	log.FromContext(ctx).Debug("shim launched", "shim_pid", cmd.Process.Pid, "pid", r.result.Pid)
	return &Client{
		id:       opts.ID,
		stateDir: opts.StateDir,
		socket:   filepath.Join(opts.StateDir, SocketFile),
		pid:      r.result.Pid,
		terminal: opts.Terminal,
	}, nil
}

func validateOptions(opts Options) error {
	for name, value := range map[string]string{
		"ID": opts.ID, "Bundle": opts.Bundle, "StateDir": opts.StateDir, "LogPath": opts.LogPath,
	} {
		if value == "" {
			return fmt.Errorf("launch shim: missing %s: %w", name, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// startShim starts the shim process with the ready pipe as fd 3.
func startShim(opts Options) (*exec.Cmd, *os.File, error) {
	binary := opts.ShimBinary
	if binary == "" {
		binary = DefaultShimBinary
	}
	args := []string{
		"shim",
		"--id", opts.ID,
		"--bundle", opts.Bundle,
		"--state-dir", opts.StateDir,
		"--log-path", opts.LogPath,
		"--runc-root", opts.RuncRoot,
		"--runc-binary", opts.RuncBinary,
		"--ready-fd", "3",
	}
	for flag, set := range map[string]bool{
		"--terminal": opts.Terminal, "--open-stdin": opts.OpenStdin, "--stdin-once": opts.StdinOnce,
	} {
		if set {
			args = append(args, flag)
		}
	}

	shimLog, err := os.OpenFile(filepath.Join(opts.StateDir, LogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open shim log: %w", err)
	}
	defer shimLog.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("create shim ready pipe: %w", err)
	}
	defer readyW.Close()

	cmd := exec.Command(binary, args...)
	cmd.Dir = "/"
	cmd.Stdout = shimLog
	cmd.Stderr = shimLog
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		readyR.Close()
		return nil, nil, fmt.Errorf("start shim %s: %w", binary, err)
	}
	return cmd, readyR, nil
}

// launchError builds the error for a failed launch. Without a report, the end
// of the shim's log usually explains why it died.
func launchError(opts Options, result createResult, readErr error) error {
	if result.RuncMessage != "" {
		return &StartError{ID: opts.ID, Message: result.RuncMessage}
	}
	if result.Error != "" {
		return fmt.Errorf("launch shim for container %s: %s", opts.ID, result.Error)
	}
	message := lastLines(filepath.Join(opts.StateDir, LogFile), 3)
	if message == "" {
		message = readErr.Error()
	}
	return fmt.Errorf("launch shim for container %s: shim exited without reporting: %s", opts.ID, message)
}

// cleanupAfterCancel removes what a shim killed during Launch may have left.
func cleanupAfterCancel(opts Options) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := runc.New(runc.Config{Binary: opts.RuncBinary, Root: opts.RuncRoot})
	_ = r.Delete(ctx, opts.ID, true)
	os.Remove(filepath.Join(opts.StateDir, SocketFile))
	os.Remove(filepath.Join(opts.StateDir, PidFile))
}

// lastLines returns up to n last lines of a small file.
func lastLines(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// Connect returns a Client for the shim serving stateDir, for example after a
// daemon restart. It returns an error wrapping errdefs.ErrUnavailable when no
// shim serves there. ReadExit then returns the exit status if the container
// exited.
func Connect(ctx context.Context, stateDir string) (*Client, error) {
	c := &Client{stateDir: stateDir, socket: filepath.Join(stateDir, SocketFile)}
	resp, err := c.call(ctx, request{Op: opState})
	if err != nil {
		return nil, err
	}
	c.pid = resp.Pid
	c.terminal = resp.Terminal
	return c, nil
}

// Pid returns the host pid of the container's init process.
func (c *Client) Pid() int {
	return c.pid
}

// Start executes the command of the created container (runc start).
func (c *Client) Start(ctx context.Context) error {
	_, err := c.call(ctx, request{Op: opStart})
	return err
}

// Kill sends sig to the container's init process. It returns an error
// wrapping errdefs.ErrConflict when the process has already exited.
func (c *Client) Kill(ctx context.Context, sig syscall.Signal) error {
	_, err := c.call(ctx, request{Op: opKill, Signal: int(sig)})
	return err
}

// Resize sets the size of the container's terminal. Without a terminal it
// does nothing.
func (c *Client) Resize(ctx context.Context, height, width uint16) error {
	_, err := c.call(ctx, request{Op: opResize, Height: height, Width: width})
	return err
}

// Wait blocks until the container exits and returns its exit status. Many
// callers may wait at once. When the shim is already gone, or goes away while
// waiting, Wait returns the status from exit.json if the shim recorded one.
func (c *Client) Wait(ctx context.Context) (ExitStatus, error) {
	resp, err := c.call(ctx, request{Op: opWait})
	if err == nil && resp.Exit != nil {
		return *resp.Exit, nil
	}
	if ctx.Err() != nil {
		return ExitStatus{}, ctx.Err()
	}
	if err == nil {
		err = fmt.Errorf("wait for container: shim returned no exit status: %w", errdefs.ErrUnavailable)
	}
	if !errdefs.IsUnavailable(err) {
		return ExitStatus{}, err
	}

	status, readErr := ReadExit(c.stateDir)
	if readErr != nil {
		return ExitStatus{}, err
	}
	return *status, nil
}

// Attach connects to the container's stdio. The returned connection carries
// the selected output streams, as stdcopy frames without a terminal and raw
// bytes with one, until the container exits. With stdin, what the caller
// writes goes to the container's stdin (when the container was created with
// OpenStdin), and closing the write side (the connection is a
// *net.UnixConn, see CloseWrite) ends the input, which with StdinOnce closes
// the container's stdin. Output produced before the attach is only in the
// log.
func (c *Client) Attach(ctx context.Context, stdin, stdout, stderr bool) (net.Conn, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	if err := writeMessage(conn, request{Op: opAttach, Stdin: stdin, Stdout: stdout, Stderr: stderr}); err != nil {
		conn.Close()
		return nil, c.connError(ctx, err)
	}
	var resp response
	if err := readMessage(conn, &resp); err != nil {
		conn.Close()
		return nil, c.connError(ctx, err)
	}
	if err := resp.err(); err != nil {
		conn.Close()
		return nil, err
	}
	if !stop() {
		// ctx ended after the response arrived, and conn is closed.
		return nil, ctx.Err()
	}
	return conn, nil
}

// Close releases the client. Each call opens and closes its own connection,
// so Close has nothing to release and returns nil.
func (c *Client) Close() error {
	return nil
}

// call sends one request and reads the response on a new connection. When
// ctx ends, the connection is closed and ctx's error returned.
func (c *Client) call(ctx context.Context, req request) (response, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return response{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	if err := writeMessage(conn, req); err != nil {
		return response{}, c.connError(ctx, err)
	}
	var resp response
	if err := readMessage(conn, &resp); err != nil {
		return response{}, c.connError(ctx, err)
	}
	return resp, resp.err()
}

// dial connects to the shim socket. A missing socket or a refused
// connection means no shim serves the container.
func (c *Client) dial(ctx context.Context) (*net.UnixConn, error) {
	var conn net.Conn
	err := withShortPath(c.socket, func(p string) error {
		var dialer net.Dialer
		var err error
		conn, err = dialer.DialContext(ctx, "unix", p)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("connect to shim %s: shim is not running: %w", c.socket, errdefs.ErrUnavailable)
		}
		return nil, fmt.Errorf("connect to shim %s: %w", c.socket, err)
	}
	return conn.(*net.UnixConn), nil
}

// connError turns a broken connection into ctx's error when ctx ended, and
// otherwise into an unavailable error, since the shim went away.
func (c *Client) connError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("shim %s closed the connection: %w", c.socket, errdefs.ErrUnavailable)
	}
	return fmt.Errorf("talk to shim %s: %w", c.socket, err)
}

// Exec starts process in the running container under execID and connects to
// its stdio like Attach: the returned connection carries the selected output
// (stdcopy frames without a terminal, raw bytes with one) until the process
// exited, and with stdin what the caller writes until it closes its write
// side. It also returns the process's host pid. A process that could not
// start returns a *StartError.
func (c *Client) Exec(ctx context.Context, execID string, process specs.Process, stdin, stdout, stderr bool) (net.Conn, int, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, 0, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	req := request{Op: opExec, ExecID: execID, Process: &process, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	if err := writeMessage(conn, req); err != nil {
		conn.Close()
		return nil, 0, c.connError(ctx, err)
	}
	var resp response
	if err := readMessage(conn, &resp); err != nil {
		conn.Close()
		return nil, 0, c.connError(ctx, err)
	}
	if err := resp.err(); err != nil {
		conn.Close()
		if strings.HasPrefix(resp.Error, "OCI runtime create failed: ") {
			return nil, 0, &StartError{ID: c.id, Message: strings.TrimPrefix(resp.Error, "OCI runtime create failed: ")}
		}
		return nil, 0, err
	}
	if !stop() {
		return nil, 0, ctx.Err()
	}
	return conn, resp.Pid, nil
}

// ExecWait blocks until the exec process execID exited and returns its
// status.
func (c *Client) ExecWait(ctx context.Context, execID string) (ExitStatus, error) {
	resp, err := c.call(ctx, request{Op: opExecWait, ExecID: execID})
	if err != nil {
		return ExitStatus{}, err
	}
	if resp.Exit == nil {
		return ExitStatus{}, fmt.Errorf("wait for exec %s: shim returned no exit status: %w", execID, errdefs.ErrUnavailable)
	}
	return *resp.Exit, nil
}

// ExecResize sets the terminal size of the exec process execID.
func (c *Client) ExecResize(ctx context.Context, execID string, height, width uint16) error {
	_, err := c.call(ctx, request{Op: opExecResize, ExecID: execID, Height: height, Width: width})
	return err
}
