package durable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Config.
const (
	// DefaultPrefix is the path under which streams are served, the one
	// the conformance suite and the reference servers use.
	DefaultPrefix = "/v1/stream/"
	// DefaultMaxBodyBytes bounds one PUT or POST body (413 beyond).
	DefaultMaxBodyBytes = 8 << 20
	// DefaultMaxReadBytes is about how much one catch-up response carries.
	DefaultMaxReadBytes = 1 << 20
	// DefaultLongPoll is how long a long-poll waits before its 204.
	DefaultLongPoll = 30 * time.Second
	// DefaultSSEDuration is how long an SSE response lasts before the
	// server closes it so that the client reconnects (§10.2: about 60 s).
	DefaultSSEDuration = 60 * time.Second
	// DefaultWriteTimeout bounds a write to a live SSE reader whose
	// socket did not take it at once.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultCursorInterval is the width of a cursor interval (§10.1).
	DefaultCursorInterval = 20 * time.Second
	// DefaultMaxTTL bounds Stream-TTL and how far Stream-Expires-At may lie.
	DefaultMaxTTL = 365 * 24 * time.Hour
	// DefaultMaxStreams bounds how many streams a store holds, so that
	// anonymous creates cannot fill the disk or memory: ten times the
	// 100,000 small streams the stores are sized for, about half a GB of
	// metadata in the memory store.
	DefaultMaxStreams = 1_000_000
	// DefaultCacheControl is the Cache-Control of catch-up and long-poll
	// responses that carry data (§10.1, for shared streams).
	DefaultCacheControl = "public, max-age=60, stale-while-revalidate=300"
)

// cursorEpoch is the start of cursor intervals that §10.1 names.
var cursorEpoch = time.Date(2024, 10, 9, 0, 0, 0, 0, time.UTC)

// Config configures a Server. Zero fields take the defaults above.
type Config struct {
	// Store keeps the streams; required. The Server does not close it.
	Store Store
	// Prefix is the path of the stream root, ending in "/".
	Prefix string
	// MaxBodyBytes bounds a PUT or POST body.
	MaxBodyBytes int64
	// MaxReadBytes is about how much one catch-up or long-poll response,
	// or one SSE data event, carries.
	MaxReadBytes int
	// LongPoll is how long a long-poll waits for data.
	LongPoll time.Duration
	// SSEDuration is how long an SSE response stays open.
	SSEDuration time.Duration
	// WriteTimeout bounds each write to a live SSE reader that its socket
	// does not take at once; a client that takes longer is disconnected
	// (and resumes from its offset when it reconnects).
	WriteTimeout time.Duration
	// CursorInterval is the width of a cursor interval.
	CursorInterval time.Duration
	// MaxTTL bounds Stream-TTL and Stream-Expires-At.
	MaxTTL time.Duration
	// MaxStreams bounds the number of streams in the store: creating one
	// more is 507 Insufficient Storage. Enforced by stores that count
	// exactly (memory, bolt, Redis, NATS); see StreamCounter.
	MaxStreams int
	// CacheControl is sent on catch-up and long-poll responses with data;
	// "private, …" suits streams with user-specific data.
	CacheControl string
	// Logger receives store failures; nil: slog.Default().
	Logger *slog.Logger
}

// Server serves the Durable Streams protocol over a Store.
type Server struct {
	cfg Config
	log *slog.Logger

	// producerLocks serialise validation and append per (stream,
	// producer) as §5.2.1 asks, so that pipelined requests are applied
	// in arrival order at the store even when a backend retries.
	mu    sync.Mutex
	locks map[string]*producerLock

	// tails are the followers that share one wait and read per change
	// among a stream's live SSE readers (tail.go).
	tailsMu sync.Mutex
	tails   map[tailKey]*tail

	// live are the SSE responses taken over from net/http (live.go), for
	// Shutdown; liveOff: no more take-overs.
	liveMu  sync.Mutex
	live    map[*liveConn]struct{}
	liveOff bool
	liveWG  sync.WaitGroup
}

