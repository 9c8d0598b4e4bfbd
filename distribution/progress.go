package distribution

import (
	"io"
	"sync"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
)

// progressInterval is the least time between two progress updates of one
// layer, so a fast transfer does not flood the client.
const progressInterval = 100 * time.Millisecond

// Progress sends Docker's JSON progress messages for pulls and pushes. It
// is safe for concurrent use.
type Progress struct {
	mu   sync.Mutex
	send func(jsonstream.Message) error
	err  error // first error of send; later messages are dropped
}

// NewProgress returns a Progress that passes each message to send. After
// send fails once, messages are dropped, so a client that went away does
// not stop the transfer.
func NewProgress(send func(jsonstream.Message) error) *Progress {
	return &Progress{send: send}
}

func discardProgress() *Progress {
	return NewProgress(func(jsonstream.Message) error { return nil })
}

func (p *Progress) emit(m jsonstream.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = p.send(m)
	}
}

// status sends a status line, for the layer or line id ("" for none).
func (p *Progress) status(id, status string) {
	m := jsonstream.Message{ID: id, Status: status}
	if id != "" {
		m.Progress = &jsonstream.Progress{}
	}
	p.emit(m)
}

// reader returns r, sending status messages with the bytes read so far out
// of total for id as it is read.
func (p *Progress) reader(id, status string, total int64, r io.ReadCloser) io.ReadCloser {
	return &progressReader{ReadCloser: r, progress: p, id: id, status: status, total: total}
}

type progressReader struct {
	io.ReadCloser
	progress *Progress
	id       string
	status   string
	total    int64
	current  int64
	last     time.Time
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.current += int64(n)
	if now := time.Now(); now.Sub(r.last) >= progressInterval || (err != nil && n > 0) {
		r.last = now
		r.progress.emit(jsonstream.Message{
			ID:       r.id,
			Status:   r.status,
			Progress: &jsonstream.Progress{Current: r.current, Total: r.total},
		})
	}
	return n, err
}
