package mercure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssehub/ssehub/admission"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/idempotency"
	"github.com/ssehub/ssehub/store/memory"
)

// Paths served by a Server.
const (
	HubPath           = "/.well-known/mercure"
	SubscriptionsPath = "/.well-known/mercure/subscriptions"
	HealthPath        = "/healthz"
	MetricsPath       = "/metrics"
)

// Defaults of Config.
const (
	DefaultHeartbeat      = 15 * time.Second
	DefaultMaxDataBytes   = 1 << 20
	DefaultMaxTopics      = 100
	DefaultMaxIDBytes     = 1024
	DefaultMaxTypeBytes   = 256
	DefaultMaxQueryBytes  = 64 << 10
	DefaultWriteTimeout   = 10 * time.Second
	DefaultPublishTimeout = 10 * time.Second
	DefaultShutdownRetry  = 2 * time.Second
	DefaultCoalesce       = time.Millisecond
	DefaultCookieName     = "mercureAuthorization"
	// DefaultMaxTokenStream bounds the life of a draft-08 stream opened
	// with a token (Config.MaxTokenStream).
	DefaultMaxTokenStream = 24 * time.Hour
	// DefaultSubscriptionEvents and DefaultSubscriptionEventBytes bound
	// the in-memory history of subscription events (Config.SubscriptionStore).
	DefaultSubscriptionEvents     = 10_000
	DefaultSubscriptionEventBytes = 16 << 20
	// DefaultBodyTimeout bounds the time a publisher takes to send its
	// request body.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultPublishRate and DefaultPublishBurst bound how often one
	// publisher (a token subject, or an address for tokens without one)
	// publishes: generous for a backend (a burst of ten thousand, as a
	// load test publishes), a bound for a leaked token.
	DefaultPublishRate  = 1000
	DefaultPublishBurst = 10_000
)

// replayCache is how many recent updates the hub keeps encoded for replays
// unless HistorySize asks for more (the cache's memory is bounded by
// hub.DefaultReplayCacheBytes whatever the count): enough for a client that
// missed thousands of small updates, S4 (5,000) among them.
const replayCache = 16384

// healthTimeout bounds the store check of HealthPath.
const healthTimeout = 2 * time.Second