type producerLock struct {
	mu   sync.Mutex
	refs int
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("durable: Config.Store is nil")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !strings.HasPrefix(cfg.Prefix, "/") || !strings.HasSuffix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("durable: prefix %q must start and end with /", cfg.Prefix)
	}
	setDefault(&cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&cfg.MaxReadBytes, DefaultMaxReadBytes)
	setDefault(&cfg.LongPoll, DefaultLongPoll)
	setDefault(&cfg.SSEDuration, DefaultSSEDuration)
	setDefault(&cfg.WriteTimeout, DefaultWriteTimeout)
	setDefault(&cfg.CursorInterval, DefaultCursorInterval)
	setDefault(&cfg.MaxTTL, DefaultMaxTTL)
	setDefault(&cfg.MaxStreams, DefaultMaxStreams)
	if cfg.CacheControl == "" {
		cfg.CacheControl = DefaultCacheControl
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{cfg: cfg, log: log, locks: map[string]*producerLock{}, tails: map[tailKey]*tail{},
		live: map[*liveConn]struct{}{}}, nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Prefix returns the path under which streams are served.
func (s *Server) Prefix() string { return s.cfg.Prefix }

// Register serves the streams on mux under the prefix.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle(s.cfg.Prefix, s)
}

// exposed lists the response headers a cross-origin script may read.
const exposed = "Stream-Next-Offset, Stream-Cursor, Stream-Up-To-Date, Stream-Closed, Stream-TTL, Stream-Expires-At, " +
	"Stream-SSE-Data-Encoding, Producer-Epoch, Producer-Seq, Producer-Expected-Seq, Producer-Received-Seq, ETag, Location, Content-Type"

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// §12.7 on every answer, errors included.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", exposed)
	name, ok := strings.CutPrefix(r.URL.Path, s.cfg.Prefix)
	if !ok {
		httpError(w, http.StatusNotFound, "not a stream path")
		return
	}
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, POST, DELETE, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		} else {
			h.Set("Access-Control-Allow-Headers", "*")
		}
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if first, _, _ := strings.Cut(name, "/"); first == "__ds" {
		// §6: the reserved control namespace is routed before streams, so
		// it never names an application stream; this server implements no
		// subscription API under it.
		httpError(w, http.StatusNotImplemented, "the subscription APIs (__ds) are not implemented by this server")
		return
	}
	if name == "" {
		httpError(w, http.StatusNotFound, "no stream named: the path needs a stream name after "+s.cfg.Prefix)
		return
	}
	switch r.Method {
	case http.MethodPut:
		s.create(w, r, name)
	case http.MethodPost:
		s.append(w, r, name)
	case http.MethodGet:
		s.read(w, r, name)
	case http.MethodHead:
		s.head(w, r, name)
	case http.MethodDelete:
		s.delete(w, r, name)
	default:
		h.Set("Allow", "GET, HEAD, PUT, POST, DELETE, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, r.Method+" is not a Durable Streams method")
	}
}

// httpError answers with a plain-text message.
func httpError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}

// storeError answers a store error with the status §5 assigns to it.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	var ce *ClosedError
	var pe *ProducerError
	h := w.Header()
	switch {
	case errors.As(err, &ce):
		h.Set("Stream-Closed", "true")
		h.Set("Stream-Next-Offset", FormatOffset(ce.Tail))
		httpError(w, http.StatusConflict, "the stream is closed")
	case errors.As(err, &pe) && errors.Is(err, ErrStaleEpoch):
		h.Set("Producer-Epoch", strconv.FormatUint(pe.Epoch, 10))
		httpError(w, http.StatusForbidden, err.Error())
	case errors.As(err, &pe) && errors.Is(err, ErrProducerGap):
		h.Set("Producer-Expected-Seq", strconv.FormatUint(pe.Expected, 10))
		h.Set("Producer-Received-Seq", strconv.FormatUint(pe.Received, 10))
		httpError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrNotFound):
		httpError(w, http.StatusNotFound, "stream not found")
	case errors.Is(err, ErrGone):
		httpError(w, http.StatusGone, "stream deleted")
	case errors.Is(err, ErrConflict), errors.Is(err, ErrContentType), errors.Is(err, ErrSeq):
		httpError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrTooMany):
		// 507: the server cannot store the new stream; retrying the same
		// request will not help until streams are deleted or expire.
		httpError(w, http.StatusInsufficientStorage, fmt.Sprintf("too many streams: this server holds at most %d (-durable-max-streams); delete or let some expire", s.cfg.MaxStreams))
	case errors.Is(err, ErrTooLarge):
		// 413 as for a body over -durable-max-body: the store's own
		// bound is lower, and the same request will never fit.
		httpError(w, http.StatusRequestEntityTooLarge, err.Error()+"; split it into several appends")
	case errors.Is(err, ErrProducerEpochSeq), errors.Is(err, ErrBadFork), errors.Is(err, ErrBadOffset):
		httpError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		httpError(w, http.StatusServiceUnavailable, "request ended")
	default:
		s.log.Error("durable streams store failed", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "the stream store is unavailable")
	}
}

