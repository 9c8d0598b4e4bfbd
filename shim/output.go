package shim

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"

	"github.com/moby/moby/api/pkg/stdcopy"

	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/logs"
)

// stdcopyHeaderSize is the size of the frame header that precedes each chunk
// of non-terminal attach output: the stream (1 stdout, 2 stderr), three zero
// bytes and the payload length as a big-endian uint32.
const stdcopyHeaderSize = 8

// attachment is one attach connection that receives container output.
type attachment struct {
	conn           *net.UnixConn
	stdout, stderr bool
	// framed selects stdcopy frames (no terminal) over raw bytes.
	framed bool

	mu     sync.Mutex // serializes writes to conn
	failed bool
}

// write sends one chunk of stream output, if the client selected the stream.
// A client whose connection fails gets no more output.
func (a *attachment) write(stream stdcopy.StdType, data []byte) {
	if (stream == stdcopy.Stdout && !a.stdout) || (stream == stdcopy.Stderr && !a.stderr) {
		return
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failed {
		return
	}

	message := data
	if a.framed {
		message = make([]byte, stdcopyHeaderSize+len(data))
		message[0] = byte(stream)
		binary.BigEndian.PutUint32(message[4:stdcopyHeaderSize], uint32(len(data)))
		copy(message[stdcopyHeaderSize:], data)
	}
	if _, err := a.conn.Write(message); err != nil {
		a.failed = true
	}
}

// output fans the container's output out to the log and to the current
// attach clients. Output produced while no client is attached goes to the
// log only.
type output struct {
	log *logs.Writer

	mu          sync.Mutex
	attachments map[*attachment]struct{}
	closed      bool // set once all output was copied
}

func newOutput(logWriter *logs.Writer) *output {
	return &output{log: logWriter, attachments: map[*attachment]struct{}{}}
}

// add registers an attach client. It returns false when all output has
// already been copied, so the client would receive nothing.
func (o *output) add(a *attachment) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.attachments[a] = struct{}{}
	return true
}

func (o *output) remove(a *attachment) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.attachments, a)
}

// copy reads one stream until it ends and passes each chunk to the log and
// the attach clients. A pty master reports the end with EIO once the last
// process holding the terminal exited, which copy treats as the end too.
func (o *output) copy(ctx context.Context, stream stdcopy.StdType, r io.Reader) {
	name := logs.Stdout
	if stream == stdcopy.Stderr {
		name = logs.Stderr
	}
	logStream := o.log.Stream(name)
	logFailed := false

	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if _, werr := logStream.Write(chunk); werr != nil && !logFailed {
				logFailed = true
				log.FromContext(ctx).Error("write container log", "stream", name, log.Err(werr))
			}
			o.broadcast(stream, chunk)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.EIO) {
				log.FromContext(ctx).Warn("read container output", "stream", name, log.Err(err))
			}
			return
		}
	}
}

func (o *output) broadcast(stream stdcopy.StdType, data []byte) {
	o.mu.Lock()
	clients := make([]*attachment, 0, len(o.attachments))
	for a := range o.attachments {
		clients = append(clients, a)
	}
	o.mu.Unlock()

	for _, a := range clients {
		a.write(stream, data)
	}
}

// close marks the output as finished and closes every attach connection, so
// the clients read EOF.
func (o *output) close() {
	o.mu.Lock()
	o.closed = true
	clients := o.attachments
	o.attachments = map[*attachment]struct{}{}
	o.mu.Unlock()

	for a := range clients {
		a.mu.Lock()
		a.conn.Close()
		a.mu.Unlock()
	}
}
