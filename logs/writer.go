// Package logs writes and reads container logs in Docker's json-file format:
// one JSON object per line, {"log":"text\n","stream":"stdout","time":"..."},
// with the time in RFC 3339 with nanoseconds, UTC.
package logs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// MaxLineSize is the longest entry text. A longer line is split into
// entries of this size without a trailing newline, as Docker's log copier
// does with its 16 KiB buffer. Readers join them by concatenating.
const MaxLineSize = 16 * 1024

// Stream names used in log entries.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// entry is one line of a json-file log. The field order is Docker's.
type entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Writer appends entries to a json-file log. Its stream writers may be used
// from different goroutines.
type Writer struct {
	mu      sync.Mutex
	file    *os.File
	streams map[string]*streamWriter
	closed  bool
}

// NewWriter opens path for appending, creating it with mode 0640.
func NewWriter(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	return &Writer{file: f, streams: map[string]*streamWriter{}}, nil
}

// Stream returns the writer for stream name ("stdout" or "stderr"). Writes
// are split into lines, and each complete line becomes one entry. Text
// without a newline waits for more, until MaxLineSize or Close.
func (w *Writer) Stream(name string) io.Writer {
	w.mu.Lock()
	defer w.mu.Unlock()

	s, ok := w.streams[name]
	if !ok {
		s = &streamWriter{w: w, name: name}
		w.streams[name] = s
	}
	return s
}

// Close writes the pending text of every stream as final entries without a
// newline and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()

	if w.closed {
		return nil
	}
	w.closed = true

	var firstErr error
	for _, s := range w.streams {
		if len(s.pending) == 0 {
			continue
		}
		if err := w.writeEntry(s.name, s.pending); err != nil && firstErr == nil {
			firstErr = err
		}
		s.pending = nil
	}
	if err := w.file.Close(); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

// writeEntry encodes one entry and appends it with a single write. The caller
// holds w.mu.
func (w *Writer) writeEntry(stream string, text []byte) error {
	line, err := json.Marshal(entry{Log: string(text), Stream: stream, Time: time.Now().UTC()})
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if _, err := w.file.Write(line); err != nil {
		return fmt.Errorf("write log %s: %w", w.file.Name(), err)
	}
	return nil
}

// streamWriter splits one stream's output into entries.
type streamWriter struct {
	w       *Writer
	name    string
	pending []byte // text after the last newline, shorter than MaxLineSize
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()

	if s.w.closed {
		return 0, os.ErrClosed
	}
	data := p
	for len(data) > 0 {
		newline := bytes.IndexByte(data, '\n')
		room := MaxLineSize - len(s.pending)

		if newline >= 0 && newline < room {
			line := append(s.pending, data[:newline+1]...)
			s.pending = s.pending[:0]
			if err := s.w.writeEntry(s.name, line); err != nil {
				return len(p) - len(data), err
			}
			data = data[newline+1:]
			continue
		}
		if len(data) < room {
			s.pending = append(s.pending, data...)
			break
		}

		// The line does not end within MaxLineSize: write a partial entry.
		chunk := append(s.pending, data[:room]...)
		s.pending = s.pending[:0]
		if err := s.w.writeEntry(s.name, chunk); err != nil {
			return len(p) - len(data), err
		}
		data = data[room:]
	}
	return len(p), nil
}