// mediaType normalises a Content-Type to its lower-case media type, the
// form streams compare (§ case-insensitivity; parameters such as charset
// do not change the type).
func mediaType(v string) (string, bool) {
	if strings.TrimSpace(v) == "" {
		return "", false
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		mt, _, _ = strings.Cut(v, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	return mt, mt != ""
}

// closedHeader is §4.1's rule: only "true", in any case, counts.
func closedHeader(r *http.Request) bool {
	return strings.EqualFold(strings.TrimSpace(r.Header.Get("Stream-Closed")), "true")
}

// readBody reads a request body up to the limit; ok false has answered.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes is over the limit of %d", r.ContentLength, s.cfg.MaxBodyBytes))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over the limit of %d bytes", s.cfg.MaxBodyBytes))
		return nil, false
	case err != nil:
		httpError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return nil, false
	}
	return body, true
}

// record turns a body into a record: bytes as they are, JSON flattened one
// level into messages (§9.1.2). allowEmpty admits "[]" (a PUT's).
func record(contentType string, body []byte, allowEmpty bool) (data []byte, units uint64, err error) {
	if !IsJSON(contentType) {
		return body, uint64(len(body)), nil
	}
	msgs, err := flattenJSON(body)
	if err != nil {
		return nil, 0, err
	}
	if len(msgs) == 0 && !allowEmpty {
		return nil, 0, errors.New("an empty JSON array appends nothing")
	}
	return joinJSON(msgs), uint64(len(msgs)), nil
}

// parseTTL reads Stream-TTL and Stream-Expires-At (§5.1).
func (s *Server) parseExpiry(r *http.Request) (ttl time.Duration, at time.Time, err error) {
	ttlV, hasTTL := header(r, "Stream-TTL")
	atV, hasAt := header(r, "Stream-Expires-At")
	if hasTTL && hasAt {
		return 0, time.Time{}, errors.New("Stream-TTL and Stream-Expires-At are exclusive")
	}
	if hasTTL {
		n, ok := parseDecimal(ttlV)
		if !ok {
			return 0, time.Time{}, fmt.Errorf("Stream-TTL %q is not a non-negative decimal integer without leading zeros", ttlV)
		}
		if n > uint64(s.cfg.MaxTTL/time.Second) {
			return 0, time.Time{}, fmt.Errorf("Stream-TTL %d is over the limit of %d seconds", n, uint64(s.cfg.MaxTTL/time.Second))
		}
		ttl = time.Duration(n) * time.Second
	}
	if hasAt {
		at, err = time.Parse(time.RFC3339Nano, atV)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("Stream-Expires-At %q is not an RFC 3339 time", atV)
		}
		if time.Until(at) > s.cfg.MaxTTL {
			return 0, time.Time{}, fmt.Errorf("Stream-Expires-At %s is further than the limit of %s", atV, s.cfg.MaxTTL)
		}
	}
	return ttl, at, nil
}

func header(r *http.Request, name string) (string, bool) {
	v, ok := r.Header[http.CanonicalHeaderKey(name)]
	if !ok || len(v) == 0 {
		return "", false
	}
	return strings.TrimSpace(v[0]), true
}

