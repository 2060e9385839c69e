package mercure

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/sockwrite"
)

// The writer pool serves the event streams of HTTP/1.1 connections taken
// over (hijacked) after the response headers. An idle subscriber then costs
// no handler goroutine, no net/http buffers and no timer of its own: only a
// small goroutine blocked in Read, which notices when the client leaves.
//
// Each shard has one goroutine that writes, for every subscription made
// ready by the hub, everything queued in one chunk with one non-blocking
// write, and sends the shard's heartbeats. A write the socket cannot take
// whole is finished by a goroutine of the subscriber's own, with the write
// deadline, so that a slow client never holds a shard. While updates come
// faster than the shard can write them out, it pauses after each round for
// Config.Coalesce or longer: updates published meanwhile leave together, one
// write per subscriber for many updates. While it keeps up, it does not
// pause: each update leaves as soon as it is published (see pacer).

// pool is the Server's writer pool, started with the first taken-over
// connection.
type pool struct {
	s      *Server
	shards []*shard
	next   atomic.Uint32
	wg     sync.WaitGroup

	mu      sync.Mutex
	started bool
	stopped bool
}

// shard is one writer goroutine and the sessions it serves.
type shard struct {
	p    *pool
	wake chan struct{} // capacity 1
	stop chan struct{}
	buf  []byte // chunk being written, reused; owned by the shard goroutine
	msgs []*hub.Message
	pace pacer // owned by the shard goroutine
	// snapshot is the heartbeat round's copy of the sessions, reused;
	// owned by the shard goroutine.
	snapshot []*session
	mu       sync.Mutex // guards dirty and all
	dirty    []*session
	spare    []*session
	all      map[*session]struct{}
}

// session is one taken-over event stream.
type session struct {
	sh     *shard
	conn   net.Conn
	sub    feed
	expiry *time.Timer // token expiry, or nil

	// nb writes without waiting; when it cannot (no descriptor), every
	// write goes through the blocking path.
	nb sockwrite.Writer

	// wrote: an update was written since the last heartbeat round. Only
	// the shard goroutine uses it.
	wrote bool

	mu      sync.Mutex
	queued  bool // in sh.dirty
	blocked bool // a goroutine of the session's own is writing
	expired bool // the token expired
	gone    bool // the client closed the connection
	ended   bool
}

func newPool(s *Server) *pool {
	p := &pool{s: s}
	n := runtime.GOMAXPROCS(0)
	for range n {
		p.shards = append(p.shards, &shard{p: p, wake: make(chan struct{}, 1), stop: make(chan struct{}), all: map[*session]struct{}{}})
	}
	return p
}

// add registers a taken-over connection and starts serving it. It reports
// false when the pool has stopped (the caller then ends the stream).
func (p *pool) add(c *session) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	if !p.started {
		p.started = true
		for _, sh := range p.shards {
			p.wg.Add(1)
			go sh.run()
		}
	}
	sh := p.shards[int(p.next.Add(1))%len(p.shards)]
	c.sh = sh
	sh.mu.Lock()
	sh.all[c] = struct{}{}
	sh.mu.Unlock()
	return true
}

// stop ends every session still served (with the retry hint when the hub
// has closed) and stops the shards. It is idempotent.
func (p *pool) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	started := p.started
	p.mu.Unlock()
	if started {
		for _, sh := range p.shards {
			close(sh.stop)
		}
		p.wg.Wait()
	}
}

func (sh *shard) run() {
	defer sh.p.wg.Done()
	s := sh.p.s
	var heartbeat <-chan time.Time
	if s.cfg.Heartbeat > 0 {
		t := time.NewTicker(s.cfg.Heartbeat)
		defer t.Stop()
		heartbeat = t.C
	}
	for {
		select {
		case <-sh.stop:
			sh.endAll()
			return
		case <-heartbeat:
			sh.heartbeat()
		case <-sh.wake:
			began := time.Now()
			sh.mu.Lock()
			batch := sh.dirty
			sh.dirty = sh.spare[:0]
			sh.mu.Unlock()
			if len(batch) == 0 { // the previous round took what woke us
				sh.spare = batch
				continue
			}
			sh.pace.begin(began, s.cfg.Coalesce)
			s.rounds.Add(1)
			for i, c := range batch {
				sh.serve(c)
				batch[i] = nil
			}
			sh.spare = batch[:0]
			if d := sh.pace.pause(began, time.Now(), s.cfg.Coalesce); d > 0 {
				s.pauses.Add(1)
				// Let publishers run (the network is polled when this
				// goroutine parks): what they publish meanwhile goes out
				// in the next round, several updates per write.
				time.Sleep(d)
			}
			sh.pace.end = time.Now()
		}
	}
}

