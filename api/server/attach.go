package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/berth-engine/berth/internal/detachkeys"
	"io"
	"net"
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types"

	"github.com/berth-engine/berth/api/version"
	"github.com/berth-engine/berth/internal/log"
)

// postContainerAttach hijacks the connection and streams the container's
// standard streams over it.
//
// Docker Engine's protocol: a client that sends "Connection: Upgrade" and
// "Upgrade: tcp" gets "101 UPGRADED", any other client gets "200 OK". After
// that status line and its headers the connection carries raw bytes. Output is multiplexed (stdcopy frames) unless the container has
// a TTY; API versions before 1.42 label both kinds "raw-stream". Bytes the
// client sends are the container's stdin. A client that is done with stdin
// half-closes the connection and keeps reading output.
func (s *Server) postContainerAttach(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	ctx := r.Context()
	id := vars["id"]
	q := r.URL.Query()

	// Errors found here still go out as an HTTP status, such as 404 for an
	// unknown container.
	if _, err := detachkeys.Parse(q.Get("detachKeys")); err != nil {
		return err
	}
	tty, err := s.backend.ContainerTTY(ctx, id)
	if err != nil {
		return err
	}

	stream, err := s.hijackStream(ctx, w, r, "attach to container "+id, tty)
	if stream == nil || err != nil {
		return err
	}
	defer stream.close()
	ctx, out, buffered, cancel := stream.ctx, stream.out, stream.input, stream.cancel
	stdout, stderr := stream.stdout, stream.stderr

	opts := AttachOptions{
		Stdout:     stdout,
		Stderr:     stderr,
		UseStdin:   boolValue(q, "stdin"),
		UseStdout:  boolValue(q, "stdout"),
		UseStderr:  boolValue(q, "stderr"),
		Stream:     boolValue(q, "stream"),
		Logs:       boolValue(q, "logs"),
		DetachKeys: q.Get("detachKeys"),
	}
	if opts.UseStdin {
		opts.Stdin = &clientReader{r: buffered, onError: cancel}
	} else {
		go discardClientInput(buffered)
	}

	err = s.backend.ContainerAttach(ctx, id, opts)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		log.FromContext(ctx).Debug("attach ended with the client connection", log.Err(err))
	default:
		log.FromContext(ctx).Error("attach stream failed", log.KeyContainer, id, log.Err(err))
		if !tty {
			_, _ = newStdWriter(out, stdcopy.Systemerr).Write([]byte(errorMessage(err)))
		}
	}
	return nil
}

// hijackedStream is a client connection taken over from net/http for an
// attach or exec stream, with the status line already sent.
type hijackedStream struct {
	ctx            context.Context // ends when a write fails or the server shuts down
	cancel         context.CancelFunc
	input          *bufio.Reader // what the client sends after the request
	out            *lockedWriter
	stdout, stderr io.Writer // framed with stdcopy unless the stream has a TTY
	close          func()
}

// hijackStream takes over the connection of r and sends the upgrade status
// with Docker's media type for the stream. It returns nil and no error when
// the client went away before the stream started. what names the operation
// in errors.
func (s *Server) hijackStream(ctx context.Context, w http.ResponseWriter, r *http.Request, what string, tty bool) (*hijackedStream, error) {
	conn, buffered, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, errdefs.ErrInternal.WithMessage(fmt.Sprintf("%s: cannot hijack the connection: %v", what, err))
	}
	s.hijacked.Add(1)

	mediaType := types.MediaTypeRawStream
	if !tty && version.FromContext(ctx).AtLeast(version.Version{Major: 1, Minor: 42}) {
		mediaType = types.MediaTypeMultiplexedStream
	}
	if err := writeAttachStatus(conn, mediaType, upgradeRequested(r)); err != nil {
		log.FromContext(ctx).Debug("client went away before the stream started", "operation", what, log.Err(err))
		closeConn(conn)
		s.hijacked.Done()
		return nil, nil
	}

	// NOTE: net/http may cancel the request context of a hijacked
	// connection when the client half-closes it, so the stream has its own
	// context. Failed writes and server shutdown cancel it.
	streamCtx, cancel := s.streamContext(context.WithoutCancel(ctx))
	out := &lockedWriter{w: conn, onError: cancel}
	stream := &hijackedStream{
		ctx:    streamCtx,
		cancel: cancel,
		input:  buffered.Reader,
		out:    out,
		stdout: out,
		stderr: out,
		close: func() {
			cancel()
			closeConn(conn)
			s.hijacked.Done()
		},
	}
	if !tty {
		stream.stdout = newStdWriter(out, stdcopy.Stdout)
		stream.stderr = newStdWriter(out, stdcopy.Stderr)
	}
	return stream, nil
}

// upgradeRequested reports whether the client asked to upgrade the
// connection, as the moby client and the docker CLI do.
func upgradeRequested(r *http.Request) bool {
	_, ok := r.Header["Upgrade"]
	return ok
}

func writeAttachStatus(conn net.Conn, mediaType string, upgrade bool) error {
	var status string
	if upgrade {
		status = "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + mediaType +
			"\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
	} else {
		status = "HTTP/1.1 200 OK\r\nContent-Type: " + mediaType + "\r\n\r\n"
	}
	_, err := io.WriteString(conn, status)
	return err
}

// closeConn half-closes the connection first where it can, so the client
// reads all output up to EOF before the connection goes away.
func closeConn(conn net.Conn) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = conn.Close()
}

// clientReader is the container's stdin: the bytes the client sends after
// the status line. io.EOF means the client half-closed the connection and
// still reads output. Any other error means the connection is gone, and
// onError ends the attach. A client that closes the connection fully after
// stdin is noticed at the next failed write of output.
type clientReader struct {
	r       *bufio.Reader
	onError func()
}

func (c *clientReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		c.onError()
	}
	return n, err
}

// discardClientInput reads and drops what a client without stdin sends.
// The end of that input means nothing, because the docker CLI half-closes
// its side at once when it attaches no stdin, and still reads the output. A client
// that is really gone is noticed when a write of output fails.
func discardClientInput(r io.Reader) {
	_, _ = io.Copy(io.Discard, r)
}
