package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssehub/ssehub/sse"
)

// DefaultRetry is the reconnection time until the server sets one with a
// retry field, as in browsers.
const DefaultRetry = 3 * time.Second

// DefaultMaxBackoff caps the delay between failed connection attempts when
// Client.MaxBackoff is zero.
const DefaultMaxBackoff = 30 * time.Second

// minBackoffBase is the smallest delay that backoff doubles from, so that a
// server that sent "retry: 0" is not hammered while it is down.
const minBackoffBase = 100 * time.Millisecond

// Errors that callers can test for with errors.Is.
var (
	// ErrBadStatus is wrapped by the *ResponseError returned for a response
	// whose status is neither 200 nor 204.
	ErrBadStatus = errors.New("unexpected status")
	// ErrBadContentType is wrapped by the *ResponseError returned for a 200
	// response whose media type is not text/event-stream.
	ErrBadContentType = errors.New("not an event stream")
	// ErrGaveUp is wrapped, together with the last cause, by the error
	// returned after MaxAttempts consecutive attempts delivered no event.
	ErrGaveUp = errors.New("gave up")
	// ErrIdleTimeout is wrapped by the error of a connection on which no
	// byte arrived for ReadIdleTimeout.
	ErrIdleTimeout = errors.New("read idle timeout")
	// ErrRestart, returned (or wrapped) by the function given to Run,
	// drops the connection and reconnects as after a network error: after
	// the reconnection time, with Last-Event-ID. OnStateChange reports the
	// reconnection with an error wrapping it, as it does for a restart
	// asked for through Client.Restart.
	ErrRestart = errors.New("restart requested")
)

// State is the state of a stream, as EventSource.readyState reports it.
type State int

// The states of a stream.
const (
	// Connecting means a connection attempt is under way or the client is
	// waiting to make one.
	Connecting State = iota
	// Open means the server answered with an event stream and events are
	// being delivered.
	Open
	// Closed means the stream has ended for good.
	Closed
)

// String returns "connecting", "open" or "closed".
func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Open:
		return "open"
	case Closed:
		return "closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// ResponseError reports a response that is not an event stream. Errors
// returned by Client.Run wrap it; get it with errors.As.
type ResponseError struct {
	Method      string
	URL         string // the URL that answered, after redirects, without password
	StatusCode  int
	Status      string // such as "500 Internal Server Error"
	ContentType string // the Content-Type header as sent
	// Body is the first non-blank line of the response body (at most 200
	// bytes) when the status is not 200: APIs put their error message there.
	Body string
	// Err is ErrBadStatus or ErrBadContentType.
	Err error
}

