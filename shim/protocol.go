package shim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The shim protocol: a client connects to shim.sock and sends one request as
// a JSON line. The shim replies with one response as a JSON line. After a
// successful attach response the connection carries the container's stdio:
// output from the shim (stdcopy frames without a terminal, raw bytes with
// one) and stdin from the client until it closes its write side.

// Request operations.
const (
	opState  = "state"
	opStart  = "start"
	opAttach = "attach"
	opWait   = "wait"
	opKill   = "kill"
	opResize = "resize"
	// opExec starts a process in the running container and, like attach,
	// carries its stdio after the response. opExecWait returns its exit
	// status and opExecResize resizes its terminal.
	opExec       = "exec"
	opExecWait   = "exec-wait"
	opExecResize = "exec-resize"
)

// Container statuses in a state response.
const (
	statusCreated = "created"
	statusRunning = "running"
	statusExited  = "exited"
)

// maxMessageSize bounds a request or response line.
const maxMessageSize = 64 * 1024

type request struct {
	Op     string `json:"op"`
	Stdin  bool   `json:"stdin,omitempty"`
	Stdout bool   `json:"stdout,omitempty"`
	Stderr bool   `json:"stderr,omitempty"`
	Signal int    `json:"signal,omitempty"`
	Height uint16 `json:"height,omitempty"`
	Width  uint16 `json:"width,omitempty"`
	// ExecID names an exec process, and Process is its spec for opExec.
	ExecID  string         `json:"execID,omitempty"`
	Process *specs.Process `json:"process,omitempty"`
}

type response struct {
	Error string `json:"error,omitempty"`
	// Kind is the errdefs class of Error, see errorKinds.
	Kind     string      `json:"kind,omitempty"`
	Pid      int         `json:"pid,omitempty"`
	Status   string      `json:"status,omitempty"`
	Terminal bool        `json:"terminal,omitempty"`
	Exit     *ExitStatus `json:"exit,omitempty"`
}

// errorKinds names the errdefs classes a response can carry.
var errorKinds = []struct {
	name string
	err  error
}{
	{"not_found", errdefs.ErrNotFound},
	{"invalid_argument", errdefs.ErrInvalidArgument},
	{"conflict", errdefs.ErrConflict},
	{"failed_precondition", errdefs.ErrFailedPrecondition},
	{"unavailable", errdefs.ErrUnavailable},
	{"not_implemented", errdefs.ErrNotImplemented},
}

// errorResponse encodes err with its errdefs class.
func errorResponse(err error) response {
	resp := response{Error: err.Error()}
	for _, kind := range errorKinds {
		if errors.Is(err, kind.err) {
			resp.Kind = kind.name
			break
		}
	}
	return resp
}

// err returns the error a response carries, wrapping its errdefs class.
func (r response) err() error {
	if r.Error == "" {
		return nil
	}
	for _, kind := range errorKinds {
		if r.Kind == kind.name {
			return &remoteError{message: r.Error, kind: kind.err}
		}
	}
	return &remoteError{message: r.Error, kind: errdefs.ErrUnknown}
}

// remoteError is an error the shim returned: its message as the shim wrote
// it, and its errdefs class for errors.Is.
type remoteError struct {
	message string
	kind    error
}

func (e *remoteError) Error() string { return e.message }
func (e *remoteError) Unwrap() error { return e.kind }

// writeMessage sends v as one JSON line.
func writeMessage(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// readMessage reads one JSON line into v. It reads byte by byte so that no
// stream data after the line is consumed.
func readMessage(r io.Reader, v any) error {
	var line bytes.Buffer
	b := make([]byte, 1)
	for {
		if _, err := io.ReadFull(r, b); err != nil {
			if errors.Is(err, io.EOF) && line.Len() > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if b[0] == '\n' {
			break
		}
		if line.Len() >= maxMessageSize {
			return fmt.Errorf("shim message longer than %d bytes", maxMessageSize)
		}
		line.WriteByte(b[0])
	}
	return json.Unmarshal(line.Bytes(), v)
}