// Config configures a Server. The zero value is a working hub with an
// in-memory history of 64 MiB that refuses every publisher (no key)
// and every subscriber (no key, no anonymous access).
type Config struct {
	// Store keeps history. Nil: an in-memory store bounded by HistoryBytes,
	// HistorySize and HistoryAge, closed by Server.Close. A given Store is
	// not closed.
	Store hub.Store
	// HistoryBytes bounds the in-memory history by size: 0 means
	// memory.DefaultMaxBytes, negative no byte bound.
	HistoryBytes int64
	// HistorySize bounds the in-memory history by count: 0 means
	// memory.DefaultMaxUpdates, a negative value keeps none.
	HistorySize int
	// HistoryAge bounds the in-memory history by age; 0: no age limit.
	HistoryAge time.Duration
	// QueueSize bounds each subscriber's queue; 0 means hub.DefaultQueueSize.
	QueueSize int
	// PageBytes bounds what a stream's writer takes from the hub at a time
	// (a page of history, a batch of live updates): what a subscriber that
	// stops reading holds besides its socket buffer. 0 means
	// hub.DefaultPageBytes.
	PageBytes int

	// PublisherJWTKey checks publishers' tokens: an HMAC secret, or for RS*
	// an RSA public key in PEM. Empty: every publisher is refused.
	PublisherJWTKey string
	// PublisherJWTAlg is the only algorithm accepted for publishers'
	// tokens: HS256 (default), HS384, HS512, RS256, RS384 or RS512.
	PublisherJWTAlg string
	// SubscriberJWTKey and SubscriberJWTAlg are the same for subscribers.
	SubscriberJWTKey string
	SubscriberJWTAlg string
	// Anonymous lets subscribers without a token receive public updates.
	Anonymous bool

	// CORSOrigins are the origins whose pages may use the hub from the
	// browser, with credentials (cookies); "*" allows every origin.
	CORSOrigins []string
	// PublishOrigins are the origins allowed to publish with a cookie; "*"
	// allows every origin. Empty: publishing by cookie is refused.
	PublishOrigins []string
	// CookieName is the authorization cookie; "" means mercureAuthorization.
	CookieName string

	// Issuers are the trusted issuers of draft-08 access tokens (RFC 9068
	// JWT access tokens with authorization_details), each with its keys.
	// Empty: every draft-08 token is refused. Draft-07 tokens are checked
	// with PublisherJWTKey and SubscriberJWTKey as before.
	Issuers []Issuer
	// Audience is the hub's resource identifier, which the aud claim of
	// draft-08 access tokens must contain and the protected resource
	// metadata names: "" means PublicURL. With Issuers, one of them is
	// required (draft-08: a hub is configured with its identifier; a
	// request's Host would let a token minted for another hub through).
	Audience string
	// JWTAlgorithms is the allowlist of signature algorithms of draft-08
	// access tokens: empty means EdDSA, ES256, ES384, ES512, RS256, RS384,
	// RS512, PS256, PS384, PS512, HS256, HS384 and HS512. "none" is never
	// accepted; each key verifies only the algorithms of its type.
	JWTAlgorithms []string
	// AccessTokenCookie is the cookie draft-08 requests present their
	// access token in: "" means DefaultAccessTokenCookie. Its __Secure-
	// prefix keeps browsers from sending it over plain HTTP: name it
	// without the prefix for development over http://.
	AccessTokenCookie string
	// MaxTokenStream bounds the life of a draft-08 stream opened with a
	// token, whatever the token's exp (draft-08 §"Subscribers": exp alone
	// cannot revoke a connection): 0 means DefaultMaxTokenStream, negative
	// no bound but exp.
	MaxTokenStream time.Duration
	// TokenCacheBytes bounds the memory of the cache of verified tokens,
	// which spares a publisher that presents the same token on every
	// request a signature check and a parse of its grants each time. An
	// entry lives until its token's exp at most; a token without exp
	// (draft-07) until the cache needs its room. 0 means
	// DefaultTokenCacheBytes, negative no cache.
	TokenCacheBytes int

	// Subscriptions enables subscription events and the subscriptions API.
	Subscriptions bool
	// SubscriptionStore keeps the history of subscription events, apart
	// from Store so that they never push updates out of it (a client could
	// otherwise flush history by subscribing). Nil: in memory, bounded by
	// DefaultSubscriptionEvents and DefaultSubscriptionEventBytes, closed
	// by Server.Close. Used only with Subscriptions; a given store is not
	// closed. Nodes sharing Store share this one too.
	SubscriptionStore hub.Store

	// Draft restricts the hub to one version of the protocol: "07"
	// (draft-dunglas-mercure-07) or "08" (draft-dunglas-mercure-08,
	// Mercure 1.0). "" serves both on the same endpoint and history; each
	// request is answered by the draft its parameters belong to.
	Draft string
	// PublicURL is the hub's URL as clients reach it, e.g.
	// https://example.com/.well-known/mercure: draft-08 resolves relative
	// URL patterns and topics against it. "": each request's scheme, Host
	// and HubPath.
	PublicURL string

	// Idempotency keeps the Idempotency-Key records of publish requests.
	// Nil: the Store, when it implements idempotency.Store (every store of
	// this module does, so keys work across the nodes sharing it), else
	// none and the header is ignored.
	Idempotency idempotency.Store
	// IdempotencyKeep is how long the answer to a publish request with an
	// Idempotency-Key is given again to its retries: 0 means
	// DefaultIdempotencyKeep, negative ignores the header. At most
	// idempotency.MaxKeep.
	IdempotencyKeep time.Duration

	// Heartbeat is the interval of comment heartbeats on idle streams: 0
	// means 15s, negative disables them.
	Heartbeat time.Duration
	// MaxDataBytes bounds a published update's data: 0 means 1 MiB.
	MaxDataBytes int64
	// MaxIDBytes bounds a published update's id: 0 means 1 KiB. A longer
	// one is refused with 413.
	MaxIDBytes int
	// MaxTypeBytes bounds a published update's type: 0 means 256 bytes. A
	// longer one is refused with 413.
	MaxTypeBytes int
	// MaxTopics bounds the topics of an update and the selectors of a
	// subscription: 0 means 100.
	MaxTopics int
	// MaxQueryBytes bounds a subscription's query string: 0 means 64 KiB.
	MaxQueryBytes int
	// BodyTimeout bounds the time a publisher takes to send its request
	// body, from when its token is accepted (408 beyond): 0 means 30s,
	// negative none (then only the size bounds it).
	BodyTimeout time.Duration
	// PublishRate is how many updates per second one publisher may
	// publish on average, and PublishBurst how many at once (429 with
	// Retry-After beyond). A publisher is its token's sub claim, or the
	// client address (admission.Client) for tokens without one. 0 means
	// the defaults; a negative rate, no limit.
	PublishRate  float64
	PublishBurst int
	// MaxSelectorBytes bounds the length of a topic selector: 0 means
	// hub.DefaultMaxSelectorBytes. A longer one is refused with 400.
	MaxSelectorBytes int
	// MaxSelectorVariables bounds the variables of a URI template selector:
	// 0 means hub.DefaultMaxSelectorVariables.
	MaxSelectorVariables int
	// MaxSelectorProgram bounds the instructions of a selector's compiled
	// matcher past its literal prefix, which bounds the cost of a match
	// per rune of the topic: 0 means hub.DefaultMaxSelectorProgram.
	MaxSelectorProgram int
	// SelectorCacheBytes bounds the memory of the compiled selectors kept
	// for reuse: 0 means hub.DefaultSelectorCacheBytes.
	SelectorCacheBytes int64
	// PublishTimeout bounds the storing of a published update. It runs to
	// its end even when the publisher hangs up after sending its request
	// (a publisher that half-closes its socket is still answered): an
	// update read in full and authorized is stored. 0 means 10s.
	PublishTimeout time.Duration
	// WriteTimeout bounds each write to a subscriber; a client that does
	// not take the bytes by then is disconnected (over HTTP/2, HTTP/3 and
	// TLS, by one and a half times it at most: see writeDeadline). 0 means
	// 10s.
	WriteTimeout time.Duration
	// ShutdownRetry is the reconnection time sent to subscribers when the
	// server shuts down: 0 means 2s.
	ShutdownRetry time.Duration
	// Coalesce is the least stream writers pause while updates come faster
	// than they write them out (up to eight times as long when they are
	// further behind): the pool's writers after a round of writes for
	// HTTP/1.1, and all the streams served by their own goroutines (HTTP/2,
	// HTTP/3, TLS) together, when one of them finds updates waiting longer
	// than Coalesce. The updates published meanwhile leave together: one
	// write for many updates, which is most of the CPU saved under load.
	// At a load the writers keep up with they do not pause, and add no
	// latency. 0 means DefaultCoalesce. Negative serves every stream from
	// its own handler goroutine, without pauses, instead of taking HTTP/1.1
	// connections over after their headers (see "Performance" in the
	// README).
	Coalesce time.Duration

	// Registry receives the hub's metrics and is served at /metrics. Nil: a
	// new registry of the Server's own (never the global default).
	Registry *prometheus.Registry
	// Logger receives logs. Nil discards them.
	Logger *slog.Logger
}

