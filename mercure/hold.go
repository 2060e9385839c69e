package mercure

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// hold paces the streams served by their own goroutines (HTTP/2, HTTP/3,
// TLS) together, as the writer pool's pacer paces a shard. Such a stream
// pays for each write far more than a taken-over socket does (over HTTP/2
// a flush is a frame handed to the connection's goroutine, which hands it
// to a writer goroutine of its own, and back), so what saves CPU is
// carrying many updates per write. A pause of each stream after its own
// write does not achieve that under load: the streams' writes of one
// update are spread over a whole round of the scheduler, longer than the
// pause, so each stream is woken by the next update alone. Instead, a
// stream that finds a second update queued behind one that waited longer
// than Coalesce (it did not get to run between two publications: the hub
// is behind) raises a hold shared by all, as long as that wait (at most
// maxHoldFactor × Coalesce), and every stream waits for the hold to end
// before it drains its queue. The publishers get the CPU meanwhile, and
// when the hold ends each stream takes everything published during it in
// one write. While the streams take each update before the next comes,
// however long a round of them takes, nobody raises it and each update
// leaves as soon as it is published.
//
// The zero hold is ready to use.
type hold struct {
	until atomic.Int64 // Unix nanoseconds; the hold is over before it

	mu    sync.Mutex
	over  chan struct{} // closed when the hold ends; nil while there is none
	timer *time.Timer   // ends the hold
}

// maxHoldFactor bounds a hold to this many times Coalesce: the most
// latency the hold adds to an update.
const maxHoldFactor = 8

// note records that a stream wrote, at now, an update published lag ago,
// and raises or extends the hold when the stream is behind.
func (h *hold) note(now time.Time, lag, coalesce time.Duration) {
	if lag <= coalesce {
		return
	}
	until := now.Add(min(lag, maxHoldFactor*coalesce))
	// Extending by less than Coalesce is not worth the lock: every stream
	// of a round would take it.
	if until.UnixNano()-h.until.Load() < int64(coalesce) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.until.Store(until.UnixNano())
	if h.over != nil {
		h.timer.Reset(until.Sub(now))
		return
	}
	h.over = make(chan struct{})
	if h.timer == nil {
		h.timer = time.AfterFunc(until.Sub(now), h.end)
	} else {
		h.timer.Reset(until.Sub(now))
	}
}

// end ends the hold, unless it was extended past now.
func (h *hold) end() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.over == nil {
		return
	}
	if left := time.Until(time.Unix(0, h.until.Load())); left > 0 {
		h.timer.Reset(left)
		return
	}
	close(h.over)
	h.over = nil
}

// wait returns a channel closed when the hold ends, or nil when there is
// no hold at now.
func (h *hold) wait(now time.Time) <-chan struct{} {
	if h.until.Load() <= now.UnixNano() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.over
}

// await waits until the hold, if any, ends. It reports false when ctx
// ended first.
func (h *hold) await(ctx context.Context) bool {
	over := h.wait(time.Now())
	if over == nil {
		return true
	}
	select {
	case <-over:
		return true
	case <-ctx.Done():
		return false
	}
}

// notified is when a stream's queue last became non-empty, by this
// process's clock (an update's own time is its publisher's, on another
// node of a cluster). Its stamp is the subscription's Notify.
type notified struct {
	at atomic.Int64 // Unix nanoseconds; 0: not since the last take
}

// stamp notes that the queue is no longer empty, unless it already was.
func (n *notified) stamp() { n.at.CompareAndSwap(0, time.Now().UnixNano()) }

// take returns how long the stream kept its queue waiting: from when the
// queue became non-empty, or from free (when the stream's previous write
// ended) if that is later, to now; zero if it was not stamped. It starts
// over. Time spent writing is the client's, not the hub's: a slow client
// must not raise the hold for everyone.
func (n *notified) take(now, free time.Time) time.Duration {
	at := n.at.Swap(0)
	if at == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, max(at, free.UnixNano())))
}
