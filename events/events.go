// Package events is the daemon's in-process event bus behind GET /events.
// It keeps a bounded history so that clients can ask for events since a
// point in time, and fans new events out to subscribers.
package events

import (
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
)

const historySize = 1024

// Bus records events and delivers them to subscribers.
type Bus struct {
	mu      sync.Mutex
	history []events.Message
	subs    map[chan events.Message]struct{}
}

// New returns an empty bus.
func New() *Bus {
	return &Bus{subs: map[chan events.Message]struct{}{}}
}

// Publish records an event about an object and delivers it. A subscriber
// that is not keeping up loses the event rather than blocking the daemon.
func (b *Bus) Publish(typ events.Type, action events.Action, id string, attrs map[string]string) {
	// Docker Engine always sends Actor.Attributes as an object, never null.
	if attrs == nil {
		attrs = map[string]string{}
	}
	now := time.Now().UTC()
	msg := events.Message{
		Type:     typ,
		Action:   action,
		Actor:    events.Actor{ID: id, Attributes: attrs},
		Scope:    "local",
		Time:     now.Unix(),
		TimeNano: now.UnixNano(),
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	b.history = append(b.history, msg)
	if len(b.history) > historySize {
		b.history = b.history[len(b.history)-historySize:]
	}
	for ch := range b.subs {
		select {
		case ch <- msg:
		default:
		}
	}
}

// Subscribe returns the recorded events at or after since (none when since
// is zero) and a channel of new ones. Call the returned function to stop.
func (b *Bus) Subscribe(since time.Time) ([]events.Message, <-chan events.Message, func()) {
	ch := make(chan events.Message, 256)

	b.mu.Lock()
	var past []events.Message
	if !since.IsZero() {
		for _, m := range b.history {
			if m.TimeNano >= since.UnixNano() {
				past = append(past, m)
			}
		}
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()

	cancel := func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
	return past, ch, cancel
}
