package mercure

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// subscribe serves GET /.well-known/mercure: an event stream of the updates
// matching the request's topic selectors.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.RawQuery) > s.cfg.MaxQueryBytes {
		httpErrorf(w, http.StatusRequestURITooLong, "query string is %d bytes, at most %d", len(r.URL.RawQuery), s.cfg.MaxQueryBytes)
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		httpErrorf(w, http.StatusBadRequest, "query string does not parse: %v", err)
		return
	}
	req, err := s.proto.parseSubscribe(q, r.Header, s.lim)
	if err != nil {
		writeError(w, err)
		return
	}
	tok, src, err := tokenFrom(r, q, s.cfg.CookieName)
	if err != nil {
		httpErrorf(w, http.StatusUnauthorized, "%v", err)
		return
	}
	acc := &access{}
	switch {
	case src != fromNone:
		if acc, err = s.proto.access(tok, s.sub); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			httpErrorf(w, http.StatusUnauthorized, "subscriber token refused: %v", err)
			return
		}
	case !s.cfg.Anonymous:
		w.Header().Set("WWW-Authenticate", "Bearer")
		httpErrorf(w, http.StatusUnauthorized, "a subscriber token is required: this hub does not allow anonymous subscribers")
		return
	}

	hreq := hub.SubscribeRequest{Selectors: req.selectors, Private: acc.subscribe, Payload: acc.payload}
	if req.replay {
		hreq.Replay = &hub.Replay{AfterID: req.lastEventID, Earliest: req.lastEventID == earliest}
	}
	sub, err := s.hub.Subscribe(r.Context(), hreq)
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
	if err != nil {
		httpErrorf(w, http.StatusInternalServerError, "subscribe: %v", err)
		return
	}
	s.streams.Add(1)
	defer s.streams.Done()
	defer sub.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	if src == fromQuery {
		h.Set("Cache-Control", "private, no-cache")
	}
	h.Set("X-Accel-Buffering", "no")
	if req.replay {
		// The ID of the update preceding the first one sent.
		if sub.ReplayFound() {
			h.Set("Last-Event-ID", req.lastEventID)
		} else {
			h.Set("Last-Event-ID", earliest)
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
		defer s.subscriptionEvents(context.WithoutCancel(r.Context()), sub.Info(), false)
	}
	s.stream(r.Context(), w, rc, sub, acc.expires)
}

// stream writes the subscription's messages to w until the client leaves,
// the subscription ends, or the token expires.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, sub *hub.Subscription, expires time.Time) {
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
	write := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		n, err := w.Write(b)
		s.written.Add(uint64(n))
		if err == nil {
			err = rc.Flush()
		}
		return err == nil
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
		case <-heartbeat:
			if !write(s.heartbeat) {
				return
			}
		case <-sub.Ready():
			var err error
			msgs, err = sub.Drain(ctx, msgs[:0])
			if err != nil {
				switch {
				case errors.Is(err, hub.ErrClosed):
					write(s.retryHint)
				case sub.Err() == nil:
					// A replay page could not be read (the store is away):
					// the client reconnects with its Last-Event-ID.
					s.log.Warn("mercure: subscriber stream failed", "subscriber", sub.Info().ID, "err", err)
					write(s.unavailableHint)
				}
				return
			}
			if len(msgs) == 0 {
				continue
			}
			buf = buf[:0]
			for i, m := range msgs {
				buf = append(buf, m.Bytes...)
				msgs[i] = nil
			}
			if !write(buf) {
				return
			}
			if cap(buf) > 1<<20 { // do not keep a huge batch buffer for a long-lived stream
				buf = nil
			}
		}
	}
}
