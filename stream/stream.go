// Package stream turns one HTTP response into a Server-Sent Events stream,
// the Go counterpart of Spring's SseEmitter: a handler sends events (each
// flushed at once), completes the stream or completes it with an error, and
// learns through hooks, a done channel and a context when the stream ended
// for any reason: completion, error, timeout or the client going away.
//
// A Stream is safe for concurrent use: sends from several goroutines never
// interleave the bytes of two events, and a send after the end returns
// ErrClosed instead of writing to a finished response.
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// Defaults applied to zero Options fields.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
)

var (
	// ErrClosed is returned by Send after the stream has ended.
	ErrClosed = errors.New("stream: closed")
	// ErrTimeout is the end reason of a stream that reached Options.Timeout.
	ErrTimeout = errors.New("stream: timed out")
	// ErrDisconnected is the end reason of a stream whose request context
	// ended: the client went away or the server is shutting down. The
	// context's cause is wrapped alongside it.
	ErrDisconnected = errors.New("stream: request context ended")
)

// Options configures a Stream. The zero value gives a stream with no
// timeout, a heartbeat every 15 seconds and a 10-second write deadline.
type Options struct {
	// Timeout ends the stream with ErrTimeout this long after it opened.
	// Zero means never.
	Timeout time.Duration
	// Heartbeat is the interval of the comment lines that keep proxies
	// from closing an idle connection. Zero means DefaultHeartbeat; a
	// negative value disables heartbeats.
	Heartbeat time.Duration
	// WriteTimeout bounds each write and flush, so that a client that
	// stopped reading cannot block senders for ever; the stream ends with
	// the write's error. Zero means DefaultWriteTimeout; negative, none.
	WriteTimeout time.Duration
	// Retry, when positive, is sent first so that clients wait this long
	// before reconnecting.
	Retry time.Duration
	// ErrorEvent builds the event CompleteWithError sends. Nil sends an
	// event of type "error" whose data is the error's message: pass errors
	// that are fit for the client to read.
	ErrorEvent func(error) sse.Event

	// OnTimeout runs when the stream times out, before OnComplete.
	OnTimeout func()
	// OnError runs when the stream ends with an error other than a
	// timeout, before OnComplete: a failed write, a client that went away,
	// or CompleteWithError.
	OnError func(error)
	// OnComplete runs once when the stream ends, for whatever reason.
	OnComplete func()
}

// Stream is a Server-Sent Events response in progress.
//
// The handler that created a Stream must not return before the stream has
// ended (see Wait and Handler): the ResponseWriter is not valid after that.
type Stream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	opts Options

	mu     sync.Mutex // serialises writes; guards buf and closed
	buf    []byte
	closed bool

	endOnce sync.Once
	err     error // the end reason, set before done is closed
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelCauseFunc
}

var heartbeat = []byte(": heartbeat\n\n")

// New sets the event-stream headers on w, sends them, and returns the
// stream. It fails when w cannot flush, since buffered events would defeat
// the purpose. The stream ends by itself when r's context ends.
func New(w http.ResponseWriter, r *http.Request, opts *Options) (*Stream, error) {
	s := &Stream{w: w, rc: http.NewResponseController(w), done: make(chan struct{})}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Heartbeat == 0 {
		s.opts.Heartbeat = DefaultHeartbeat
	}
	if s.opts.WriteTimeout == 0 {
		s.opts.WriteTimeout = DefaultWriteTimeout
	}
	s.ctx, s.cancel = context.WithCancelCause(context.WithoutCancel(r.Context()))

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	var first []byte
	if s.opts.Retry > 0 {
		first, _ = (&sse.Event{Retry: s.opts.Retry}).AppendTo(nil)
	}
	if err := s.write(first); err != nil {
		s.cancel(err)
		return nil, fmt.Errorf("stream: cannot start event stream: %w", err)
	}
	go s.watch(r.Context())
	return s, nil
}

// watch ends the stream on timeout or when the request context ends, and
// sends heartbeats meanwhile.
func (s *Stream) watch(reqCtx context.Context) {
	var tick <-chan time.Time
	if s.opts.Heartbeat > 0 {
		t := time.NewTicker(s.opts.Heartbeat)
		defer t.Stop()
		tick = t.C
	}
	var timeout <-chan time.Time
	if s.opts.Timeout > 0 {
		t := time.NewTimer(s.opts.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case <-s.done:
			return
		case <-reqCtx.Done():
			s.end(fmt.Errorf("%w: %w", ErrDisconnected, context.Cause(reqCtx)))
			return
		case <-timeout:
			s.end(ErrTimeout)
			return
		case <-tick:
			if err := s.write(heartbeat); err != nil && !errors.Is(err, ErrClosed) {
				s.end(err)
				return
			}
		}
	}
}

