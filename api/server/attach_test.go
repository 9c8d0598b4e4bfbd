package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// echoAttach is a backend attach that writes a greeting to stdout and
// stderr, then copies stdin to stdout until the client half-closes.
func echoAttach(opts *recorder[AttachOptions]) func(context.Context, string, AttachOptions) error {
	return func(_ context.Context, _ string, o AttachOptions) error {
		opts.add(AttachOptions{
			UseStdin: o.UseStdin, UseStdout: o.UseStdout, UseStderr: o.UseStderr,
			Stream: o.Stream, Logs: o.Logs, DetachKeys: o.DetachKeys,
		})
		if _, err := io.WriteString(o.Stdout, "out\n"); err != nil {
			return err
		}
		if _, err := io.WriteString(o.Stderr, "err\n"); err != nil {
			return err
		}
		if o.Stdin == nil {
			return nil
		}
		_, err := io.Copy(o.Stdout, o.Stdin)
		return err
	}
}

func TestAttachMultiplexed(t *testing.T) {
	tests := []struct {
		name      string
		version   string
		mediaType string
	}{
		{name: "negotiated", mediaType: types.MediaTypeMultiplexedStream},
		{name: "api 1.41", version: "1.41", mediaType: types.MediaTypeRawStream},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts recorder[AttachOptions]
			b := &fakeBackend{
				tty:    func(context.Context, string) (bool, error) { return false, nil },
				attach: echoAttach(&opts),
			}
			var clientOpts []client.Opt
			if tc.version != "" {
				clientOpts = append(clientOpts, client.WithAPIVersion(tc.version))
			}
			c := startServer(t, b).client(t, clientOpts...)

			res, err := c.ContainerAttach(context.Background(), "c1", client.ContainerAttachOptions{
				Stream: true, Stdin: true, Stdout: true, Stderr: true, DetachKeys: "ctrl-x,x",
			})
			assert.NilError(t, err)
			defer res.Close()
			mediaType, ok := res.MediaType()
			assert.Check(t, ok)
			assert.Equal(t, mediaType, tc.mediaType)

			_, err = io.WriteString(res.Conn, "hello\n")
			assert.NilError(t, err)
			assert.NilError(t, res.CloseWrite())

			var stdout, stderr bytes.Buffer
			_, err = stdcopy.StdCopy(&stdout, &stderr, res.Reader)
			assert.NilError(t, err)
			assert.Equal(t, stdout.String(), "out\nhello\n")
			assert.Equal(t, stderr.String(), "err\n")

			assert.DeepEqual(t, opts.all(), []AttachOptions{{
				UseStdin: true, UseStdout: true, UseStderr: true, Stream: true, DetachKeys: "ctrl-x,x",
			}})
		})
	}
}

func TestAttachTTYRaw(t *testing.T) {
	var opts recorder[AttachOptions]
	b := &fakeBackend{
		tty:    func(context.Context, string) (bool, error) { return true, nil },
		attach: echoAttach(&opts),
	}
	c := startServer(t, b).client(t)

	res, err := c.ContainerAttach(context.Background(), "c1", client.ContainerAttachOptions{
		Stream: true, Stdin: true, Stdout: true,
	})
	assert.NilError(t, err)
	defer res.Close()
	mediaType, _ := res.MediaType()
	assert.Equal(t, mediaType, types.MediaTypeRawStream)

	_, err = io.WriteString(res.Conn, "typed")
	assert.NilError(t, err)
	assert.NilError(t, res.CloseWrite())

	output, err := io.ReadAll(res.Reader)
	assert.NilError(t, err)
	assert.Equal(t, string(output), "out\nerr\ntyped")
}

func TestAttachUnknownContainer(t *testing.T) {
	b := &fakeBackend{
		tty: func(context.Context, string) (bool, error) {
			return false, errdefs.ErrNotFound.WithMessage("No such container: nope")
		},
	}
	ts := startServer(t, b)

	// The moby client reports any status but 101 as a plain error, so check
	// the status with a plain request.
	req, err := http.NewRequest(http.MethodPost, "http://berth/containers/nope/attach?stream=1&stdout=1", nil)
	assert.NilError(t, err)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")
	resp, err := ts.httpClient(t).Do(req)
	assert.NilError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusNotFound)
	assert.Equal(t, readErrorMessage(t, resp), "No such container: nope")

	_, err = ts.client(t).ContainerAttach(context.Background(), "nope", client.ContainerAttachOptions{Stream: true})
	assert.Check(t, is.ErrorContains(err, "received 404"))
}

