package shim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestExitCodeForStartError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		expected int
	}{
		{name: "nil", err: nil, expected: 0},
		{
			name:     "not in PATH",
			err:      errors.New(`runc create failed: unable to start container process: exec: "foo": executable file not found in $PATH`),
			expected: ExitCodeNotFound,
		},
		{
			name:     "missing path",
			err:      errors.New(`unable to start container process: exec: "/x": stat /x: no such file or directory`),
			expected: ExitCodeNotFound,
		},
		{
			name:     "missing mount source",
			err:      errors.New(`error mounting "/src" to rootfs at "/dst": no such file or directory`),
			expected: ExitCodeStartFailed,
		},
		{
			name:     "not executable",
			err:      errors.New(`unable to start container process: exec: "/etc/passwd": permission denied`),
			expected: ExitCodeNotExecutable,
		},
		{name: "other", err: errors.New("cgroup setup failed"), expected: ExitCodeStartFailed},
		{
			name:     "wrapped start error",
			err:      fmt.Errorf("start: %w", &StartError{ID: "c", Message: `exec: "foo": executable file not found in $PATH`}),
			expected: ExitCodeNotFound,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Check(t, is.Equal(ExitCodeForStartError(tc.err), tc.expected))
		})
	}
}

func TestStartErrorKind(t *testing.T) {
	notFound := &StartError{ID: "c", Message: `exec: "foo": executable file not found in $PATH`}
	assert.Check(t, errdefs.IsInvalidArgument(notFound))
	assert.Check(t, is.Equal(notFound.Error(), `OCI runtime create failed: exec: "foo": executable file not found in $PATH`))

	other := &StartError{ID: "c", Message: "cgroup setup failed"}
	assert.Check(t, errdefs.IsUnknown(other))
}

func TestMessageRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	assert.NilError(t, writeMessage(&buf, request{Op: opAttach, Stdin: true}))
	buf.WriteString("stream data")

	var req request
	assert.NilError(t, readMessage(&buf, &req))
	assert.Check(t, is.DeepEqual(req, request{Op: opAttach, Stdin: true}))
	assert.Check(t, is.Equal(buf.String(), "stream data"), "readMessage must not consume stream data")
}

func TestReadMessageErrors(t *testing.T) {
	var v response
	assert.Check(t, is.ErrorIs(readMessage(bytes.NewReader(nil), &v), io.EOF))
	assert.Check(t, is.ErrorIs(readMessage(bytes.NewReader([]byte(`{"op"`)), &v), io.ErrUnexpectedEOF))
	long := bytes.Repeat([]byte("x"), maxMessageSize+1)
	assert.Check(t, is.ErrorContains(readMessage(bytes.NewReader(long), &v), "longer than"))
}

func TestResponseErrorKinds(t *testing.T) {
	tests := []struct {
		err  error
		kind error
	}{
		{err: fmt.Errorf("gone: %w", errdefs.ErrConflict), kind: errdefs.ErrConflict},
		{err: fmt.Errorf("missing: %w", errdefs.ErrNotFound), kind: errdefs.ErrNotFound},
		{err: errors.New("plain"), kind: errdefs.ErrUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			err := errorResponse(tc.err).err()
			assert.Check(t, is.ErrorIs(err, tc.kind))
			assert.Check(t, is.Equal(err.Error(), tc.err.Error()))
		})
	}
}