// Error says what was requested and what came back.
func (e *ResponseError) Error() string {
	if errors.Is(e.Err, ErrBadContentType) {
		if e.ContentType == "" {
			return fmt.Sprintf("%s %s: response has no content type, want text/event-stream", e.Method, e.URL)
		}
		return fmt.Sprintf("%s %s: content type %q is not text/event-stream", e.Method, e.URL, e.ContentType)
	}
	msg := fmt.Sprintf("%s %s: status %s", e.Method, e.URL, e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Unwrap returns e.Err.
func (e *ResponseError) Unwrap() error { return e.Err }

// Client is an event source: the stream at URL, the request that opens it
// and the policy for reconnecting. The zero value of every field but URL is
// useful and gives a browser's behaviour.
//
// A Client keeps no state between calls: each call to Run or Events starts
// from LastEventID and Retry. A Client may be used by several goroutines at
// once as long as its fields are not modified.
type Client struct {
	// URL is the address of the stream, an http or https URL. Reconnections
	// go to URL, not to where a redirect led.
	URL string
	// Method is the HTTP method; empty means GET.
	Method string
	// Header holds extra request headers. Accept (text/event-stream) and
	// Cache-Control (no-cache) are set unless Header sets them; Last-Event-ID
	// in Header is ignored: set LastEventID instead.
	Header http.Header
	// Body, when not nil, is sent as the request body on every attempt.
	Body []byte
	// LastEventID, when not empty, is sent as Last-Event-ID on the first
	// attempt, as if an earlier stream had ended with that id.
	LastEventID string
	// EndData, when not empty, is a data value that ends the stream cleanly,
	// such as "[DONE]". The event carrying it is not delivered.
	EndData string

	// HTTPClient sends the requests; nil means http.DefaultClient. Its
	// Timeout, if any, bounds a whole stream: leave it zero and use
	// ReadIdleTimeout instead.
	HTTPClient *http.Client
	// Retry is the reconnection time until the server sets one with a retry
	// field; zero means DefaultRetry.
	Retry time.Duration
	// MaxBackoff caps the delay between consecutive failed attempts; zero
	// means DefaultMaxBackoff. A reconnection time longer than MaxBackoff
	// is still honoured.
	MaxBackoff time.Duration
	// MaxAttempts, when positive, is the number of consecutive attempts that
	// deliver no event after which the client gives up with an error
	// wrapping ErrGaveUp. Zero means never give up, as browsers do.
	MaxAttempts int
	// NoReconnect makes the client connect once: when the body ends the
	// stream ends cleanly, and any failure is returned at once.
	NoReconnect bool
	// RetryServerErrors makes a 5xx or 429 response a failed attempt, retried
	// with backoff, instead of an error that ends the stream.
	RetryServerErrors bool
	// ReadIdleTimeout, when positive, fails a connection on which no byte
	// arrived for that long, response headers included. The time spent in
	// the function that receives events does not count.
	ReadIdleTimeout time.Duration
	// MaxLineBytes and MaxEventBytes, when positive, cap the length of a
	// line and the data of an event (see sse.Parser); a stream that exceeds
	// them ends with an error. Zero means no limit, as in browsers.
	MaxLineBytes  int
	MaxEventBytes int
	// OnComment, when not nil, is called with the text of each comment line
	// of the stream (": text" gives "text"), on the goroutine that runs the
	// stream, in order with the events. Servers send comments as
	// heartbeats; browsers drop them.
	OnComment func(comment string)
	// Restart, when not nil, makes the client drop its connection and
	// reconnect as after a network error whenever a value is received from
	// it: after the reconnection time, with Last-Event-ID, keeping the
	// retry value the server set. Events already received are delivered
	// first. A value received while no connection is open is ignored.
	// Each value restarts one of the streams using the Client.
	Restart <-chan struct{}

	// OnStateChange, when not nil, is called on the goroutine that runs the
	// stream whenever the state changes: Connecting with a nil error before
	// the first attempt; Open when a stream is announced (onopen); Connecting
	// with the cause before waiting to reconnect (onerror); and Closed once,
	// last, with the error Run returns (nil for a clean end).
	OnStateChange func(State, error)
}

// Events returns an iterator over the events of the stream. The iteration
// ends without an error when the stream ends cleanly (204 No Content, the end
// marker, or with NoReconnect the end of the body); otherwise it ends with
// one error, which is what Run would return. Breaking out of the loop closes
// the connection.
func (c *Client) Events(ctx context.Context) iter.Seq2[sse.Event, error] {
	return func(yield func(sse.Event, error) bool) {
		err := c.Run(ctx, func(ev sse.Event) error {
			if !yield(ev, nil) {
				return errBreak
			}
			return nil
		})
		if err != nil {
			yield(sse.Event{}, err)
		}
	}
}

// errBreak is how Events stops Run when the loop body breaks.
var errBreak = errors.New("client: iteration stopped")

// Run connects, calls fn with each event in order, and reconnects as the
// Client says until the stream ends. It returns nil when the stream ends
// cleanly (204 No Content, the end marker, or with NoReconnect the end of the
// body); ctx.Err() when ctx is done; the error of fn, unchanged, if fn
// returns one; and otherwise an error saying why the stream failed, which may
// wrap a *ResponseError, ErrGaveUp, ErrIdleTimeout, sse.ErrLineTooLong or
// sse.ErrEventTooLarge.
//
// fn runs on the calling goroutine; the stream waits while it runs.
func (c *Client) Run(ctx context.Context, fn func(sse.Event) error) (err error) {
	s := &stream{c: c, lastID: c.LastEventID, retry: c.Retry}
	if s.retry <= 0 {
		s.retry = DefaultRetry
	}
	defer func() {
		if errors.Is(err, errBreak) {
			err = nil
		}
		s.setState(Closed, err)
	}()
	if err := c.validate(); err != nil {
		return err
	}
	s.setState(Connecting, nil)
	failures := 0 // consecutive attempts that delivered no event
	for {
		res := s.attempt(ctx, fn)
		switch res.end {
		case endDone:
			return nil
		case endFatal:
			return res.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case res.delivered:
			failures = 0
		case !errors.Is(res.err, ErrRestart): // the caller's choice is no failure
			failures++
		}
		if c.NoReconnect {
			return fmt.Errorf("client: %w", res.err)
		}
		if c.MaxAttempts > 0 && failures >= c.MaxAttempts {
			return fmt.Errorf("client: %w after %s without an event: %w", ErrGaveUp, plural(failures, "attempt"), res.err)
		}
		delay := s.retry
		if !res.opened {
			delay = s.backoff(failures)
		}
		s.setState(Connecting, res.err)
		if err := s.wait(ctx, delay); err != nil {
			return err
		}
	}
}

// wait waits d before the next attempt, ignoring restart requests: the
// client is about to reconnect anyway.
func (s *stream) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case <-s.c.Restart:
		}
	}
}

