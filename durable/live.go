package durable

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ssehub/ssehub/internal/sockwrite"
)

// Live SSE readers of plain HTTP/1.1 connections are taken over from
// net/http (hijacked) once their first response bytes are out and they are
// at the tail: the stream's follower then writes each step to all of them,
// one chunk per reader in one non-blocking write, instead of waking a
// handler goroutine per reader that would build its control event and go
// through net/http's buffers and flush. An idle reader then costs no
// handler goroutine and no net/http buffers: only a small goroutine
// blocked in Read, which notices when the client leaves, and a timer for
// SSEDuration.
//
// A write the socket does not take whole never holds the follower: the
// rest is finished by a goroutine of the reader's own, with the write
// deadline, which goes on serving that reader from the store (as the
// goroutine path does when it lags) until it is at the follower's head
// again and rejoins it. TLS, HTTP/2 and HTTP/3 responses, and HTTP/1.0
// ones (no chunked encoding), stay with their handler goroutines.

// chunkEnd ends a chunked response body.
const chunkEnd = "0\r\n\r\n"

// liveConn is one taken-over SSE response.
type liveConn struct {
	s    *Server
	t    *tail // the follower's; c holds one reference until it ends
	conn net.Conn
	// nb writes without waiting; when it cannot (no descriptor), the
	// follower writes nothing and the reader goes on by itself.
	nb sockwrite.Writer

	// Owned by the goroutine that writes c: the follower while c is in
	// t.conns (it writes under mu), else c's own goroutine.
	pos    uint64 // where c's next event starts
	cursor uint64 // the last cursor sent

	mu      sync.Mutex
	timer   *time.Timer        // ends c after SSEDuration
	solo    bool               // a goroutine of c's own serves it (not in t.conns)
	cancel  context.CancelFunc // ends the waits of c's own goroutine
	writing bool               // c's own goroutine is in a blocking write
	stop    bool               // SSEDuration passed or the server shuts down
	gone    bool               // the client left or a write failed
	ended   bool
}

// endReason says why a live response is ended from outside its writer.
type endReason int

const (
	endExpired  endReason = iota // SSEDuration passed
	endLeft                      // the client closed the connection
	endShutdown                  // the server shuts down
)

// takeable says whether an SSE response may be taken over: plain
// HTTP/1.1, whose connection can be hijacked and written with chunked
// framing. tls.Conn has no descriptor to write to without waiting.
func takeable(r *http.Request) bool {
	return r.ProtoMajor == 1 && r.ProtoMinor >= 1 && r.TLS == nil
}

// takeOver hijacks an SSE response whose headers and events up to pos are
// out (chunked) and hands it, with the caller's reference of t, to t's
// follower, or to a goroutine of its own until it reaches the follower's
// head. It reports false when the connection cannot be hijacked or the
// server shuts down; the caller then goes on serving the response and
// keeps its reference.
func (s *Server) takeOver(rc *http.ResponseController, t *tail, pos, cursor uint64, deadline time.Time) bool {
	s.liveMu.Lock()
	off := s.liveOff
	s.liveMu.Unlock()
	if off {
		return false // shutting down: net/http ends it with the request
	}
	conn, brw, err := rc.Hijack()
	if err != nil {
		return false
	}
	_ = conn.SetDeadline(time.Time{})
	c := &liveConn{s: s, t: t, conn: conn, pos: pos, cursor: cursor, solo: true}
	c.nb.Init(conn)
	// A request pipelined behind this one would never be answered (the
	// response says Connection: close), and a server shutting down takes
	// no more: end the response; the client resumes from its offset.
	if brw.Reader.Buffered() > 0 || !s.track(c) {
		_, _ = c.nb.Write([]byte(chunkEnd))
		conn.Close()
		s.unfollow(t)
		return true
	}
	if !c.join() {
		c.goSolo(nil, false)
	}
	c.mu.Lock()
	if !c.ended {
		c.timer = time.AfterFunc(time.Until(deadline), func() { c.end(endExpired) })
	}
	c.mu.Unlock()
	go c.read()
	return true
}

// track registers c for Shutdown; false once the server shuts down.
func (s *Server) track(c *liveConn) bool {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if s.liveOff {
		return false
	}
	s.live[c] = struct{}{}
	s.liveWG.Add(1)
	return true
}