// Send writes ev and flushes it. It returns an error wrapping
// sse.ErrInvalidEvent, without writing anything, for an event that would
// corrupt the stream; ErrClosed after the stream ended; or the write's error,
// which also ends the stream.
func (s *Stream) Send(ev sse.Event) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	buf, err := ev.AppendTo(s.buf[:0])
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.buf = buf
	err = s.writeLocked(buf)
	s.mu.Unlock()
	if err != nil {
		s.end(err)
	}
	return err
}

// SendJSON sends v, encoded as JSON, as the data of a "message" event.
func (s *Stream) SendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("stream: encoding JSON data: %w", err)
	}
	return s.Send(sse.Event{Data: string(b)})
}

// write sends raw, already encoded bytes. It does not end the stream.
func (s *Stream) write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.writeLocked(b)
}

func (s *Stream) writeLocked(b []byte) error {
	if s.opts.WriteTimeout > 0 {
		// Not every ResponseWriter supports deadlines (httptest's does
		// not); the stream still works there, only unprotected.
		if err := s.rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)); err == nil {
			defer s.rc.SetWriteDeadline(time.Time{})
		}
	}
	if len(b) > 0 {
		if _, err := s.w.Write(b); err != nil {
			return fmt.Errorf("stream: write: %w", err)
		}
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("stream: flush: %w", err)
	}
	return nil
}

// Complete ends the stream normally. It is a no-op once the stream ended.
func (s *Stream) Complete() { s.end(nil) }

// CompleteWithError sends the event Options.ErrorEvent makes of err (by
// default, type "error" with err's message as data) and ends the stream with
// err. A nil err is the same as Complete.
func (s *Stream) CompleteWithError(err error) {
	if err == nil {
		s.end(nil)
		return
	}
	ev := sse.Event{Type: "error", Data: err.Error()}
	if s.opts.ErrorEvent != nil {
		ev = s.opts.ErrorEvent(err)
	}
	_ = s.Send(ev) // the stream ends with err whether or not the client hears of it
	s.end(err)
}

// end records the end reason, waits for a write in progress, and runs the
// hooks. Only the first call has any effect.
func (s *Stream) end(reason error) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.err = reason
		s.mu.Unlock()
		if reason == nil {
			s.cancel(ErrClosed)
		} else {
			s.cancel(reason)
		}
		close(s.done)
		switch {
		case errors.Is(reason, ErrTimeout):
			if s.opts.OnTimeout != nil {
				s.opts.OnTimeout()
			}
		case reason != nil:
			if s.opts.OnError != nil {
				s.opts.OnError(reason)
			}
		}
		if s.opts.OnComplete != nil {
			s.opts.OnComplete()
		}
	})
}

// Done returns a channel that is closed when the stream has ended. No write
// happens after it is closed.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err returns why the stream ended: nil for Complete, ErrTimeout, an error
// wrapping ErrDisconnected, a write error, or the error given to
// CompleteWithError. It returns nil while the stream is open.
func (s *Stream) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Context returns a context that is cancelled when the stream ends, with
// the end reason as its cause (ErrClosed for a normal completion). Producers
// select on it to stop promptly when the client goes away.
func (s *Stream) Context() context.Context { return s.ctx }

// Wait blocks until the stream has ended and returns Err.
func (s *Stream) Wait() error {
	<-s.done
	return s.err
}

// Handler returns an http.Handler that opens a Stream for every request and
// runs produce in the request's goroutine. When produce returns, the stream
// is completed, or completed with the error produce returned. The stream's
// context is passed to produce, so it ends when the client goes away.
func Handler(opts *Options, produce func(ctx context.Context, s *Stream) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := New(w, r, opts)
		if err != nil {
			return // the headers are out; nothing useful can be said
		}
		err = produce(s.Context(), s)
		if err != nil && s.Err() == nil {
			s.CompleteWithError(err)
		}
		s.Complete()
	})
}