// validate rejects a Client whose requests could never succeed, so that it
// fails at once instead of retrying forever.
func (c *Client) validate() error {
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("client: URL %q: want an absolute http or https URL", c.URL)
	}
	if c.Method != "" && !validToken(c.Method) {
		return fmt.Errorf("client: invalid method %q", c.Method)
	}
	if !validHeaderValue(c.LastEventID) {
		return fmt.Errorf("client: last event ID %q cannot be sent in a header", c.LastEventID)
	}
	return nil
}

// stream is the state of one call to Run: the EventSource's last event ID
// string and reconnection time.
type stream struct {
	c      *Client
	lastID string
	retry  time.Duration
}

func (s *stream) setState(st State, err error) {
	if s.c.OnStateChange != nil {
		s.c.OnStateChange(st, err)
	}
}

// backoff returns the delay before the next attempt after n consecutive
// failed ones: a random duration between half and all of retry·2ⁿ, capped
// by MaxBackoff, and never shorter than the reconnection time.
func (s *stream) backoff(n int) time.Duration {
	maxDelay := s.c.MaxBackoff
	if maxDelay <= 0 {
		maxDelay = DefaultMaxBackoff
	}
	if s.retry >= maxDelay {
		return s.retry
	}
	ceil := max(s.retry, minBackoffBase)
	for i := 0; i < n && ceil < maxDelay; i++ {
		ceil *= 2
	}
	ceil = min(ceil, maxDelay)
	floor := max(s.retry, ceil/2)
	if ceil <= floor {
		return floor
	}
	return floor + time.Duration(rand.Int64N(int64(ceil-floor)+1))
}

type end int

const (
	endDropped end = iota // reconnect
	endDone               // clean end: return nil
	endFatal              // return err
)

// result is the outcome of one connection attempt.
type result struct {
	end       end
	err       error // the cause when endDropped, the error to return when endFatal
	opened    bool  // the stream was announced
	delivered bool  // at least one event was delivered
}

func (s *stream) method() string {
	if s.c.Method == "" {
		return http.MethodGet
	}
	return s.c.Method
}