// Server is the Mercure HTTP adapter of a hub.Hub. It is safe for concurrent
// use.
type Server struct {
	cfg       Config
	hub       *hub.Hub
	store     hub.Store
	ownsStore bool
	// events is the hub of subscription events, on a store of their own;
	// nil without Config.Subscriptions.
	events      *hub.Hub
	eventsStore hub.Store
	ownsEvents  bool
	proto       protocol
	pub, sub    *verifier
	tokens      *accessTokens // draft-08 access tokens
	verified    *tokenCache   // of both drafts; nil: off
	// metadataURL is the URL of the protected resource metadata, given in
	// Bearer challenges; "" when the hub serves none.
	metadataURL string
	metadata    resourceMetadata
	keys        idempotency.Store // nil: Idempotency-Key ignored
	lim         limits
	log         *slog.Logger
	metrics     http.Handler
	heartbeat   []byte
	retryHint   []byte
	// unavailableHint ends a stream that the store failed.
	unavailableHint []byte
	// The same, framed as HTTP/1.1 chunks for taken-over connections.
	heartbeatChunk []byte
	retryChunk     []byte
	pool           *pool
	publishRate    *admission.RateLimiter // nil: no limit

	streams sync.WaitGroup
	closing atomic.Bool
	written atomic.Uint64
	// rounds and pauses count the writer pool's rounds of writes and the
	// pauses after them: how often the hub traded latency for CPU.
	rounds atomic.Uint64
	pauses atomic.Uint64
	// hold paces the streams served by their own goroutines together.
	hold hold
	// writeDelay observes, for each write of live updates, how long ago
	// the oldest of them was published: the hub's share of delivery
	// latency, which a client's own figures cannot separate from theirs.
	writeDelay prometheus.Histogram
	shutdown   sync.Once
}

