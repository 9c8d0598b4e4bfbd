// Package runc runs the runc binary for one runtime root. Every call writes
// runc's JSON log to a file of its own and appends it to the shared log, so a
// failed call returns runc's own error message instead of an exit status.
package runc

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	gorunc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultBinary is the runc executable used when Config.Binary is empty. It is
// looked up in PATH.
const DefaultBinary = "runc"

// Config selects the runc binary and where its state and log go.
type Config struct {
	// Binary is the runc executable, DefaultBinary when empty.
	Binary string
	// Root is runc's --root state directory, such as <exec-root>/runc.
	Root string
	// LogPath collects runc's JSON log lines of every call. Empty keeps no
	// log beyond the call that wrote it.
	LogPath string
}

// Runc runs runc commands with one Config. It is safe for concurrent use.
type Runc struct {
	cfg Config
}

// New returns a Runc for cfg.
func New(cfg Config) *Runc {
	if cfg.Binary == "" {
		cfg.Binary = DefaultBinary
	}
	return &Runc{cfg: cfg}
}

// State is runc's view of a container, as printed by runc state.
type State = gorunc.Container

// Version is the version information printed by runc --version.
type Version = gorunc.Version

// IO are the standard streams runc create hands to the container process when
// it has no terminal. A nil field connects that stream to /dev/null.
type IO struct {
	Stdin, Stdout, Stderr *os.File
}

// CreateOptions are the options of runc create.
type CreateOptions struct {
	IO
	// PidFile receives the pid of the container's init process.
	PidFile string
	// ConsoleSocket is the unix socket that receives the pty master when the
	// spec sets process.terminal.
	ConsoleSocket string
	// NoPivot uses chroot instead of pivot_root, for root file systems on a
	// ramdisk.
	NoPivot bool
}

// Create runs runc create: the container's process is set up and waits for
// Start before executing the command.
func (r *Runc) Create(ctx context.Context, id, bundle string, opts CreateOptions) error {
	// runc's stdio becomes the container's, so it must never be a pipe that
	// go-runc drains: that copy would last as long as the container. Streams
	// the caller leaves nil get /dev/null.
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("runc create %s: %w", id, err)
	}
	defer devNull.Close()

	files := opts.IO
	for _, stream := range []**os.File{&files.Stdin, &files.Stdout, &files.Stderr} {
		if *stream == nil {
			*stream = devNull
		}
	}

	return r.run(ctx, "create", id, func(rc *gorunc.Runc) error {
		createOpts := &gorunc.CreateOpts{
			IO:      fileIO{files},
			PidFile: opts.PidFile,
			NoPivot: opts.NoPivot,
		}
		if opts.ConsoleSocket != "" {
			createOpts.ConsoleSocket = socketPath(opts.ConsoleSocket)
		}
		return rc.Create(ctx, id, bundle, createOpts)
	})
}

// Start runs runc start, which executes the command of a created container.
func (r *Runc) Start(ctx context.Context, id string) error {
	return r.run(ctx, "start", id, func(rc *gorunc.Runc) error {
		return rc.Start(ctx, id)
	})
}

// Kill sends sig to the container's init process, or with all to every
// process of the container.
func (r *Runc) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	return r.run(ctx, "kill", id, func(rc *gorunc.Runc) error {
		return rc.Kill(ctx, id, int(sig), &gorunc.KillOpts{All: all})
	})
}

// Delete runs runc delete, which removes a stopped container's state and
// cgroup. force also kills a running container first.
func (r *Runc) Delete(ctx context.Context, id string, force bool) error {
	return r.run(ctx, "delete", id, func(rc *gorunc.Runc) error {
		return rc.Delete(ctx, id, &gorunc.DeleteOpts{Force: force})
	})
}

// State returns runc's state of the container.
func (r *Runc) State(ctx context.Context, id string) (*State, error) {
	var state *State
	err := r.run(ctx, "state", id, func(rc *gorunc.Runc) error {
		var err error
		state, err = rc.State(ctx, id)
		return err
	})
	return state, err
}

// Pause freezes every process of the container.
func (r *Runc) Pause(ctx context.Context, id string) error {
	return r.run(ctx, "pause", id, func(rc *gorunc.Runc) error {
		return rc.Pause(ctx, id)
	})
}

// Resume thaws a paused container.
func (r *Runc) Resume(ctx context.Context, id string) error {
	return r.run(ctx, "resume", id, func(rc *gorunc.Runc) error {
		return rc.Resume(ctx, id)
	})
}