// Shutdown ends every live SSE response taken over from net/http, which
// http.Server.Shutdown does not see (their connections are hijacked): each
// gets the end of its chunked body and is closed, so that its client
// reconnects from its offset. Responses still with net/http are not taken
// over afterwards (they end with their request context). Shutdown waits
// for the responses to be closed, or for ctx to end, and then closes them.
// It does not close the store.
func (s *Server) Shutdown(ctx context.Context) error {
	s.liveMu.Lock()
	s.liveOff = true
	conns := make([]*liveConn, 0, len(s.live))
	for c := range s.live {
		conns = append(conns, c)
	}
	s.liveMu.Unlock()
	for _, c := range conns {
		c.end(endShutdown)
	}
	done := make(chan struct{})
	go func() {
		s.liveWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.liveMu.Lock()
	for c := range s.live {
		c.conn.Close() // its writer fails and ends it
	}
	s.liveMu.Unlock()
	return fmt.Errorf("durable: live SSE responses still open at shutdown: %w", ctx.Err())
}

// join registers c with its tail's follower when c is at the follower's
// head; false: c must catch up by itself first, the follower ended, or c
// is ending.
func (c *liveConn) join() bool {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.head == nil || t.head.from != c.pos {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || c.stop || c.gone {
		return false
	}
	c.solo = false
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	if t.conns == nil {
		t.conns = map[*liveConn]struct{}{}
	}
	t.conns[c] = struct{}{}
	return true
}

// goSolo starts c's own goroutine, which writes rest (a write the socket
// did not take whole; final: the stream's last chunk and the end of the
// body) and serves c until it can join the follower again. c is not in
// t.conns and c.solo is set.
func (c *liveConn) goSolo(rest []byte, final bool) {
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	c.solo = true
	c.cancel = cancel
	stop := c.stop || c.gone
	c.mu.Unlock()
	if stop {
		cancel()
	}
	go c.serveSolo(ctx, rest, final)
}

// serveSolo is c's own goroutine: it writes with the write deadline and
// reads the store (or the follower's recent steps) from c's position, as
// sseNext does for a reader that lags, until c is at the follower's head.
func (c *liveConn) serveSolo(ctx context.Context, rest []byte, final bool) {
	s := c.s
	ok := c.writeBlocking(rest)
	var body, buf []byte
	for ok && !final {
		if c.join() {
			return
		}
		c.mu.Lock()
		stop := c.stop || c.gone
		c.mu.Unlock()
		if stop {
			break
		}
		res, event, more := s.sseNext(ctx, c.t, c.t.key.name, ReadResult{Info: Info{ID: c.t.key.id}, Next: c.pos})
		if !more {
			break // ended, the stream is gone, or the store failed: the client's next request learns which
		}
		body, c.cursor, final = s.appendEvents(body[:0], event, res, c.cursor, true)
		buf = appendChunk(buf[:0], body, final)
		c.pos = res.Next
		ok = c.writeBlocking(buf)
	}
	c.mu.Lock()
	c.ended = true
	c.solo = false
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	writeEnd := ok && !final && !c.gone
	c.mu.Unlock()
	if writeEnd {
		_ = c.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		_, _ = c.conn.Write([]byte(chunkEnd))
	}
	c.conn.Close()
	c.release()
}

// writeBlocking writes b with the write deadline, from c's own goroutine.
func (c *liveConn) writeBlocking(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return false
	}
	// Under mu, so that a Shutdown that finds c writing can cut the write
	// short after the deadline is set.
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	c.writing = true
	c.mu.Unlock()
	_, err := c.conn.Write(b)
	c.mu.Lock()
	c.writing = false
	if err != nil {
		c.gone = true
	}
	c.mu.Unlock()
	if err != nil {
		return false
	}
	// The follower's raw writes fail once a deadline has passed.
	_ = c.conn.SetWriteDeadline(time.Time{})
	return true
}

// end ends c from outside its writer: at once when the follower serves it
// (the follower writes under mu and skips ended readers), else through its
// own goroutine, which finishes the write it is in first (unless the
// server shuts down).
func (c *liveConn) end(why endReason) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	switch why {
	case endLeft:
		c.gone = true
	default:
		c.stop = true
	}
	if c.solo {
		if c.cancel != nil {
			c.cancel()
		}
		switch {
		case why == endLeft:
			c.conn.Close() // its write fails at once
		case why == endShutdown && c.writing:
			_ = c.conn.SetWriteDeadline(time.Now())
		}
		c.mu.Unlock()
		return
	}
	c.finishLocked(!c.gone)
	c.mu.Unlock()
	c.release()
}

// finishLocked ends c, served by the follower: the end of the body if the
// socket takes it now (a client that cannot take these few bytes is being
// disconnected anyway), then the close. c.mu is held; release follows.
func (c *liveConn) finishLocked(writeEnd bool) {
	c.ended = true
	if c.timer != nil {
		c.timer.Stop()
	}
	if writeEnd {
		_, _ = c.nb.Write([]byte(chunkEnd))
	}
	c.conn.Close()
}

// release drops an ended c from its tail and the server: the last reader
// of a stream to leave stops its follower.
func (c *liveConn) release() {
	t, s := c.t, c.s
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	s.unfollow(t)
	s.liveMu.Lock()
	delete(s.live, c)
	s.liveMu.Unlock()
	s.liveWG.Done()
}

// read waits for the client to close the connection (an SSE reader sends
// nothing after its request) and then has c ended.
func (c *liveConn) read() {
	var b [16]byte
	for {
		if _, err := c.conn.Read(b[:]); err != nil {
			break
		}
	}
	c.end(endLeft)
}

