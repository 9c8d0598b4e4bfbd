// Package shim supervises one container in a process of its own, so that the
// container outlives daemon restarts.
//
// Launch re-executes the berth binary as `berth shim`, detached in its own
// session. The shim runs runc create, keeps the container's stdio, writes its
// output to a json-file log, reaps the container's init process as a child
// subreaper, records the exit in exit.json and runs runc delete. The daemon
// talks to it over StateDir/shim.sock with a Client, from Launch or, after a
// daemon restart, from Connect.
package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// Files in Options.StateDir.
const (
	// SocketFile is the unix socket the shim serves while it runs.
	SocketFile = "shim.sock"
	// PidFile contains the shim's pid while it runs.
	PidFile = "shim.pid"
	// ExitFile is the container's ExitStatus as JSON, written atomically
	// once the container exited.
	ExitFile = "exit.json"
	// LogFile receives the shim's own diagnostics (stdout and stderr).
	LogFile = "shim.log"
	// RuncLogFile collects runc's JSON log lines.
	RuncLogFile = "runc.json"
	// InitPidFile contains the pid of the container's init process, as
	// written by runc create.
	InitPidFile = "init.pid"
)

// DefaultShimBinary is the executable Launch runs when Options.ShimBinary is
// empty: the running berth binary itself.
const DefaultShimBinary = "/proc/self/exe"

// Options describe the container a shim supervises.
type Options struct {
	// ID is the container id, also runc's.
	ID string
	// Bundle is the OCI bundle directory with config.json.
	Bundle string
	// StateDir contains the shim's socket, pid, log and exit files. It may
	// be the bundle directory.
	StateDir string
	// LogPath is the json-file log of the container's output.
	LogPath string
	// RuncRoot is runc's --root, and RuncBinary the runc executable ("runc"
	// from PATH when empty).
	RuncRoot, RuncBinary string
	// ShimBinary is the berth executable to run as `<ShimBinary> shim ...`,
	// DefaultShimBinary when empty.
	ShimBinary string
	// Terminal runs the process on a pseudo terminal. It must match
	// process.terminal in the bundle's config.json.
	Terminal bool
	// OpenStdin keeps the container's stdin open for attach clients.
	OpenStdin bool
	// StdinOnce closes the container's stdin when the first attach client
	// that sends stdin ends its input.
	StdinOnce bool
}

// ExitStatus is the outcome of the container's init process.
type ExitStatus struct {
	// ExitCode is the exit status, or 128 plus the signal number when a
	// signal killed the process.
	ExitCode int `json:"exitCode"`
	// ExitedAt is when the shim reaped the process.
	ExitedAt time.Time `json:"exitedAt"`
	// OOMKilled is true when the kernel's OOM killer killed a process of the
	// container's memory cgroup.
	OOMKilled bool `json:"oomKilled"`
	// Error describes a supervision failure, such as a lost exit status.
	Error string `json:"error,omitempty"`
}

// ReadExit returns the exit status the shim recorded in stateDir. It returns
// an error wrapping errdefs.ErrNotFound when the container has not exited
// yet, or when its shim died before recording the exit.
func ReadExit(stateDir string) (*ExitStatus, error) {
	path := filepath.Join(stateDir, ExitFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read exit status %s: %w", path, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read exit status: %w", err)
	}

	var status ExitStatus
	if err := json.Unmarshal(data, &status); err != nil {
		return nil, fmt.Errorf("decode exit status %s: %w", path, err)
	}
	return &status, nil
}

// Exit codes Docker records for a container whose process could not start.
const (
	// ExitCodeNotFound is recorded when the command does not exist.
	ExitCodeNotFound = 127
	// ExitCodeNotExecutable is recorded when the command cannot be run.
	ExitCodeNotExecutable = 126
	// ExitCodeStartFailed is recorded for any other start failure.
	ExitCodeStartFailed = 128
)

// StartError is runc's report that it could not create or start the
// container's process, such as `exec: "foo": executable file not found in
// $PATH`.
type StartError struct {
	ID string
	// Message is runc's last error line.
	Message string
}

func (e *StartError) Error() string {
	return "OCI runtime create failed: " + e.Message
}

// ExitCode returns the exit code Docker records for this failure.
func (e *StartError) ExitCode() int {
	return ExitCodeForStartError(e)
}

// Unwrap classifies a missing or non-executable command as an invalid
// argument, as Docker does, and anything else as unknown.
func (e *StartError) Unwrap() error {
	if e.ExitCode() == ExitCodeStartFailed {
		return errdefs.ErrUnknown
	}
	return errdefs.ErrInvalidArgument
}

// ExitCodeForStartError returns the exit code Docker records when starting a
// container failed with err: 127 when runc could not find the command, 126
// when it could not execute it, 128 for other errors and 0 for nil. It
// matches runc's message texts, so it works on any error that carries them.
func ExitCodeForStartError(err error) int {
	if err == nil {
		return 0
	}
	message := strings.ToLower(err.Error())
	switch {
	case strings.Contains(message, "executable file not found"),
		strings.Contains(message, "exec: ") && strings.Contains(message, "no such file or directory"):
		return ExitCodeNotFound
	case strings.Contains(message, "permission denied"):
		return ExitCodeNotExecutable
	}
	return ExitCodeStartFailed
}