// Ps returns the host pids of the container's processes.
func (r *Runc) Ps(ctx context.Context, id string) ([]int, error) {
	var pids []int
	err := r.run(ctx, "ps", id, func(rc *gorunc.Runc) error {
		var err error
		pids, err = rc.Ps(ctx, id)
		return err
	})
	return pids, err
}

// Update changes the cgroup resources of a running container.
func (r *Runc) Update(ctx context.Context, id string, resources *specs.LinuxResources) error {
	return r.run(ctx, "update", id, func(rc *gorunc.Runc) error {
		return rc.Update(ctx, id, resources)
	})
}

// Version returns the version of the runc binary.
func (r *Runc) Version(ctx context.Context) (Version, error) {
	var v Version
	err := r.run(ctx, "--version", "", func(rc *gorunc.Runc) error {
		var err error
		v, err = rc.Version(ctx)
		return err
	})
	return v, err
}

// run calls fn with a go-runc client whose --log is a new file for this call
// alone, appends that file to the shared log and turns a failure into an
// *Error carrying runc's last error message.
func (r *Runc) run(ctx context.Context, op, id string, fn func(*gorunc.Runc) error) error {
	callLog, err := r.newCallLog()
	if err != nil {
		return fmt.Errorf("runc %s %s: create log file: %w", op, id, err)
	}
	defer os.Remove(callLog)

	rc := &gorunc.Runc{
		Command:   r.cfg.Binary,
		Root:      r.cfg.Root,
		Log:       callLog,
		LogFormat: gorunc.JSON,
	}
	callErr := fn(rc)

	entries, logData := readLog(callLog)
	r.appendLog(logData)
	if callErr == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("runc %s %s: %w", op, id, ctxErr)
	}
	return newError(op, id, lastError(entries), callErr)
}

// newCallLog creates an empty log file next to the shared log, or in the
// temporary directory without one.
func (r *Runc) newCallLog() (string, error) {
	dir := os.TempDir()
	if r.cfg.LogPath != "" {
		dir = filepath.Dir(r.cfg.LogPath)
	}
	f, err := os.CreateTemp(dir, ".runc-call-*.json")
	if err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// appendLog adds one call's log lines to the shared log. Losing them only
// loses diagnostics, so failures are ignored.
func (r *Runc) appendLog(data []byte) {
	if r.cfg.LogPath == "" || len(data) == 0 {
		return
	}
	f, err := os.OpenFile(r.cfg.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(data)
}

// socketPath adapts a path to go-runc's ConsoleSocket interface.
type socketPath string

func (p socketPath) Path() string { return string(p) }

// fileIO hands three non-nil files to runc through go-runc's IO interface. It
// owns none of them, so the caller closes its copies after Create returns.
type fileIO struct {
	files IO
}

func (f fileIO) Close() error          { return nil }
func (f fileIO) Stdin() io.WriteCloser { return nil }
func (f fileIO) Stdout() io.ReadCloser { return nil }
func (f fileIO) Stderr() io.ReadCloser { return nil }
func (f fileIO) Set(cmd *exec.Cmd) {
	cmd.Stdin = f.files.Stdin
	cmd.Stdout = f.files.Stdout
	cmd.Stderr = f.files.Stderr
}

// ExecOptions are the options of runc exec. The process always runs
// detached: runc exits once it started, and the caller, a subreaper, reaps
// the process by the pid written to PidFile.
type ExecOptions struct {
	IO
	// PidFile receives the pid of the new process.
	PidFile string
	// ConsoleSocket receives the pty master when process.terminal is set.
	ConsoleSocket string
}

// Exec runs runc exec -d: process starts in the running container id.
func (r *Runc) Exec(ctx context.Context, id string, process specs.Process, opts ExecOptions) error {
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("runc exec %s: %w", id, err)
	}
	defer devNull.Close()

	files := opts.IO
	for _, stream := range []**os.File{&files.Stdin, &files.Stdout, &files.Stderr} {
		if *stream == nil {
			*stream = devNull
		}
	}
	return r.run(ctx, "exec", id, func(rc *gorunc.Runc) error {
		execOpts := &gorunc.ExecOpts{IO: fileIO{files}, PidFile: opts.PidFile, Detach: true}
		if opts.ConsoleSocket != "" {
			execOpts.ConsoleSocket = socketPath(opts.ConsoleSocket)
		}
		return rc.Exec(ctx, id, process, execOpts)
	})
}
