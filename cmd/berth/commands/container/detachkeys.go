package container

import (
	"bytes"
	"errors"
	"io"
)

// errDetached reports that the user typed the detach key sequence.
var errDetached = errors.New("read escape sequence")

// escapeReader passes input through until it reads the detach sequence, at
// which point it returns errDetached. Bytes that start the sequence are
// held back until it is clear whether the whole sequence follows; if it
// does not, they are passed on.
type escapeReader struct {
	r        io.Reader
	sequence []byte
	matched  int    // length of the sequence prefix seen so far
	pending  []byte // bytes to deliver before reading more
	err      error  // read error to return once pending is delivered
}

func newEscapeReader(r io.Reader, sequence []byte) *escapeReader {
	return &escapeReader{r: r, sequence: sequence}
}

func (e *escapeReader) Read(p []byte) (int, error) {
	if len(e.sequence) == 0 || len(p) == 0 {
		return e.r.Read(p)
	}

	for len(e.pending) == 0 && e.err == nil {
		e.fill(len(p))
	}
	if len(e.pending) == 0 {
		return 0, e.err
	}
	// Data goes out first; a stored error follows on the next call.
	n := copy(p, e.pending)
	e.pending = e.pending[n:]
	return n, nil
}

// fill reads up to size bytes and moves everything that cannot be part of
// the detach sequence to pending.
func (e *escapeReader) fill(size int) {
	buf := make([]byte, size)
	n, err := e.r.Read(buf)

	var out bytes.Buffer
	for _, b := range buf[:n] {
		if b == e.sequence[e.matched] {
			e.matched++
			if e.matched == len(e.sequence) {
				e.pending = out.Bytes()
				e.err = errDetached
				return
			}
			continue
		}
		// A partial match that breaks off is ordinary input after all.
		out.Write(e.sequence[:e.matched])
		e.matched = 0
		if b == e.sequence[0] {
			e.matched = 1
			continue
		}
		out.WriteByte(b)
	}
	if err != nil {
		out.Write(e.sequence[:e.matched])
		e.matched = 0
		e.err = err
	}
	e.pending = out.Bytes()
}