// parseDecimal accepts a decimal integer without sign, leading zeros or
// fraction, up to 2^53-1 (§5.1, §5.2.1: JavaScript's safe integers).
func parseDecimal(v string) (uint64, bool) {
	if v == "" || len(v) > 16 || (len(v) > 1 && v[0] == '0') {
		return 0, false
	}
	for i := range len(v) {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > 1<<53-1 {
		return 0, false
	}
	return n, true
}

// streamURL is the absolute URL of the request's stream, for Location.
func streamURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, name string) {
	var req CreateRequest
	req.ContentType, req.ContentTypeGiven = mediaType(r.Header.Get("Content-Type"))
	ttl, at, err := s.parseExpiry(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	req.TTL, req.ExpiresAt = ttl, at
	req.Closed = closedHeader(r)
	from, isFork := header(r, "Stream-Forked-From")
	subV, hasSub := header(r, "Stream-Fork-Sub-Offset")
	offV, hasOff := header(r, "Stream-Fork-Offset")
	switch {
	case isFork:
		src := from
		if u, err := parseURLPath(from); err == nil {
			src = u
		}
		src = strings.TrimPrefix(src, s.cfg.Prefix)
		if src == "" || src == from && strings.HasPrefix(from, "/") {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("Stream-Forked-From %q is not a stream path under %s", from, s.cfg.Prefix))
			return
		}
		req.ForkedFrom = src
		if hasOff && offV != OffsetNow {
			pos, _, err := ParseOffset(offV)
			if err != nil {
				httpError(w, http.StatusBadRequest, "Stream-Fork-Offset: "+err.Error())
				return
			}
			req.ForkOffset, req.HasForkOffset = pos, true
		}
		if hasSub {
			n, ok := parseDecimal(subV)
			if !ok {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("Stream-Fork-Sub-Offset %q is not a non-negative integer", subV))
				return
			}
			if n > 0 && !req.HasForkOffset {
				httpError(w, http.StatusBadRequest, "Stream-Fork-Sub-Offset needs Stream-Fork-Offset")
				return
			}
			req.ForkSubOffset = n
		}
	case hasOff || hasSub:
		httpError(w, http.StatusBadRequest, "Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From")
		return
	case !req.ContentTypeGiven:
		req.ContentType = "application/octet-stream"
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	if len(body) > 0 || IsJSON(req.ContentType) {
		ct := req.ContentType
		if isFork && !req.ContentTypeGiven {
			info, err := s.cfg.Store.Stat(r.Context(), req.ForkedFrom)
			if err != nil {
				s.storeError(w, r, err)
				return
			}
			ct = info.ContentType
		}
		if len(body) > 0 || IsJSON(ct) && len(body) > 0 {
			if req.Data, req.Units, err = record(ct, body, true); err != nil {
				httpError(w, http.StatusBadRequest, "body: "+err.Error())
				return
			}
		}
	}
	req.MaxStreams = s.cfg.MaxStreams
	res, err := s.cfg.Store.Create(r.Context(), name, req)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", res.ContentType)
	h.Set("Stream-Next-Offset", FormatOffset(res.Tail))
	h.Set("Cache-Control", "no-store")
	if res.Closed {
		h.Set("Stream-Closed", "true")
	}
	if res.Created {
		h.Set("Location", streamURL(r))
		w.WriteHeader(http.StatusCreated)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func parseURLPath(v string) (string, error) {
	if !strings.Contains(v, "://") {
		return "", errors.New("not a URL")
	}
	_, rest, _ := strings.Cut(v, "://")
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", errors.New("no path")
	}
	return rest[i:], nil
}

// producer reads the three producer headers (§5.2.1): all or none.
func producer(r *http.Request) (*Producer, error) {
	id, hasID := header(r, "Producer-Id")
	ev, hasEpoch := header(r, "Producer-Epoch")
	sv, hasSeq := header(r, "Producer-Seq")
	if !hasID && !hasEpoch && !hasSeq {
		return nil, nil
	}
	if !hasID || !hasEpoch || !hasSeq {
		return nil, errors.New("Producer-Id, Producer-Epoch and Producer-Seq go together")
	}
	if id == "" {
		return nil, errors.New("Producer-Id is empty")
	}
	epoch, ok := parseDecimal(ev)
	if !ok {
		return nil, fmt.Errorf("Producer-Epoch %q is not an integer from 0 to 2^53-1", ev)
	}
	seq, ok := parseDecimal(sv)
	if !ok {
		return nil, fmt.Errorf("Producer-Seq %q is not an integer from 0 to 2^53-1", sv)
	}
	return &Producer{ID: id, Epoch: epoch, Seq: seq}, nil
}

// lockProducer serialises one (stream, producer) pair; the returned func
// releases it.
func (s *Server) lockProducer(name, id string) func() {
	key := name + "\x00" + id
	s.mu.Lock()
	l := s.locks[key]
	if l == nil {
		l = &producerLock{}
		s.locks[key] = l
	}
	l.refs++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, key)
		}
		s.mu.Unlock()
	}
}