// TestAttachWithoutUpgrade checks the reply to a client that does not ask
// for an upgrade: 200 and the stream in the response body.
func TestAttachWithoutUpgrade(t *testing.T) {
	var opts recorder[AttachOptions]
	b := &fakeBackend{
		tty:    func(context.Context, string) (bool, error) { return false, nil },
		attach: echoAttach(&opts),
	}
	hc := startServer(t, b).httpClient(t)

	resp, err := hc.Post("http://berth/containers/c1/attach?stream=1&stdout=1&stderr=1", "text/plain", nil)
	assert.NilError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusOK)
	assert.Equal(t, resp.Header.Get("Content-Type"), types.MediaTypeMultiplexedStream)

	var stdout, stderr bytes.Buffer
	_, err = stdcopy.StdCopy(&stdout, &stderr, resp.Body)
	assert.NilError(t, err)
	assert.Equal(t, stdout.String(), "out\n")
	assert.Equal(t, stderr.String(), "err\n")
}

// TestAttachBackendError checks that an error after the stream started
// reaches a multiplexed client as a system error frame.
func TestAttachBackendError(t *testing.T) {
	b := &fakeBackend{
		tty: func(context.Context, string) (bool, error) { return false, nil },
		attach: func(_ context.Context, _ string, o AttachOptions) error {
			_, _ = io.WriteString(o.Stdout, "partial\n")
			return fmt.Errorf("shim connection lost")
		},
	}
	c := startServer(t, b).client(t)

	res, err := c.ContainerAttach(context.Background(), "c1", client.ContainerAttachOptions{Stream: true, Stdout: true})
	assert.NilError(t, err)
	defer res.Close()

	var stdout bytes.Buffer
	_, err = stdcopy.StdCopy(&stdout, io.Discard, res.Reader)
	assert.Check(t, is.ErrorContains(err, "shim connection lost"))
	assert.Equal(t, stdout.String(), "partial\n")
}

// TestAttachClientGone checks that the backend's context ends when a client
// without stdin closes the connection and output is written to it.
func TestAttachClientGone(t *testing.T) {
	attached := make(chan struct{})
	ended := make(chan error, 1)
	b := &fakeBackend{
		tty: func(context.Context, string) (bool, error) { return false, nil },
		attach: func(ctx context.Context, _ string, opts AttachOptions) error {
			close(attached)
			for ctx.Err() == nil {
				opts.Stdout.Write([]byte("tick\n"))
				time.Sleep(10 * time.Millisecond)
			}
			ended <- ctx.Err()
			return nil
		},
	}
	c := startServer(t, b).client(t)

	res, err := c.ContainerAttach(context.Background(), "c1", client.ContainerAttachOptions{Stream: true, Stdout: true})
	assert.NilError(t, err)
	<-attached
	res.Close()

	select {
	case err := <-ended:
		assert.Check(t, err != nil)
	case <-time.After(10 * time.Second):
		t.Fatal("attach context still open 10s after the client closed the connection")
	}
}

// TestAttachHalfCloseWithoutStdin checks that a client attached without
// stdin that half-closes its side, as the docker CLI does, still gets the
// output.
func TestAttachHalfCloseWithoutStdin(t *testing.T) {
	halfClosed := make(chan struct{})
	b := &fakeBackend{
		tty: func(context.Context, string) (bool, error) { return false, nil },
		attach: func(ctx context.Context, _ string, opts AttachOptions) error {
			select {
			case <-halfClosed:
			case <-ctx.Done():
				return nil
			}
			time.Sleep(50 * time.Millisecond)
			_, err := opts.Stdout.Write([]byte("late\n"))
			return err
		},
	}
	c := startServer(t, b).client(t)

	res, err := c.ContainerAttach(context.Background(), "c1", client.ContainerAttachOptions{Stream: true, Stdout: true})
	assert.NilError(t, err)
	defer res.Close()
	assert.NilError(t, res.CloseWrite())
	close(halfClosed)

	var stdout bytes.Buffer
	_, err = stdcopy.StdCopy(&stdout, io.Discard, res.Reader)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(stdout.String(), "late\n"))
}

