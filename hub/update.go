package hub

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// Update is one published update: the content of a new version of one or
// more topics.
//
// Once appended to a Store an Update is shared by the store, the hub and
// every subscriber: nobody may modify it afterwards.
type Update struct {
	// ID identifies the update; it is the event's id on the wire and what a
	// reconnecting client sends back in Last-Event-ID. Hub.Publish generates
	// a "urn:uuid:" ID when it is empty.
	ID string
	// Topics lists the topics this update is about; the first is the
	// canonical topic and the others are alternates. At least one.
	Topics []string
	// Data is the event's data, line endings preserved as far as the event
	// stream format allows (each line becomes one data line).
	Data string
	// Type is the event's type ("event:" line); empty for the default.
	Type string
	// Retry is the reconnection time hint ("retry:" line); zero for none.
	Retry time.Duration
	// Private updates reach only subscribers authorized for one of Topics.
	Private bool

	// Seq is the position of the update in the store's global order. It is
	// assigned by Store.Append, strictly increasing, and never zero once
	// stored.
	Seq uint64
	// Time is when the update was published; Hub.Publish sets it when zero.
	Time time.Time
}

// Event returns the event-stream event that carries u to subscribers.
func (u *Update) Event() sse.Event {
	return sse.Event{ID: u.ID, Type: u.Type, Data: u.Data, Retry: u.Retry}
}

// Clone returns a deep copy of u, for stores that must not share the
// caller's update.
func (u *Update) Clone() *Update {
	c := *u
	c.Topics = slices.Clone(u.Topics)
	return &c
}

// Validate reports whether u can be published: it needs at least one topic,
// and its id and type must be encodable without corrupting the stream (no
// line break, no U+0000 in the id). The error wraps ErrInvalidUpdate.
func (u *Update) Validate() error {
	if len(u.Topics) == 0 {
		return fmt.Errorf("%w: no topic", ErrInvalidUpdate)
	}
	ev := u.Event()
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidUpdate, err)
	}
	return nil
}

// Message is an update encoded for the wire. Bytes is the complete event,
// blank line included; it is shared read-only by every subscriber the update
// is delivered to.
type Message struct {
	Update *Update
	Bytes  []byte
}

// encode returns the Message of u, encoded once.
func encode(u *Update) (*Message, error) {
	ev := u.Event()
	b, err := ev.AppendTo(make([]byte, 0, len(u.Data)+len(u.ID)+len(u.Type)+32))
	if err != nil {
		return nil, fmt.Errorf("hub: encode update %q: %w", u.ID, err)
	}
	return &Message{Update: u, Bytes: b}, nil
}

// Errors callers branch on.
var (
	// ErrInvalidUpdate is wrapped by every error about an update that cannot
	// be published as given.
	ErrInvalidUpdate = errors.New("hub: invalid update")
	// ErrUnknownID is returned (wrapped) by Store.Lookup for an ID that is
	// not, or no longer, in history.
	ErrUnknownID = errors.New("hub: unknown update id")
	// ErrClosed is returned (wrapped) by a closed Store or Hub, and is the
	// Err of every subscription the hub ended by closing.
	ErrClosed = errors.New("hub: closed")
	// ErrUnavailable is wrapped by a Store's errors when its server cannot
	// be reached or did not answer: the operation may or may not have taken
	// effect, and can be retried later (the HTTP adapter answers 503 with
	// Retry-After).
	ErrUnavailable = errors.New("hub: store unavailable")
	// ErrSlowConsumer is the Err of a subscription the hub ended because its
	// queue overflowed.
	ErrSlowConsumer = errors.New("hub: subscriber too slow, queue overflowed")
)