func (s *Server) append(w http.ResponseWriter, r *http.Request, name string) {
	closing := closedHeader(r)
	p, err := producer(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req := AppendRequest{Close: closing, Producer: p}
	if v, ok := header(r, "Stream-Seq"); ok {
		req.Seq = v
	}
	if len(body) == 0 && !closing {
		httpError(w, http.StatusBadRequest, "empty body: an append needs data (or Stream-Closed: true to close)")
		return
	}
	if len(body) > 0 {
		ct, ok := mediaType(r.Header.Get("Content-Type"))
		if !ok {
			httpError(w, http.StatusBadRequest, "Content-Type is missing")
			return
		}
		req.ContentType = ct
		if req.Data, req.Units, err = record(ct, body, false); err != nil {
			httpError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
	}
	if p != nil {
		defer s.lockProducer(name, p.ID)()
	}
	res, err := s.cfg.Store.Append(r.Context(), name, req)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Stream-Next-Offset", FormatOffset(res.Tail))
	if res.Closed {
		h.Set("Stream-Closed", "true")
	}
	if p != nil {
		h.Set("Producer-Epoch", strconv.FormatUint(res.ProducerEpoch, 10))
		h.Set("Producer-Seq", strconv.FormatUint(res.ProducerSeq, 10))
		if !res.Duplicate && len(body) > 0 {
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) head(w http.ResponseWriter, r *http.Request, name string) {
	info, err := s.cfg.Store.Stat(r.Context(), name)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	h := w.Header()
	s.metaHeaders(h, info)
	h.Set("Stream-Next-Offset", FormatOffset(info.Tail))
	h.Set("Cache-Control", "no-store")
	if info.Closed {
		h.Set("Stream-Closed", "true")
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) metaHeaders(h http.Header, info Info) {
	h.Set("Content-Type", info.ContentType)
	if info.TTL > 0 {
		h.Set("Stream-TTL", strconv.FormatInt(int64(info.TTL/time.Second), 10))
	}
	if !info.ExpiresAt.IsZero() {
		h.Set("Stream-Expires-At", info.ExpiresAt.UTC().Format(time.RFC3339Nano))
	}
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, name string) {
	if err := s.cfg.Store.Delete(r.Context(), name); err != nil {
		s.storeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// cursor returns the cursor for a live response (§10.1): the current
// interval number, or past the client's when the client's is not behind,
// so that cursors only move forward.
func (s *Server) cursor(client string) string {
	c, ok := parseCursor(client)
	return strconv.FormatUint(s.nextCursor(s.interval(), c, ok), 10)
}

// parseCursor reads a client's cursor; ok is false when it is not a number.
func parseCursor(client string) (c uint64, ok bool) {
	c, err := strconv.ParseUint(client, 10, 64)
	return c, err == nil
}

// interval is the number of the current cursor interval.
func (s *Server) interval() uint64 {
	return uint64(time.Since(cursorEpoch) / s.cfg.CursorInterval)
}

// nextCursor is cursor's rule on numbers: interval n, or past the
// client's cursor c (when it has one, ok) if c is not behind.
func (s *Server) nextCursor(n, c uint64, ok bool) uint64 {
	if ok && c >= n {
		return c + 1 + rand.N(uint64(3600*time.Second/s.cfg.CursorInterval))
	}
	return n
}
