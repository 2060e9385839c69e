package mercure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ssehub/ssehub/hub"
)

// methodQuery is the safe HTTP method with a body (RFC 10008), with which
// a subscriber sends parameters too long for a URL in a form body.
const methodQuery = "QUERY"

// formType is the media type of publish forms and QUERY bodies.
const formType = "application/x-www-form-urlencoded"

// subscribe serves GET, HEAD and QUERY /.well-known/mercure: an event
// stream of the updates matching the request's topic selectors.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	if q, _ := acceptQuality(r.Header.Values("Accept"), "text/event-stream"); q == 0 {
		httpErrorf(w, http.StatusNotAcceptable, "a subscription is an event stream: the Accept field %q does not allow text/event-stream",
			strings.Join(r.Header.Values("Accept"), ", "))
		return
	}
	q, err := s.subscribeParams(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	proto, err := s.subscribeProtocol(r, q)
	if err != nil {
		writeError(w, err)
		return
	}
	req, err := proto.parseSubscribe(q, r.Header, s.lim)
	if err != nil {
		writeError(w, err)
		return
	}
	for i, sel := range req.selectors {
		if err := s.hub.Matcher().Validate(sel); err != nil {
			// The message names the selector by position: it may be
			// kilobytes long.
			httpErrorf(w, http.StatusBadRequest, "topic selector %d refused: %v", i+1, err)
			return
		}
	}
	for i, t := range req.typed {
		if t.Compile == nil || t.Raw == "*" {
			continue
		}
		if _, err := s.hub.Matcher().Compile(t.Kind, t.Raw, t.Compile); err != nil {
			httpErrorf(w, http.StatusBadRequest, "topic matcher %d refused: %v", i+1, err)
			return
		}
	}
	_, is08 := proto.(draft08)
	acc, cred, aerr := s.authenticate(r, q, subscriber, is08)
	if aerr != nil {
		s.refuse(w, aerr)
		return
	}
	src := cred.src
	if acc == nil {
		if !s.cfg.Anonymous {
			s.refuse(w, challenge("a subscriber token is required: this hub does not allow anonymous subscribers"))
			return
		}
		acc = &access{}
	}

	hreq := hub.SubscribeRequest{Selectors: req.selectors, Typed: req.typed, Private: acc.subscribe,
		PrivateTyped: acc.subscribeTyped, Payload: acc.payloadFor(s.hub.Matcher(), req)}
	if req.replay {
		// An id no longer in history (or never in it) gets what history
		// still holds, and the response says "earliest": the subscriber
		// learns that it may have missed updates (see docs/history.md).
		hreq.Replay = &hub.Replay{AfterID: req.lastEventID, Earliest: req.lastEventID == earliest, OrEarliest: true}
	}
	// A plain HTTP/1.1 stream is taken over after its headers and served by
	// the writer pool (see pool.go); the session exists from the start so
	// that the hub can notify it, but it ignores notifications (queued)
	// until then. HTTP/1.0 has no chunked encoding, which the pool writes:
	// its streams stay with net/http, which ends their body by closing.
	var c *session
	var woken *notified // a stream served by its own goroutine, paced by s.hold
	switch {
	case s.cfg.Coalesce >= 0 && r.ProtoMajor == 1 && r.ProtoMinor >= 1 && r.TLS == nil && r.Method == http.MethodGet:
		c = &session{queued: true}
		hreq.Notify = c.mark
	case s.cfg.Coalesce > 0:
		woken = &notified{}
		hreq.Notify = woken.stamp
	}
	var sub feed
	if s.events != nil && acc.private() {
		// Subscription events are private: only a subscriber with a
		// subscribe claim can receive them, from their own history.
		sub, err = s.subscribeMerged(r.Context(), hreq, req)
	} else {
		sub, err = s.hub.Subscribe(r.Context(), hreq)
	}
	if errors.Is(err, hub.ErrClosed) {
		w.Header().Set("Retry-After", "1")
		httpErrorf(w, http.StatusServiceUnavailable, "the hub is shutting down")
		return
	}
	if errors.Is(err, hub.ErrUnavailable) {
		w.Header().Set("Retry-After", retryAfterUnavailable)
		httpErrorf(w, http.StatusServiceUnavailable, "the store is unavailable, retry later: %v", err)
		return
	}
	if errors.Is(err, hub.ErrSelectorLimit) {
		httpErrorf(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err != nil {
		httpErrorf(w, http.StatusInternalServerError, "subscribe: %v", err)
		return
	}
	s.streams.Add(1)
	handedOver := false
	defer func() {
		if !handedOver {
			sub.Close()
			s.streams.Done()
		}
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	if src == fromQuery {
		h.Set("Cache-Control", "private, no-cache")
	}
	h.Set("X-Accel-Buffering", "no")
	if c != nil {
		// The writer pool closes the connection when the stream ends; a
		// client told so never puts it back in its pool of idle
		// connections, where its next request would meet the close.
		h.Set("Connection", "close")
	}
	if req.replay {
		// The ID of the update preceding the first one sent.
		if sub.ReplayFound() {
			h.Set(req.lastEventHeader, req.lastEventID)
		} else {
			h.Set(req.lastEventHeader, earliest)
		}
	}
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	if s.cfg.Subscriptions {
		s.subscriptionEvents(r.Context(), sub.Info(), true)
	}
	endEvents := func() {
		if s.cfg.Subscriptions {
			s.subscriptionEvents(context.WithoutCancel(r.Context()), sub.Info(), false)
		}
	}
	if c != nil {
		// History first, from this goroutine: replaying reads the store.
		if !s.replay(r.Context(), w, rc, sub) {
			endEvents()
			return
		}
		if s.takeOver(rc, sub, c, acc.expires) {
			handedOver = true // the session closes sub and ends the stream
			return
		}
	}
	defer endEvents()
	s.stream(r.Context(), w, rc, sub, acc.expires, woken)
}

// subscribeParams returns a subscribe request's parameters: its query
// string's, and for QUERY those of its form body too (draft-08
// §"Subscription": the union of both, the query string's first, so that a
// single-valued parameter given in both is the query string's).
func (s *Server) subscribeParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if len(r.URL.RawQuery) > s.cfg.MaxQueryBytes {
		return nil, &httpError{http.StatusRequestURITooLong, fmt.Sprintf("query string is %d bytes, at most %d", len(r.URL.RawQuery), s.cfg.MaxQueryBytes)}
	}
	q := parseForm(r.URL.RawQuery)
	if r.Method != methodQuery {
		return q, nil
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" && r.ContentLength == 0 {
		return q, nil // no body: the parameters are in the query string
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != formType {
		w.Header().Set("Accept-Query", formType)
		return nil, &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("a QUERY subscription's body must be %s, not %q", formType, ct)}
	}
	rc := http.NewResponseController(w)
	if s.cfg.BodyTimeout > 0 {
		_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)) // unsupported: only the size bounds it
	}
	defer rc.SetReadDeadline(time.Time{})
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxQueryBytes)))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("the QUERY body is larger than %d bytes", tooBig.Limit)}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, &httpError{http.StatusRequestTimeout, fmt.Sprintf("the request body did not arrive within %s", s.cfg.BodyTimeout)}
	case err != nil:
		return nil, badRequest("reading the request body: %v", err)
	}
	for k, vs := range parseForm(string(body)) {
		q[k] = append(q[k], vs...)
	}
	return q, nil
}