// pacer decides whether a shard pauses after a round of writes. A pause
// buys something only when updates come faster than the shard writes them
// out: then each write carries several, and the CPU goes to publishers
// instead of system calls. When updates come slower, a pause only delays
// the next one. The pacer calls the shard busy when two rounds in a row
// began before the shard had been idle as long as its previous round took
// (or Coalesce, for short rounds): one quick follower is a coincidence, or
// the rest of a fan-out queued on another core, not a load.
type pacer struct {
	end    time.Time     // when the previous round and its pause ended
	round  time.Duration // how long the previous round took
	streak int           // rounds in a row that began after a short idle
}

// begin notes a round beginning at now.
func (p *pacer) begin(now time.Time, coalesce time.Duration) {
	if !p.end.IsZero() && now.Sub(p.end) < max(p.round, coalesce) {
		p.streak++
	} else {
		p.streak = 0
	}
}

// pause notes the round that began at began ending at now, and returns how
// long to pause: zero unless the shard is busy; otherwise as long as the
// round, between Coalesce and eight times Coalesce, so that a large
// fan-out, whose rounds are long, carries more per write.
func (p *pacer) pause(began, now time.Time, coalesce time.Duration) time.Duration {
	p.round = now.Sub(began)
	if p.streak < 2 {
		return 0
	}
	return min(max(coalesce, p.round), 8*coalesce)
}

// push queues c for the shard goroutine.
func (sh *shard) push(c *session) {
	sh.mu.Lock()
	sh.dirty = append(sh.dirty, c)
	sh.mu.Unlock()
	select {
	case sh.wake <- struct{}{}:
	default:
	}
}

// mark asks the shard to look at c: something is queued, it ended, the
// token expired or the client left. It never blocks; it is called by the
// hub (Notify), timers, c's reader and c's blocking writer.
func (c *session) mark() {
	c.mu.Lock()
	if c.queued || c.blocked || c.ended {
		c.mu.Unlock()
		return
	}
	c.queued = true
	c.mu.Unlock()
	c.sh.push(c)
}

// serve writes what is queued for c, or ends it. Shard goroutine only.
func (sh *shard) serve(c *session) {
	c.mu.Lock()
	c.queued = false
	if c.ended || c.blocked {
		c.mu.Unlock()
		return
	}
	expired, gone := c.expired, c.gone
	c.mu.Unlock()
	s := sh.p.s
	switch {
	case gone:
		c.finish(nil)
		return
	case expired:
		s.log.Debug("mercure: subscriber token expired", "subscriber", c.sub.Info().ID)
		c.finish(nil)
		return
	}
	// Drain hands out a page at a time: go on while the socket takes each
	// page whole, so that a subscriber that keeps up empties its queue in
	// one round (else it would overflow during the pause), and stop at the
	// first page it does not take, which its own goroutine finishes.
	for range maxPagesPerRound {
		msgs, err := c.sub.Drain(context.Background(), sh.msgs[:0])
		if err != nil {
			var tail []byte
			if hint := s.endHint(c.sub, err); hint != nil {
				tail = chunk(hint)
			}
			c.finish(tail)
			return
		}
		if len(msgs) == 0 {
			return
		}
		size := 0
		for _, m := range msgs {
			size += len(m.Bytes)
		}
		published := msgs[0].Update.Time
		buf := appendChunkHeader(sh.buf[:0], size)
		buf = appendMessages(buf, msgs)
		buf = append(buf, "\r\n"...)
		sh.msgs = msgs[:0]
		c.wrote = true // a heartbeat does not count: idle streams get one every round
		whole := c.write(buf)
		if whole {
			s.writeDelay.Observe(time.Since(published).Seconds())
		}
		if cap(buf) > 1<<20 { // do not keep a huge buffer after a burst
			buf = nil
		}
		sh.buf = buf
		if !whole {
			return
		}
	}
}

// maxPagesPerRound bounds the pages one session is written in a round of
// its shard, so that a subscriber of a busy topic does not hold the others
// of the shard back for long.
const maxPagesPerRound = 64

// heartbeat writes a comment to every stream that was not written to since
// the previous round. Shard goroutine only.
func (sh *shard) heartbeat() {
	sh.snapshot = sh.sessions(sh.snapshot[:0])
	for _, c := range sh.snapshot {
		if c.wrote {
			c.wrote = false
			continue
		}
		c.mu.Lock()
		skip := c.blocked || c.ended
		c.mu.Unlock()
		if !skip {
			c.write(sh.p.s.heartbeatChunk)
		}
	}
	clear(sh.snapshot) // do not keep ended sessions alive until the next round
}

// sessions appends the shard's sessions to dst: a copy to work through
// without holding the shard's lock.
func (sh *shard) sessions(dst []*session) []*session {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for c := range sh.all {
		dst = append(dst, c)
	}
	return dst
}