// New returns a Server serving a new Hub, configured by cfg with the
// defaults documented on Config. It fails on an invalid key or algorithm
// or when the metrics cannot be registered.
func New(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, proto: draft07{}, log: cfg.Logger}
	c := &s.cfg
	switch c.Draft {
	case "", "07", "08":
	default:
		return nil, fmt.Errorf("mercure: Draft %q: want 07, 08 or empty for both", c.Draft)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || !u.IsAbs() {
			return nil, fmt.Errorf("mercure: PublicURL %q is not an absolute URL", c.PublicURL)
		}
	}
	setDefault(&c.Heartbeat, DefaultHeartbeat)
	setDefault(&c.MaxDataBytes, DefaultMaxDataBytes)
	setDefault(&c.MaxTopics, DefaultMaxTopics)
	setDefault(&c.MaxIDBytes, DefaultMaxIDBytes)
	setDefault(&c.MaxTypeBytes, DefaultMaxTypeBytes)
	setDefault(&c.MaxQueryBytes, DefaultMaxQueryBytes)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.PublishTimeout, DefaultPublishTimeout)
	setDefault(&c.ShutdownRetry, DefaultShutdownRetry)
	setDefault(&c.Coalesce, DefaultCoalesce)
	setDefault(&c.CookieName, DefaultCookieName)
	setDefault(&c.AccessTokenCookie, DefaultAccessTokenCookie)
	setDefault(&c.MaxTokenStream, DefaultMaxTokenStream)
	setDefault(&c.BodyTimeout, DefaultBodyTimeout)
	setDefault(&c.PublishRate, DefaultPublishRate)
	setDefault(&c.PublishBurst, DefaultPublishBurst)
	setDefault(&c.IdempotencyKeep, DefaultIdempotencyKeep)
	if c.IdempotencyKeep > idempotency.MaxKeep {
		return nil, fmt.Errorf("mercure: IdempotencyKeep %s is longer than %s", c.IdempotencyKeep, idempotency.MaxKeep)
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.lim = limits{maxTopics: c.MaxTopics, maxData: c.MaxDataBytes, maxID: c.MaxIDBytes, maxType: c.MaxTypeBytes}
	s.publishRate = admission.NewRateLimiter(c.PublishRate, c.PublishBurst)
	var err error
	if s.pub, err = newVerifier("publisher", c.PublisherJWTKey, c.PublisherJWTAlg); err != nil {
		return nil, err
	}
	if s.sub, err = newVerifier("subscriber", c.SubscriberJWTKey, c.SubscriberJWTAlg); err != nil {
		return nil, err
	}
	setDefault(&c.TokenCacheBytes, DefaultTokenCacheBytes)
	s.verified = newTokenCache(c.TokenCacheBytes)
	if err := s.setupAccessTokens(); err != nil {
		return nil, err
	}
	s.store = c.Store
	if s.store == nil {
		s.store = memory.New(memory.Options{MaxUpdates: c.HistorySize, MaxBytes: c.HistoryBytes, MaxAge: c.HistoryAge})
		s.ownsStore = true
	}
	if c.IdempotencyKeep > 0 {
		s.keys = c.Idempotency
		if ks, ok := s.store.(idempotency.Store); ok && s.keys == nil {
			s.keys = ks
		}
	}
	// The hub's cache of encoded updates covers recent history (within its
	// byte bound), so that replays of it neither read the store nor encode.
	s.hub, err = hub.New(hub.Config{Store: s.store, QueueSize: c.QueueSize, Logger: s.log,
		ReplayCache: max(c.HistorySize, replayCache), PageBytes: c.PageBytes,
		Selectors: hub.SelectorLimits{MaxBytes: c.MaxSelectorBytes, MaxVariables: c.MaxSelectorVariables,
			MaxProgram: c.MaxSelectorProgram, CacheBytes: c.SelectorCacheBytes}})
	if err != nil {
		s.closeStore()
		return nil, fmt.Errorf("mercure: %w", err)
	}
	if c.Subscriptions {
		if err := s.openEvents(); err != nil {
			s.hub.Close()
			s.closeStore()
			return nil, err
		}
	}
	s.writeDelay = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ssehub_write_delay_seconds",
		Help:    "Time from an update's publication to the write that sends it to a subscriber (the oldest update of each write of live updates).",
		Buckets: []float64{.0005, .001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .075, .1, .15, .2, .3, .5, .75, 1, 2, 5}})
	reg := c.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if err := s.register(reg); err != nil {
		s.hub.Close()
		s.closeEvents()
		s.closeStore()
		return nil, fmt.Errorf("mercure: register metrics: %w", err)
	}
	s.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	s.heartbeat = []byte(":\n\n")
	s.retryHint = fmt.Appendf(nil, ": hub shutting down\nretry: %d\n\n", c.ShutdownRetry.Milliseconds())
	s.unavailableHint = fmt.Appendf(nil, ": store unavailable\nretry: %d\n\n", c.ShutdownRetry.Milliseconds())
	s.heartbeatChunk = chunk(s.heartbeat)
	s.retryChunk = chunk(s.retryHint)
	s.pool = newPool(s)
	return s, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (s *Server) closeStore() {
	if s.ownsStore {
		s.store.Close()
	}
}