func TestLogs(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	lines := []LogMessage{
		{Stream: "stdout", Time: base, Line: []byte("one\n")},
		{Stream: "stderr", Time: base.Add(time.Second), Line: []byte("two\n")},
		{Stream: "stdout", Time: base.Add(2 * time.Second), Line: []byte("three\n")},
	}
	var got recorder[LogsOptions]
	b := &fakeBackend{
		tty: func(_ context.Context, id string) (bool, error) { return id == "tty", nil },
		logs: func(_ context.Context, _ string, opts LogsOptions, fn func(LogMessage) error) error {
			got.add(opts)
			start := 0
			if opts.Tail >= 0 && opts.Tail < len(lines) {
				start = len(lines) - opts.Tail
			}
			for _, m := range lines[start:] {
				if err := fn(m); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	t.Run("tail", func(t *testing.T) {
		body, err := c.ContainerLogs(ctx, "c1", client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "2"})
		assert.NilError(t, err)
		defer body.Close()

		var stdout, stderr bytes.Buffer
		_, err = stdcopy.StdCopy(&stdout, &stderr, body)
		assert.NilError(t, err)
		assert.Equal(t, stdout.String(), "three\n")
		assert.Equal(t, stderr.String(), "two\n")
	})

	t.Run("stdout only with timestamps", func(t *testing.T) {
		body, err := c.ContainerLogs(ctx, "c1", client.ContainerLogsOptions{
			ShowStdout: true, Timestamps: true, Since: "1767322000.5", Until: "1767323000",
		})
		assert.NilError(t, err)
		defer body.Close()

		var stdout, stderr bytes.Buffer
		_, err = stdcopy.StdCopy(&stdout, &stderr, body)
		assert.NilError(t, err)
		assert.Equal(t, stdout.String(), "2026-01-02T03:04:05.000006000Z one\n"+
			"2026-01-02T03:04:07.000006000Z three\n")
		assert.Equal(t, stderr.String(), "")
	})

	t.Run("tty raw", func(t *testing.T) {
		body, err := c.ContainerLogs(ctx, "tty", client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
		assert.NilError(t, err)
		defer body.Close()

		output, err := io.ReadAll(body)
		assert.NilError(t, err)
		assert.Equal(t, string(output), "one\ntwo\nthree\n")
	})

	t.Run("no stream", func(t *testing.T) {
		_, err := c.ContainerLogs(ctx, "c1", client.ContainerLogsOptions{})
		assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
	})

	opts := got.all()
	assert.Assert(t, is.Len(opts, 3))
	assert.Equal(t, opts[0].Tail, 2)
	assert.Equal(t, opts[1].Tail, -1)
	assert.Equal(t, opts[1].Timestamps, true)
	assert.Equal(t, opts[1].Stderr, false)
	assert.Check(t, opts[1].Since.Equal(time.Unix(1767322000, 500000000)))
	assert.Check(t, opts[1].Until.Equal(time.Unix(1767323000, 0)))
}

func TestLogsErrors(t *testing.T) {
	b := &fakeBackend{
		tty: func(_ context.Context, id string) (bool, error) {
			if id == "missing" {
				return false, errdefs.ErrNotFound.WithMessage("No such container: missing")
			}
			return false, nil
		},
		logs: func(_ context.Context, id string, _ LogsOptions, fn func(LogMessage) error) error {
			if id == "nolog" {
				return errdefs.ErrNotImplemented.WithMessage(`configured logging driver does not support reading`)
			}
			if err := fn(LogMessage{Stream: "stdout", Line: []byte("first\n")}); err != nil {
				return err
			}
			return fmt.Errorf("log file truncated")
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()
	all := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true}

	_, err := c.ContainerLogs(ctx, "missing", all)
	assert.Check(t, errdefs.IsNotFound(err), "got %v", err)

	_, err = c.ContainerLogs(ctx, "nolog", all)
	assert.Check(t, errdefs.IsNotImplemented(err), "got %v", err)

	body, err := c.ContainerLogs(ctx, "broken", all)
	assert.NilError(t, err)
	defer body.Close()
	var stdout bytes.Buffer
	_, err = stdcopy.StdCopy(&stdout, io.Discard, body)
	assert.Check(t, is.ErrorContains(err, "log file truncated"))
	assert.Equal(t, stdout.String(), "first\n")
}

func TestLogsFollowClientGone(t *testing.T) {
	ended := make(chan struct{})
	b := &fakeBackend{
		tty: func(context.Context, string) (bool, error) { return false, nil },
		logs: func(ctx context.Context, _ string, _ LogsOptions, fn func(LogMessage) error) error {
			defer close(ended)
			if err := fn(LogMessage{Stream: "stdout", Line: []byte("ready\n")}); err != nil {
				return err
			}
			<-ctx.Done()
			return ctx.Err()
		},
	}
	c := startServer(t, b).client(t)
	ctx, cancel := context.WithCancel(context.Background())

	body, err := c.ContainerLogs(ctx, "c1", client.ContainerLogsOptions{ShowStdout: true, Follow: true})
	assert.NilError(t, err)
	header := make([]byte, 8+len("ready\n"))
	_, err = io.ReadFull(body, header)
	assert.NilError(t, err)
	assert.Check(t, strings.HasSuffix(string(header), "ready\n"))

	cancel()
	body.Close()
	<-ended
}

func TestAttachInvalidDetachKeys(t *testing.T) {
	b := &fakeBackend{
		tty: func(context.Context, string) (bool, error) { return false, nil },
	}
	hc := startServer(t, b).httpClient(t)

	resp, err := hc.Post("http://berth/containers/c1/attach?stream=1&detachKeys=alt-x", "text/plain", nil)
	assert.NilError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusBadRequest)
	assert.Equal(t, readErrorMessage(t, resp),
		`invalid detach keys (alt-x) provided: "alt-x" is neither a single character nor ctrl-<key>`)
}
