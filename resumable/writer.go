package resumable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/sse"
)

// Producer writes one answer's events. ctx ends when the answer is
// canceled or the Streams close; the producer does not see clients come
// and go. A nil return ends the answer with a DoneType event, an error with
// an ErrorType event carrying the error's message.
type Producer func(ctx context.Context, w *Writer) error

// Writer appends a producer's events to its answer. It is used by one
// goroutine.
type Writer struct {
	s *Streams
	p *producer
}

// StreamID returns the id of the answer being written.
func (w *Writer) StreamID() string { return w.p.id }

// Send appends ev as the answer's next event. Only its type and data are
// kept: the id is the follower's (the answer and the offset) and comments
// and retry are the follower's business. Once the answer was canceled,
// Send fails with an error wrapping ErrCanceled.
func (w *Writer) Send(ctx context.Context, ev sse.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	if ev.Type == "message" {
		ev.Type = "" // the default type: stored as none
	}
	m := message{Type: ev.Type, Data: ev.Data}
	res, err := w.s.store.Append(ctx, w.p.name, durable.AppendRequest{ContentType: ContentType, Data: m.encode(), Units: 1})
	if errors.Is(err, durable.ErrClosed) || errors.Is(err, durable.ErrNotFound) {
		w.p.cancel(ErrCanceled)
		return fmt.Errorf("resumable: answer %s: %w (%w)", w.p.id, ErrCanceled, err)
	}
	if err != nil {
		return fmt.Errorf("resumable: answer %s: appending an event: %w", w.p.id, err)
	}
	if res.Tail > w.p.tail.Load() {
		w.p.tail.Store(res.Tail)
	}
	return nil
}

// SendJSON appends v, encoded as JSON, as the data of a "message" event.
func (w *Writer) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("resumable: encoding JSON data: %w", err)
	}
	return w.Send(ctx, sse.Event{Data: string(b)})
}

// message is one event as an answer's stream keeps it: one JSON message of
// the application/json stream. Data is always a string (JSON data stays
// the text it was sent as), so that the follower gives the browser back
// exactly the data the producer sent.
type message struct {
	Type string `json:"type,omitempty"`
	Data string `json:"data"`
}

func (m message) encode() []byte {
	b, _ := json.Marshal(m) // two strings always encode
	return b
}

// decodeRecords turns records of answer id into SSE events, each with the
// id "<id>/<offset after it>".
func decodeRecords(id string, recs []durable.Record) ([]sse.Event, error) {
	var out []sse.Event
	for _, r := range recs {
		msgs, err := durable.SplitJSON(r.Data)
		if err != nil {
			return out, fmt.Errorf("resumable: answer %s at %d: %w", id, r.Pos, err)
		}
		for i, raw := range msgs {
			var m message
			if err := json.Unmarshal(raw, &m); err != nil {
				return out, fmt.Errorf("resumable: answer %s at %d: not an event: %w", id, r.Pos+uint64(i), err)
			}
			ev := sse.Event{ID: eventID(id, r.Pos+uint64(i)+1), Type: m.Type, Data: m.Data}
			if err := ev.Validate(); err != nil {
				// Written by another Durable Streams client: refuse to
				// corrupt the browser's stream.
				return out, fmt.Errorf("resumable: answer %s at %d: %w", id, r.Pos+uint64(i), err)
			}
			out = append(out, ev)
		}
	}
	return out, nil
}
