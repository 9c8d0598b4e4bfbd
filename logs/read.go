package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"
)

// ReadOptions select the entries Read returns.
type ReadOptions struct {
	// Follow keeps reading new entries after the end of the file, until
	// stopFollow is closed or ctx is done.
	Follow bool
	// Tail is the number of last matching entries to return from the
	// existing log. A negative value returns all of them and 0 none, so
	// that only followed entries are returned.
	Tail int
	// Since and Until bound the entry times, both inclusive. A zero time
	// leaves that side open.
	Since, Until time.Time
	// Stdout and Stderr select the streams. When both are false, both
	// streams are returned.
	Stdout, Stderr bool
}

// Message is one log entry.
type Message struct {
	Stream string
	Time   time.Time
	// Line is the text with its trailing newline, when it had one.
	Line []byte
}

// tailBlockSize is the size of the blocks Read scans backwards for Tail.
const tailBlockSize = 32 * 1024

// Read calls fn with the log entries of path that match opts, oldest first.
// A missing file reads as empty. With Follow it then waits for new entries.
// Once stopFollow is closed (the container exited), it reads what remains
// and returns. It returns ctx's error when ctx is done and fn's error when fn
// fails.
func Read(ctx context.Context, path string, opts ReadOptions, stopFollow <-chan struct{}, fn func(Message) error) error {
	if !opts.Stdout && !opts.Stderr {
		opts.Stdout, opts.Stderr = true, true
	}
	r := &reader{path: path, opts: opts, fn: fn}

	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("open log %s: %w", path, err)
	default:
		r.file = f
		defer func() { r.file.Close() }()

		done, err := r.readExisting()
		if err != nil || done {
			return err
		}
	}

	if !opts.Follow {
		return nil
	}
	return r.follow(ctx, stopFollow)
}

// reader is the state of one Read call.
type reader struct {
	path string
	opts ReadOptions
	fn   func(Message) error

	file    *os.File // nil until the log exists
	offset  int64    // file offset up to which entries have been handled
	pending []byte   // bytes after offset that do not end in a newline yet
}

// readExisting handles the entries already in the file. done is true when
// Until was passed, so that nothing newer can match.
func (r *reader) readExisting() (done bool, err error) {
	if r.opts.Tail < 0 {
		return r.readNew()
	}

	info, err := r.file.Stat()
	if err != nil {
		return false, fmt.Errorf("stat log %s: %w", r.path, err)
	}
	end, err := r.lastNewline(info.Size())
	if err != nil {
		return false, err
	}
	messages, err := r.tail(end)
	if err != nil {
		return false, err
	}
	r.offset = end
	for _, m := range messages {
		if err := r.fn(m); err != nil {
			return false, err
		}
	}
	return false, nil
}

// lastNewline returns the offset just past the last newline before size, so
// that an entry still being written is left for following.
func (r *reader) lastNewline(size int64) (int64, error) {
	buf := make([]byte, tailBlockSize)
	for end := size; end > 0; {
		start := max(0, end-tailBlockSize)
		n, err := r.file.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("read log %s: %w", r.path, err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// tail scans the file backwards from end and returns the last Tail matching
// entries, oldest first.
func (r *reader) tail(end int64) ([]Message, error) {
	var (
		found []Message
		carry []byte // start of a line whose beginning lies in an earlier block
	)
	buf := make([]byte, tailBlockSize)
	for end > 0 && len(found) < r.opts.Tail {
		start := max(0, end-tailBlockSize)
		n, err := r.file.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read log %s: %w", r.path, err)
		}
		block := append(slices.Clone(buf[:n]), carry...)
		end = start

		// Every line but the first is complete. The first may continue in
		// the previous block, unless this block starts the file.
		lines := bytes.Split(bytes.TrimSuffix(block, []byte("\n")), []byte("\n"))
		first := 0
		if start > 0 {
			carry = lines[0]
			first = 1
		}
		for i := len(lines) - 1; i >= first && len(found) < r.opts.Tail; i-- {
			m, ok := r.match(lines[i])
			if ok {
				found = append(found, m)
			}
		}
	}
	slices.Reverse(found)
	return found, nil
}

// readNew handles every complete line from offset to the end of the file.
func (r *reader) readNew() (done bool, err error) {
	buf := make([]byte, tailBlockSize)
	for {
		n, err := r.file.ReadAt(buf, r.offset+int64(len(r.pending)))
		if n > 0 {
			r.pending = append(r.pending, buf[:n]...)
			if done, err := r.handlePending(); err != nil || done {
				return done, err
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read log %s: %w", r.path, err)
		}
	}
}

// handlePending passes the complete lines of r.pending to fn and advances
// offset past them.
func (r *reader) handlePending() (done bool, err error) {
	for {
		i := bytes.IndexByte(r.pending, '\n')
		if i < 0 {
			return false, nil
		}
		line := r.pending[:i]
		r.pending = r.pending[i+1:]
		r.offset += int64(i + 1)

		var e entry
		if json.Unmarshal(line, &e) != nil {
			continue
		}
		if !r.opts.Until.IsZero() && e.Time.After(r.opts.Until) {
			return true, nil
		}
		if m, ok := r.filter(e); ok {
			if err := r.fn(m); err != nil {
				return false, err
			}
		}
	}
}

// match decodes a line and applies the stream and time filters.
func (r *reader) match(line []byte) (Message, bool) {
	var e entry
	if json.Unmarshal(line, &e) != nil {
		return Message{}, false
	}
	if !r.opts.Until.IsZero() && e.Time.After(r.opts.Until) {
		return Message{}, false
	}
	return r.filter(e)
}

// filter applies the stream and Since filters to a decoded entry.
func (r *reader) filter(e entry) (Message, bool) {
	switch {
	case e.Stream == Stdout && !r.opts.Stdout:
		return Message{}, false
	case e.Stream == Stderr && !r.opts.Stderr:
		return Message{}, false
	case !r.opts.Since.IsZero() && e.Time.Before(r.opts.Since):
		return Message{}, false
	}
	return Message{Stream: e.Stream, Time: e.Time, Line: []byte(e.Log)}, true
}