// chunkRoom is the room left before a chunk's data for its header: the
// size in hex and CRLF.
const chunkRoom = 18

// deliver writes step st to the taken-over readers that waited for it
// (t.batch, taken when st was published): to each one HTTP/1.1 chunk, the
// shared data event and the reader's control event, in one non-blocking
// write. The control is built once per distinct previous cursor: readers
// that joined together share their cursors. A reader whose socket does not
// take its chunk whole goes on with a goroutine of its own. Follower only.
func (s *Server) deliver(t *tail, st *step, final bool) {
	batch := t.batch
	defer func() {
		clear(batch)
		t.batch = batch[:0]
	}()
	if st.end {
		for _, c := range batch {
			c.mu.Lock()
			if c.ended {
				c.mu.Unlock()
				continue
			}
			c.finishLocked(!c.gone)
			c.mu.Unlock()
			c.release()
		}
		return
	}
	res := st.res
	off := FormatOffset(res.Next)
	upToDate := res.Next == res.Tail
	interval := s.interval()
	if t.memo == nil {
		t.memo = map[uint64]memoControl{}
	}
	clear(t.memo)
	ctls := t.ctls[:0]
	if final {
		ctls = appendControl(ctls, off, nil, upToDate, true)
	}
	var hdr [chunkRoom]byte
	buf := append(t.buf[:0], hdr[:]...)
	buf = append(buf, st.event...)
	base := len(buf)
	for _, c := range batch {
		c.mu.Lock()
		if c.ended {
			c.mu.Unlock()
			continue
		}
		ctl, cursor := ctls, c.cursor
		if !final {
			m, ok := t.memo[c.cursor]
			if !ok {
				m.cursor = s.nextCursor(interval, c.cursor, true)
				start := len(ctls)
				ctls = appendControl(ctls, off, strconv.AppendUint(hdr[:0], m.cursor, 10), upToDate, false)
				m.start, m.end = start, len(ctls)
				t.memo[c.cursor] = m
			}
			ctl, cursor = ctls[m.start:m.end], m.cursor
		}
		b := append(buf[:base], ctl...)
		h := appendChunkHeader(hdr[:0], len(b)-chunkRoom)
		b = append(b, "\r\n"...)
		if final {
			b = append(b, chunkEnd...)
		}
		from := chunkRoom - len(h)
		copy(b[from:], h)
		buf = b[:base]
		n, err := c.nb.Write(b[from:])
		switch {
		case err != nil:
			c.gone = true
			c.finishLocked(false)
			c.mu.Unlock()
			c.release()
		case n < len(b)-from:
			c.pos, c.cursor = res.Next, cursor
			c.solo = true
			c.mu.Unlock()
			// Out of t.conns before its goroutine may join again.
			t.mu.Lock()
			delete(t.conns, c)
			t.mu.Unlock()
			c.goSolo(append([]byte(nil), b[from+n:]...), final)
		case final:
			c.finishLocked(false)
			c.mu.Unlock()
			c.release()
		default:
			c.pos, c.cursor = res.Next, cursor
			c.mu.Unlock()
		}
	}
	if cap(buf) > 1<<20 { // do not keep a huge buffer after a burst
		buf = nil
	}
	t.buf, t.ctls = buf, ctls[:0]
}

// memoControl is the control event that follows a previous cursor in one
// step: the new cursor and where its encoding lies in the step's controls.
type memoControl struct {
	cursor     uint64
	start, end int
}

// appendChunkHeader appends the header of an HTTP/1.1 chunk of size bytes.
func appendChunkHeader(b []byte, size int) []byte {
	b = strconv.AppendUint(b, uint64(size), 16)
	return append(b, "\r\n"...)
}

// appendChunk appends body as an HTTP/1.1 chunk, and the end of the
// chunked body when final.
func appendChunk(dst, body []byte, final bool) []byte {
	dst = appendChunkHeader(dst, len(body))
	dst = append(append(dst, body...), "\r\n"...)
	if final {
		dst = append(dst, chunkEnd...)
	}
	return dst
}

// appendControl appends an SSE control event (§5.8) with the JSON that
// json.Marshal gives for control: offsets and cursors are digits and
// underscores, which need no escaping. An empty cursor is left out.
func appendControl(dst []byte, next string, cursor []byte, upToDate, closed bool) []byte {
	dst = append(dst, `event: control`+"\n"+`data:{"streamNextOffset":"`...)
	dst = append(dst, next...)
	dst = append(dst, '"')
	if len(cursor) > 0 {
		dst = append(dst, `,"streamCursor":"`...)
		dst = append(append(dst, cursor...), '"')
	}
	if upToDate {
		dst = append(dst, `,"upToDate":true`...)
	}
	if closed {
		dst = append(dst, `,"streamClosed":true`...)
	}
	return append(dst, "}\n\n"...)
}