// openEvents starts the hub of subscription events on its own store.
func (s *Server) openEvents() error {
	s.eventsStore = s.cfg.SubscriptionStore
	if s.eventsStore == nil {
		s.eventsStore = memory.New(memory.Options{MaxUpdates: DefaultSubscriptionEvents, MaxBytes: DefaultSubscriptionEventBytes})
		s.ownsEvents = true
	}
	var err error
	if s.events, err = hub.New(hub.Config{Store: s.eventsStore, Logger: s.log, PageBytes: s.cfg.PageBytes}); err != nil {
		if s.ownsEvents {
			s.eventsStore.Close()
		}
		return fmt.Errorf("mercure: subscription events: %w", err)
	}
	return nil
}

// closeEvents stops the hub of subscription events and closes its store
// if the Server opened it.
func (s *Server) closeEvents() {
	if s.events == nil {
		return
	}
	s.events.Close()
	if s.ownsEvents {
		s.eventsStore.Close()
	}
}

// Hub returns the hub, to publish and subscribe from Go code in the same
// process; HTTP subscribers receive what it publishes.
func (s *Server) Hub() *hub.Hub { return s.hub }

// Register mounts the Server on mux at HubPath, the subscriptions API,
// HealthPath and MetricsPath.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle(HubPath, s)
	mux.Handle(HubPath+"/", s)
	mux.Handle(HealthPath, s)
	mux.Handle(ProtectedResourceMetadataPath, s)
	mux.Handle(MetricsPath, s)
}

// Shutdown ends every subscription, sending each client a retry hint, and
// waits until every stream has returned or ctx ends. It then stops the hub
// and closes the store if the Server opened it. Call it before (or from
// http.Server.RegisterOnShutdown of) the http.Server's own Shutdown, which
// does not end event streams by itself.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.shutdown.Do(func() {
		s.closing.Store(true)
		s.hub.Close() // ends every subscription: writers send the retry hint
		done := make(chan struct{})
		go func() { s.streams.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("mercure: shutdown: streams still open: %w", ctx.Err())
		}
		s.pool.stop() // ends the taken-over streams still open
		s.closeEvents()
		s.closeStore()
	})
	return err
}