// subscribeMerged subscribes to the hub's updates and to its subscription
// events with the same request, resuming each where the other history's
// Last-Event-ID places it (see replays).
func (s *Server) subscribeMerged(ctx context.Context, hreq hub.SubscribeRequest, req *subscribeRequest) (feed, error) {
	m := newMerged(hreq.Notify)
	hreq.Notify = m.signal
	if hreq.ID == "" {
		hreq.ID = "urn:uuid:" + uuid.NewString() // one subscriber id for both
	}
	evreq := hreq
	if req.replay {
		hreq.Replay, evreq.Replay = s.replays(ctx, req.lastEventID)
	}
	var err error
	if m.updates, err = s.hub.Subscribe(ctx, hreq); err != nil {
		return nil, err
	}
	if m.events, err = s.events.Subscribe(ctx, evreq); err != nil {
		m.updates.Close()
		return nil, err
	}
	m.start()
	return m, nil
}

// replay writes the subscription's history, if any, to w. It reports false
// when the stream must end.
func (s *Server) replay(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, sub feed) bool {
	var msgs []*hub.Message
	var buf []byte
	for sub.Replaying() {
		var err error
		msgs, err = sub.Drain(ctx, msgs[:0])
		if err != nil {
			if hint := s.endHint(sub, err); hint != nil {
				s.writeTimed(w, rc, hint)
			}
			return false
		}
		buf = appendMessages(buf[:0], msgs)
		if len(buf) > 0 && !s.writeTimed(w, rc, buf) {
			return false
		}
	}
	return true
}

// endHint returns what a stream whose Drain failed with err says before it
// ends: the retry hint when the hub closed, the unavailable hint when a
// replay page could not be read (the store is away; the client reconnects
// with its Last-Event-ID), nothing when the subscription itself ended.
func (s *Server) endHint(sub feed, err error) []byte {
	switch {
	case errors.Is(err, hub.ErrClosed):
		return s.retryHint
	case sub.Err() == nil:
		s.log.Warn("mercure: subscriber stream failed", "subscriber", sub.Info().ID, "err", err)
		return s.unavailableHint
	}
	return nil
}

// appendMessages appends the encoded messages to dst and clears msgs, so
// that a reused slice does not keep them alive.
func appendMessages(dst []byte, msgs []*hub.Message) []byte {
	for i, m := range msgs {
		dst = append(dst, m.Bytes...)
		msgs[i] = nil
	}
	return dst
}