// endAll ends every session of the shard (the pool is stopping).
func (sh *shard) endAll() {
	for _, c := range sh.sessions(nil) {
		c.mu.Lock()
		blocked := c.blocked
		c.mu.Unlock()
		if blocked {
			c.conn.Close() // its writer fails and ends it
			continue
		}
		var tail []byte
		if errors.Is(c.sub.Err(), hub.ErrClosed) {
			tail = sh.p.s.retryChunk
		}
		c.finish(tail)
	}
}

// write sends b, which the caller may reuse once write returns: at once if
// the socket takes it, otherwise the rest is copied and written by a
// goroutine of c's own. It reports whether the socket took all of b now.
// Called by the goroutine that owns c's writes.
func (c *session) write(b []byte) bool {
	n, err := c.nb.Write(b)
	c.sh.p.s.written.Add(uint64(n))
	if err != nil {
		c.mu.Lock()
		c.gone = true
		c.mu.Unlock()
		c.finish(nil)
		return false
	}
	if n == len(b) {
		return true
	}
	rest := append([]byte(nil), b[n:]...)
	c.mu.Lock()
	c.blocked = true
	c.mu.Unlock()
	go c.writeBlocking(rest)
	return false
}

// writeBlocking finishes a write the socket could not take at once, with
// the write deadline, then hands c back to its shard. It runs on a
// goroutine of its own, so that only this subscriber waits.
func (c *session) writeBlocking(b []byte) {
	s := c.sh.p.s
	_ = c.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	n, err := c.conn.Write(b)
	s.written.Add(uint64(n))
	// Then what was queued meanwhile, a page at a time, from here: this
	// subscriber takes bytes at its own pace, and going back to the shard
	// for each page would add a round's pause per page, long enough for a
	// subscriber that keeps up to overflow its queue.
	var msgs []*hub.Message
	var buf []byte
	for i := 0; err == nil && i < maxPagesPerRound; i++ {
		var derr error
		if msgs, derr = c.sub.Drain(context.Background(), msgs[:0]); derr != nil || len(msgs) == 0 {
			break // the shard ends the stream, or waits for more
		}
		size := 0
		for _, m := range msgs {
			size += len(m.Bytes)
		}
		published := msgs[0].Update.Time
		buf = appendChunkHeader(buf[:0], size)
		buf = append(appendMessages(buf, msgs), "\r\n"...)
		_ = c.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		n, err = c.conn.Write(buf)
		s.written.Add(uint64(n))
		if err == nil {
			s.writeDelay.Observe(time.Since(published).Seconds())
		}
	}
	c.mu.Lock()
	c.blocked = false
	if err != nil {
		c.gone = true
	}
	c.mu.Unlock()
	if err != nil {
		c.conn.Close()
	} else {
		_ = c.conn.SetWriteDeadline(time.Time{})
	}
	c.mark() // whatever was queued meanwhile, or the end
}

// read waits for the client to close the connection (a subscriber sends
// nothing after its request) and then has c ended.
func (c *session) read() {
	var b [16]byte
	for {
		if _, err := c.conn.Read(b[:]); err != nil {
			break
		}
	}
	c.mu.Lock()
	c.gone = true
	c.mu.Unlock()
	c.mark()
}

// finish ends the stream once: it writes tail (the retry hint, when the hub
// closed) and the last chunk if the socket takes them now, closes the
// connection and the subscription, and reports the stream done.
func (c *session) finish(tail []byte) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	gone := c.gone
	c.mu.Unlock()
	if c.expiry != nil {
		c.expiry.Stop()
	}
	s := c.sh.p.s
	if !gone {
		// Best effort: a client that cannot take these few bytes now is
		// about to be disconnected anyway.
		end := append(append([]byte(nil), tail...), "0\r\n\r\n"...)
		n, _ := c.nb.Write(end)
		s.written.Add(uint64(n))
	}
	c.conn.Close()
	c.sub.Close()
	sh := c.sh
	sh.mu.Lock()
	delete(sh.all, c)
	sh.mu.Unlock()
	if s.cfg.Subscriptions { // the subscription event "inactive"
		// Publishing may wait on the store: not on the shard goroutine.
		go func() {
			defer s.streams.Done()
			s.subscriptionEvents(context.Background(), c.sub.Info(), false)
		}()
		return
	}
	s.streams.Done()
}

// appendChunkHeader appends the header of an HTTP/1.1 chunk of size bytes.
func appendChunkHeader(b []byte, size int) []byte {
	b = strconv.AppendUint(b, uint64(size), 16)
	return append(b, "\r\n"...)
}

// chunk returns p framed as one HTTP/1.1 chunk.
func chunk(p []byte) []byte {
	b := appendChunkHeader(nil, len(p))
	b = append(b, p...)
	return append(b, "\r\n"...)
}