// Close is Shutdown without waiting for streams.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// ServeHTTP serves the hub's endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.cors(w, r)
	p := r.URL.Path
	switch {
	case p == HubPath:
		switch r.Method {
		case http.MethodGet, http.MethodHead, methodQuery:
			s.subscribe(w, r)
		case http.MethodPost:
			s.publish(w, r)
		case http.MethodOptions:
			w.Header().Set("Allow", hubMethods)
			w.Header().Set("Accept-Query", formType)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", hubMethods)
			httpErrorf(w, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		}
	case p == SubscriptionsPath || strings.HasPrefix(p, SubscriptionsPath+"/"):
		if !s.cfg.Subscriptions {
			http.NotFound(w, r)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.subscriptions(w, r)
		case http.MethodOptions:
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", "GET, OPTIONS")
			httpErrorf(w, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		}
	case p == HealthPath:
		if s.closing.Load() {
			httpErrorf(w, http.StatusServiceUnavailable, "shutting down")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := s.hub.Health(ctx); err != nil {
			w.Header().Set("Retry-After", retryAfterUnavailable)
			httpErrorf(w, http.StatusServiceUnavailable, "store unhealthy: %v", err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	case p == MetricsPath:
		s.metrics.ServeHTTP(w, r)
	case p == ProtectedResourceMetadataPath:
		s.resourceMetadata(w, r)
	default:
		http.NotFound(w, r)
	}
}

// cors answers cross-origin requests: from the configured origins with
// credentials, so that the authorization cookie is sent; from any origin
// without them when "*" is configured.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.cfg.CORSOrigins) == 0 {
		return
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	switch {
	case slices.Contains(s.cfg.CORSOrigins, origin):
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	case slices.Contains(s.cfg.CORSOrigins, "*"):
		// Any page may read what needs no credentials; cookies are for
		// the origins named, never a reflected one (draft-08
		// §"Subscription": any site the user visits could otherwise
		// read the user's private updates).
		h.Set("Access-Control-Allow-Origin", "*")
	default:
		return
	}
	h.Set("Access-Control-Expose-Headers", "Last-Event-ID, Mercure-Last-Event-ID, Link")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", hubMethods)
		h.Set("Access-Control-Allow-Headers", "Authorization, Cache-Control, Content-Type, Idempotency-Key, Last-Event-ID")
		h.Set("Access-Control-Max-Age", "600")
	}
}

// hubMethods are the methods of the hub endpoint.
const hubMethods = "GET, HEAD, POST, QUERY, OPTIONS"

// httpErrorf answers with status and a one-line plain-text reason.
func httpErrorf(w http.ResponseWriter, status int, format string, args ...any) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, format+"\n", args...)
}

func writeError(w http.ResponseWriter, err error) {
	var he *httpError
	if errors.As(err, &he) {
		httpErrorf(w, he.status, "%s", he.msg)
		return
	}
	httpErrorf(w, http.StatusInternalServerError, "internal error: %v", err)
}

// register adds the hub's metrics to reg.
func (s *Server) register(reg prometheus.Registerer) error {
	stat := func(f func(hub.Stats) uint64) func() float64 {
		return func() float64 { return float64(f(s.hub.Stats())) }
	}
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ssehub_subscribers",
			Help: "Subscriptions open on this node."},
			func() float64 { return float64(s.hub.Stats().Subscribers) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_updates_published_total",
			Help: "Updates published through this node."}, stat(func(st hub.Stats) uint64 { return st.Published })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_updates_dispatched_total",
			Help: "Updates fanned out by this node."}, stat(func(st hub.Stats) uint64 { return st.Dispatched })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_updates_delivered_total",
			Help: "Live updates queued to subscribers."}, stat(func(st hub.Stats) uint64 { return st.Delivered })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_updates_replayed_total",
			Help: "Updates sent to subscribers from history."}, stat(func(st hub.Stats) uint64 { return st.Replayed })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_replays_total",
			Help: "Subscriptions that asked for a replay (Last-Event-ID)."}, stat(func(st hub.Stats) uint64 { return st.Replays })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_slow_consumer_disconnects_total",
			Help: "Subscribers disconnected because their queue overflowed."}, stat(func(st hub.Stats) uint64 { return st.SlowConsumers })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ssehub_replay_bytes",
			Help: "Bytes of history pages handed to replaying streams and not yet written: about one page per replaying subscriber."},
			func() float64 { return float64(s.hub.Stats().ReplayBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_bytes_written_total",
			Help: "Bytes written to event streams."}, func() float64 { return float64(s.written.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_writer_rounds_total",
			Help: "Rounds of writes of the HTTP/1.1 stream writers."}, func() float64 { return float64(s.rounds.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssehub_writer_pauses_total",
			Help: "Rounds after which the stream writers paused, because updates came faster than they wrote them out."}, func() float64 { return float64(s.pauses.Load()) }),
		s.writeDelay,
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