// writeTimed writes b to w and flushes it, within the write timeout. The
// deadline is cleared afterwards: left in place, it would fail the final
// chunk net/http writes when a stream ends after a long idle time.
func (s *Server) writeTimed(w http.ResponseWriter, rc *http.ResponseController, b []byte) bool {
	rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	defer rc.SetWriteDeadline(time.Time{})
	n, err := w.Write(b)
	s.written.Add(uint64(n))
	if err == nil {
		err = rc.Flush()
	}
	return err == nil
}

// takeOver hijacks the connection, whose response headers (chunked
// encoding) are sent, and hands it with sub to the writer pool. It reports
// false when the connection cannot be taken over; the caller then serves
// the stream itself.
func (s *Server) takeOver(rc *http.ResponseController, sub feed, c *session, expires time.Time) bool {
	conn, brw, err := rc.Hijack()
	if err != nil {
		return false
	}
	c.conn, c.sub = conn, sub
	c.nb.Init(conn)
	_ = conn.SetDeadline(time.Time{})
	// A request pipelined behind the subscription would never be answered:
	// end the stream as net/http would. So does a pool that has stopped.
	if brw.Reader.Buffered() > 0 || !s.pool.add(c) {
		conn.Close()
		sub.Close()
		s.streams.Done()
		return true
	}
	if !expires.IsZero() {
		c.expiry = time.AfterFunc(time.Until(expires), func() {
			c.mu.Lock()
			c.expired = true
			c.mu.Unlock()
			c.mark()
		})
	}
	go c.read()
	c.mu.Lock()
	c.queued = false
	c.mu.Unlock()
	c.mark() // whatever was queued before the take-over, or the end
	return true
}

// stream writes the subscription's messages to w until the client leaves,
// the subscription ends, or the token expires. When woken is not nil (the
// subscription's Notify stamps it), the stream is paced by s.hold.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, sub feed, expires time.Time, woken *notified) {
	var heartbeat <-chan time.Time
	if s.cfg.Heartbeat > 0 {
		t := time.NewTicker(s.cfg.Heartbeat)
		defer t.Stop()
		heartbeat = t.C
	}
	var expiry <-chan time.Time
	if !expires.IsZero() {
		t := time.NewTimer(time.Until(expires))
		defer t.Stop()
		expiry = t.C
	}
	// Over HTTP/2 and HTTP/3 each write is a frame handed to the
	// connection's goroutine and a flush: while the hub is behind, the
	// streams wait for each other (see hold), so that the updates
	// published meanwhile share both.
	paced := woken != nil
	deadline := newWriteDeadline(rc, s.cfg.WriteTimeout)
	defer deadline.clear()
	var free time.Time // when the last write ended
	write := func(b []byte) bool {
		deadline.arm()
		n, err := w.Write(b)
		s.written.Add(uint64(n))
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return false
		}
		deadline.wrote()
		if paced {
			free = time.Now()
		}
		return true
	}
	var msgs []*hub.Message
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-expiry:
			s.log.Debug("mercure: subscriber token expired", "subscriber", sub.Info().ID)
			return
		case <-sub.Done():
			if errors.Is(sub.Err(), hub.ErrClosed) {
				write(s.retryHint)
			}
			return
		case <-deadline.idleC():
			deadline.clear()
		case <-heartbeat:
			if !write(s.heartbeat) {
				return
			}
		case <-sub.Ready():
			var now time.Time
			var waited time.Duration
			if paced {
				if !s.hold.await(ctx) {
					return
				}
				now = time.Now()
				waited = woken.take(now, free)
			}
			live := !sub.Replaying()
			var err error
			msgs, err = sub.Drain(ctx, msgs[:0])
			if err != nil {
				if hint := s.endHint(sub, err); hint != nil {
					write(hint)
				}
				return
			}
			if len(msgs) == 0 {
				continue
			}
			oldest := msgs[0].Update.Time
			if live && paced && len(msgs) > 1 {
				s.hold.note(now, waited, s.cfg.Coalesce)
			}
			buf = appendMessages(buf[:0], msgs)
			if !write(buf) {
				return
			}
			if live {
				s.writeDelay.Observe(time.Since(oldest).Seconds())
			}
			if cap(buf) > 1<<20 { // do not keep a huge batch buffer for a long-lived stream
				buf = nil
			}
		}
	}
}

// subscribeProtocol returns the draft a subscribe request belongs to, by
// its parameters, or refuses it when the hub is restricted to the other.
func (s *Server) subscribeProtocol(r *http.Request, q url.Values) (protocol, error) {
	if !isDraft08Subscribe(q) {
		if s.cfg.Draft == "08" {
			return nil, badRequest("this hub speaks draft-dunglas-mercure-08 only: select topics with match or match_urlpattern, not topic")
		}
		return s.proto, nil
	}
	if s.cfg.Draft == "07" {
		return nil, badRequest("this hub speaks draft-dunglas-mercure-07 only: select topics with topic, not match…")
	}
	return draft08{base: s.hubURL(r)}, nil
}

// hubURL is the hub's URL for this request: Config.PublicURL, or the
// request's scheme, Host and HubPath.
func (s *Server) hubURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + HubPath
}
