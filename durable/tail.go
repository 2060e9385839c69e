package durable

import (
	"context"
	"encoding/base64"
	"sync"
)

// recentSteps is how many published steps a tail keeps for readers that
// are a little behind (still writing the previous event when the next one
// came); a reader further behind reads the store itself, so a stuck
// client never pins more than this much of a stream in memory.
const recentSteps = 8

// A tail follows the end of one stream incarnation for its live SSE
// readers: one Wait and one Read per change, whatever the number of
// readers, and the data event encoded once for all of them. Without it
// every reader would wait and read by itself, so one append would cost as
// many store reads (each under the store's lock) as there are readers.
type tail struct {
	key    tailKey
	cancel context.CancelFunc

	mu     sync.Mutex
	refs   int
	head   *step   // the step being waited for; nil once the follower ended
	recent []*step // published steps, oldest first
	// conns are the taken-over readers at head.from, which the follower
	// writes (live.go).
	conns map[*liveConn]struct{}

	// The follower's own, reused from step to step (live.go's deliver).
	batch []*liveConn // conns when the step was published
	buf   []byte
	ctls  []byte
	memo  map[uint64]memoControl
}

type tailKey struct {
	name string
	id   uint64
}

// A step is the read from position from that the follower publishes by
// closing done; its fields are read-only afterwards.
type step struct {
	from uint64
	done chan struct{}

	res ReadResult
	// event is the encoded "event: data" of res.Records ("" when none).
	event []byte
	// end: the stream is gone, re-created, or the follower failed; readers
	// stop as they did when their own wait or read failed.
	end bool
}

// follow returns the tail of stream (name, id), starting a follower at
// pos when none runs; release it with unfollow.
func (s *Server) follow(name string, id, pos uint64) *tail {
	key := tailKey{name, id}
	s.tailsMu.Lock()
	defer s.tailsMu.Unlock()
	t := s.tails[key]
	if t == nil {
		ctx, cancel := context.WithCancel(context.Background())
		t = &tail{key: key, cancel: cancel, head: &step{from: pos, done: make(chan struct{})}}
		s.tails[key] = t
		go s.runTail(ctx, t)
	}
	t.mu.Lock()
	t.refs++
	t.mu.Unlock()
	return t
}

// unfollow releases a tail; the last reader to leave stops its follower.
func (s *Server) unfollow(t *tail) {
	s.tailsMu.Lock()
	defer s.tailsMu.Unlock()
	t.mu.Lock()
	t.refs--
	last := t.refs == 0
	t.mu.Unlock()
	if last {
		if s.tails[t.key] == t {
			delete(s.tails, t.key)
		}
		t.cancel()
	}
}

// at returns the step that starts at pos: a published one the reader has
// not seen yet, or the one being waited for; nil when the reader is too
// far behind or ahead of the follower, or the follower ended, and must
// read by itself.
func (t *tail) at(pos uint64) *step {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, st := range t.recent {
		if st.from == pos {
			return st
		}
	}
	if t.head != nil && t.head.from == pos {
		return t.head
	}
	return nil
}

// runTail is the follower: it waits for a change past the head step's
// position, reads once, encodes once, publishes the step to every reader
// waiting on it and writes it to the taken-over ones, until the stream
// closes or ends or no reader is left.
func (s *Server) runTail(ctx context.Context, t *tail) {
	defer func() {
		s.tailsMu.Lock()
		if s.tails[t.key] == t {
			delete(s.tails, t.key)
		}
		s.tailsMu.Unlock()
	}()
	t.mu.Lock()
	head := t.head
	t.mu.Unlock()
	for {
		res, err := s.tailRead(ctx, t.key, head.from)
		if err == nil && len(res.Records) == 0 && !res.Closed {
			continue // a wake-up without data (e.g. a TTL change): wait again
		}
		head.res = res
		head.end = err != nil
		if err == nil && len(res.Records) > 0 {
			head.event = encodeData(res)
		}
		final := head.end || res.Next == res.Tail && res.Closed
		var next *step
		if !final {
			next = &step{from: res.Next, done: make(chan struct{})}
		}
		t.mu.Lock()
		t.recent = append(t.recent, head)
		if len(t.recent) > recentSteps {
			t.recent[0] = nil
			t.recent = t.recent[1:]
		}
		t.head = next
		for c := range t.conns {
			t.batch = append(t.batch, c)
		}
		if final {
			clear(t.conns) // deliver ends them all
		}
		t.mu.Unlock()
		close(head.done)
		if len(t.batch) > 0 {
			s.deliver(t, head, final)
		}
		if final {
			return
		}
		head = next
	}
}

// tailRead waits for a change of the stream past pos and reads from pos.
// An error ends the follower: the stream is gone or re-created (ErrNotFound),
// the store failed, or the last reader left.
func (s *Server) tailRead(ctx context.Context, key tailKey, pos uint64) (ReadResult, error) {
	if err := s.cfg.Store.Wait(ctx, key.name, key.id, pos); err != nil {
		return ReadResult{}, err
	}
	res, err := s.cfg.Store.Read(ctx, key.name, ReadRequest{From: pos, MaxBytes: s.cfg.MaxReadBytes})
	if err == nil && res.ID != key.id {
		err = ErrNotFound
	}
	return res, err
}

// encodeData is the SSE data event of a read's records: text as it is,
// other content types in base64 (§5.8).
func encodeData(res ReadResult) []byte {
	payload := body(res.ContentType, res.Records)
	if !isText(res.ContentType) {
		payload = base64.StdEncoding.AppendEncode(nil, payload)
	}
	return appendData([]byte("event: data\n"), payload)
}
