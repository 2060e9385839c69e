package hub

import (
	"sort"
	"sync"
)

// Defaults of the replay cache (Config.ReplayCache, Config.ReplayCacheBytes).
const (
	DefaultReplayCache      = 4096
	DefaultReplayCacheBytes = 64 << 20
)

// recent keeps the newest messages the follower fanned out, encoded, in
// fan-out order, so that a replay of recent history (a client that
// reconnects with Last-Event-ID, a resumed stream) neither reads the store
// nor encodes again: the same bytes serve every replaying subscriber.
type recent struct {
	max, maxBytes int

	mu    sync.RWMutex
	ring  []*Message // ring[(start+i)%len(ring)], i < n, oldest first
	start int
	n     int
	bytes int
}

func newRecent(max, maxBytes int) *recent {
	if max == 0 {
		max = DefaultReplayCache
	}
	if maxBytes == 0 {
		maxBytes = DefaultReplayCacheBytes
	}
	if max < 0 || maxBytes < 0 {
		return &recent{}
	}
	return &recent{max: max, maxBytes: maxBytes}
}

func (r *recent) size(m *Message) int { return len(m.Bytes) + len(m.Update.Data) + 256 }

// add appends m, the newest message, evicting the oldest ones beyond the
// count and byte bounds. Follower goroutine only.
func (r *recent) add(m *Message) {
	if r.max <= 0 {
		return
	}
	sz := r.size(m)
	if sz > r.maxBytes {
		r.mu.Lock()
		r.start, r.n, r.bytes = 0, 0, 0 // a gap: nothing older may be served
		clear(r.ring)
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ring == nil {
		r.ring = make([]*Message, r.max)
	}
	for r.n > 0 && (r.n == len(r.ring) || r.bytes+sz > r.maxBytes) {
		r.bytes -= r.size(r.ring[r.start])
		r.ring[r.start] = nil
		r.start = (r.start + 1) % len(r.ring)
		r.n--
	}
	r.ring[(r.start+r.n)%len(r.ring)] = m
	r.n++
	r.bytes += sz
}

// page appends to dst up to limit messages with Seq > after, oldest first.
// It reports false, appending nothing, when it cannot vouch that it holds
// every fanned-out message after after: when after is older than its oldest
// message (evicted ones might lie between).
func (r *recent) page(after uint64, limit int, dst []*Message) ([]*Message, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.n == 0 || r.at(0).Update.Seq > after {
		return dst, false
	}
	i := sort.Search(r.n, func(i int) bool { return r.at(i).Update.Seq > after })
	for ; i < r.n && limit > 0; i, limit = i+1, limit-1 {
		dst = append(dst, r.at(i))
	}
	return dst, true
}

// fit returns how many updates of the cache's average size fit in
// pageBytes, between 1 and most; 1 when the cache is empty, so that a
// first read of unknown updates is one update, not most of them.
func (r *recent) fit(pageBytes, most int) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.n == 0 {
		return 1
	}
	return fit(pageBytes, most, r.bytes/r.n/2) // size counts data twice
}

func (r *recent) at(i int) *Message { return r.ring[(r.start+i)%len(r.ring)] }