// attempt makes one connection and reads its stream to the end.
func (s *stream) attempt(ctx context.Context, fn func(sse.Event) error) (res result) {
	c := s.c
	connCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var idle *time.Timer
	if c.ReadIdleTimeout > 0 {
		idle = time.AfterFunc(c.ReadIdleTimeout, func() { cancel(ErrIdleTimeout) })
		defer idle.Stop()
	}
	if c.Restart != nil {
		watching := make(chan struct{})
		go func() {
			defer close(watching)
			select {
			case <-c.Restart:
				cancel(ErrRestart)
			case <-connCtx.Done():
			}
		}()
		defer func() {
			cancel(nil)
			<-watching // no goroutine outlives the attempt
		}()
	}
	var body io.Reader
	if c.Body != nil {
		body = bytes.NewReader(c.Body)
	}
	method := s.method()
	req, err := http.NewRequestWithContext(connCtx, method, c.URL, body)
	if err != nil {
		return result{end: endFatal, err: fmt.Errorf("client: %w", err)}
	}
	if c.Header != nil {
		req.Header = c.Header.Clone()
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/event-stream")
	}
	if req.Header.Get("Cache-Control") == "" {
		req.Header.Set("Cache-Control", "no-cache")
	}
	req.Header.Del("Last-Event-ID")
	if !validHeaderValue(s.lastID) {
		// Only the stream can have set such an id: Run checks LastEventID.
		return result{end: endFatal, err: fmt.Errorf("client: %s %s: the stream's last event ID %q cannot be sent as Last-Event-ID", method, req.URL.Redacted(), s.lastID)}
	}
	if s.lastID != "" {
		req.Header.Set("Last-Event-ID", s.lastID)
	}
	u := req.URL.Redacted()

	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if idle != nil {
		idle.Stop()
	}
	if err != nil {
		if ctx.Err() != nil {
			return result{end: endFatal, err: ctx.Err()}
		}
		return result{err: s.connError(connCtx, method+" "+u, err)}
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if idle != nil {
		r = &idleReader{r: r, t: idle, d: c.ReadIdleTimeout}
	}
	if resp.Request != nil && resp.Request.URL != nil {
		u = resp.Request.URL.Redacted() // after redirects
	}
	where := method + " " + u
	ct := resp.Header.Get("Content-Type")
	rerr := &ResponseError{Method: method, URL: u, StatusCode: resp.StatusCode, Status: resp.Status, ContentType: ct}

	if resp.StatusCode == http.StatusNoContent {
		return result{end: endDone}
	}
	if resp.StatusCode != http.StatusOK {
		rerr.Body, rerr.Err = firstLine(r), ErrBadStatus
		if ctx.Err() != nil {
			return result{end: endFatal, err: ctx.Err()}
		}
		if c.RetryServerErrors && (resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests) {
			return result{err: rerr}
		}
		return result{end: endFatal, err: fmt.Errorf("client: %w", rerr)}
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/event-stream" {
		rerr.Err = ErrBadContentType
		return result{end: endFatal, err: fmt.Errorf("client: %w", rerr)}
	}

	res.opened = true
	s.setState(Open, nil)
	p := sse.NewParser(r)
	p.MaxLineBytes = c.MaxLineBytes
	p.MaxEventBytes = c.MaxEventBytes
	p.OnComment = c.OnComment
	p.SetLastEventID(s.lastID)
	defer func() {
		s.lastID = p.LastEventID()
		if d, ok := p.Retry(); ok {
			s.retry = d
		}
	}()
	for {
		ev, err := p.Next()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				res.end, res.err = endFatal, ctx.Err()
			case errors.Is(err, io.EOF):
				res.err = fmt.Errorf("%s: server ended the stream", where)
				if c.NoReconnect {
					res.end, res.err = endDone, nil
				}
			case errors.Is(err, sse.ErrLineTooLong), errors.Is(err, sse.ErrEventTooLarge):
				res.end, res.err = endFatal, fmt.Errorf("client: %s: %w", where, err)
			default:
				res.err = s.connError(connCtx, where, err)
			}
			return res
		}
		if c.EndData != "" && ev.Data == c.EndData {
			res.end = endDone
			return res
		}
		res.delivered = true
		if err := fn(ev); err != nil {
			if errors.Is(err, ErrRestart) {
				res.err = fmt.Errorf("%s: %w", where, err)
				return res
			}
			res.end, res.err = endFatal, err
			return res
		}
	}
}

// connError describes a failed request or read, naming the read idle
// timeout when that is what cut the connection.
func (s *stream) connError(connCtx context.Context, where string, err error) error {
	switch cause := context.Cause(connCtx); {
	case errors.Is(cause, ErrIdleTimeout):
		return fmt.Errorf("%s: no data for %v: %w", where, s.c.ReadIdleTimeout, ErrIdleTimeout)
	case errors.Is(cause, ErrRestart):
		return fmt.Errorf("%s: %w", where, ErrRestart)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return fmt.Errorf("%s: %w", where, err)
}

// idleReader arms a timer during each Read, so that a read that waits longer
// than d cancels the connection.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (ir *idleReader) Read(p []byte) (int, error) {
	ir.t.Reset(ir.d)
	n, err := ir.r.Read(p)
	ir.t.Stop()
	return n, err
}

// firstLine returns the first non-blank line of the first KiB of r, trimmed
// to 200 bytes of valid UTF-8.
func firstLine(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 1024))
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		line = strings.ToValidUTF8(line, "\uFFFD")
		if len(line) > 200 {
			n := 200
			for !utf8.RuneStart(line[n]) { // cut at a character boundary
				n--
			}
			line = line[:n] + "…"
		}
		return line
	}
	return ""
}

// validToken reports whether s is an HTTP token, as a method must be.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s can be sent as a header value.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// plural returns "1 attempt" or "n attempts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
