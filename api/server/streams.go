package server

import (
	"encoding/binary"
	"io"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// stdWriter frames each write as one message of the multiplexed stream that
// stdcopy.StdCopy reads: an 8-byte header (stream type, three zero bytes,
// payload length as big-endian uint32) followed by the payload.
type stdWriter struct {
	w      io.Writer
	stream stdcopy.StdType
}

func newStdWriter(w io.Writer, stream stdcopy.StdType) *stdWriter {
	return &stdWriter{w: w, stream: stream}
}

func (s *stdWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}

	frame := make([]byte, 8+len(p))
	frame[0] = byte(s.stream)
	binary.BigEndian.PutUint32(frame[4:8], uint32(len(p)))
	copy(frame[8:], p)

	// One Write per frame, so that frames of concurrent writers sharing a
	// lockedWriter never interleave.
	n, err := s.w.Write(frame)
	n = max(n-8, 0)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// lockedWriter serialises writes from several goroutines (stdout and stderr
// copiers) to one connection. When a write fails it calls onError once, which
// attach uses to notice that the client has gone.
type lockedWriter struct {
	mu      sync.Mutex
	w       io.Writer
	onError func()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()

	n, err := l.w.Write(p)
	if err != nil && l.onError != nil {
		l.onError()
		l.onError = nil
	}
	return n, err
}
