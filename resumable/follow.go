package resumable

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/stream"
)

// readBytes is about how much one read of an answer returns: a reader far
// behind catches up in batches of this size.
const readBytes = 64 << 10

// eventID is the SSE id of the event of answer id that ends at position pos.
func eventID(id string, pos uint64) string { return id + "/" + durable.FormatOffset(pos) }

// ParseEventID splits an SSE id of an answer's event into the answer's id
// and the position after the event; ok is false when lastID is not of
// that form.
func ParseEventID(lastID string) (id string, pos uint64, ok bool) {
	id, off, found := strings.Cut(lastID, "/")
	if !found || uuid.Validate(id) != nil || off == durable.OffsetStart || off == durable.OffsetNow {
		return "", 0, false
	}
	pos, _, err := durable.ParseOffset(off)
	if err != nil {
		return "", 0, false
	}
	return id, pos, true
}

// Handler returns an http.Handler that serves answers of produce: a request
// without a usable Last-Event-ID starts a new answer; a request with one
// resumes its answer (see the package documentation).
func (s *Streams) Handler(produce Producer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, produce)
	})
}

func (s *Streams) serve(w http.ResponseWriter, r *http.Request, produce Producer) {
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("lastEventID")
	}
	id, pos, resume := ParseEventID(lastID)
	var c *cursor
	if resume {
		info, err := s.store.Stat(r.Context(), s.Name(id))
		switch {
		case errors.Is(err, durable.ErrNotFound), errors.Is(err, durable.ErrGone):
			w.WriteHeader(http.StatusNoContent)
			return
		case err != nil:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "resumable: the answer store is unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		case info.Closed && pos >= info.Tail:
			w.WriteHeader(http.StatusNoContent)
			return
		case pos > info.Tail:
			pos = 0
		}
		c = &cursor{s: s, id: id, stream: info.ID, pos: pos}
	} else {
		p, err := s.begin(r.Context(), s.opts.ClientKey(r))
		if err != nil {
			status := http.StatusServiceUnavailable
			if errors.Is(err, ErrClientProducers) {
				status = http.StatusTooManyRequests
			}
			w.Header().Set("Retry-After", retryAfterBusy)
			http.Error(w, err.Error(), status)
			return
		}
		// The stream exists before the producer starts, so the follower
		// reads the answer from its first event whatever the timing.
		s.start(p, produce)
		c = &cursor{s: s, id: p.id, stream: p.stream}
	}
	s.countFollower(c.id, 1)
	defer s.countFollower(c.id, -1)
	st, err := stream.New(w, r, &s.opts.Stream)
	if err != nil {
		return
	}
	defer st.Complete()
	var buf []byte
	for {
		evs, end, err := c.next(st.Context())
		if err != nil {
			// The client left, the store failed or the answer is gone:
			// the client's reconnection learns which.
			return
		}
		buf = buf[:0]
		for _, ev := range evs {
			buf, _ = ev.AppendTo(buf) // decodeRecords validated it
		}
		if len(buf) > 0 && st.SendEncoded(buf) != nil {
			return
		}
		if end {
			return
		}
	}
}

func (s *Streams) countFollower(id string, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.followers[id] += d; s.followers[id] <= 0 {
		delete(s.followers, id)
	}
}

// cursor reads one answer from a position.
type cursor struct {
	s      *Streams
	id     string
	stream uint64 // the incarnation: a re-created name is another answer
	pos    uint64
}

// next returns the events past the cursor, waiting for some when there
// are none yet; end is true when they reach the end of the closed answer.
func (c *cursor) next(ctx context.Context) (evs []sse.Event, end bool, err error) {
	name := c.s.Name(c.id)
	for {
		res, err := c.s.store.Read(ctx, name, durable.ReadRequest{From: c.pos, MaxBytes: readBytes})
		if err != nil {
			return nil, false, fmt.Errorf("resumable: reading answer %s: %w", c.id, err)
		}
		if res.ID != c.stream {
			return nil, false, fmt.Errorf("resumable: answer %s: %w", c.id, durable.ErrNotFound)
		}
		evs, err := decodeRecords(c.id, res.Records)
		if err != nil {
			return nil, false, err
		}
		c.pos = res.Next
		end := res.Closed && res.Next == res.Tail
		if len(evs) > 0 || end {
			return evs, end, nil
		}
		if err := c.s.store.Wait(ctx, name, c.stream, c.pos); err != nil {
			return nil, false, fmt.Errorf("resumable: waiting for answer %s: %w", c.id, err)
		}
	}
}

// Events yields the events of answer id after position from (0: all of
// them), live, until its terminal event or the first error: a
// durable.ErrNotFound (wrapped) for an answer that does not exist or went
// away. It is how tools other than a browser follow an answer.
func (s *Streams) Events(ctx context.Context, id string, from uint64) iter.Seq2[sse.Event, error] {
	return func(yield func(sse.Event, error) bool) {
		info, err := s.store.Stat(ctx, s.Name(id))
		if err != nil {
			yield(sse.Event{}, fmt.Errorf("resumable: answer %s: %w", id, err))
			return
		}
		c := &cursor{s: s, id: id, stream: info.ID, pos: min(from, info.Tail)}
		for {
			evs, end, err := c.next(ctx)
			if err != nil {
				yield(sse.Event{}, err)
				return
			}
			for _, ev := range evs {
				if !yield(ev, nil) {
					return
				}
			}
			if end {
				return
			}
		}
	}
}
