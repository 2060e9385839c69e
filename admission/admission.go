// Package admission decides which connections and requests a server takes,
// so that no client can take the server from the others: caps on open
// connections in total and per client address, a connection rate per
// client address, room kept under the open-files limit so that health
// checks still answer when the server is full, the client address of
// requests that come through trusted proxies, and keyed rate limits
// (RateLimiter) for whatever else a client may do too often.
//
// A Guard works at two levels. Its Listener counts and refuses connections
// as they are accepted, by the peer's address. Its Handler answers the
// refused ones with 429 Too Many Requests (a client over its own limits)
// or 503 Service Unavailable (the server is full), both with Retry-After
// and Connection: close, except for the health path, which is served; and
// for connections from a trusted proxy it attributes each request to the
// client the proxy names, with the same per-client limits.
package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of Config.
const (
	// DefaultMaxConns is the most connections served at once.
	DefaultMaxConns = 50_000
	// DefaultMaxConnsPerClient is the most connections of one client
	// address: many browsers behind one NAT fit, one host cannot take the
	// server.
	DefaultMaxConnsPerClient = 256
	// DefaultConnRate is how many new connections per second one client
	// address may open, on average: room for a publisher that does not
	// reuse its connections, none for a flood.
	DefaultConnRate = 50
	// DefaultConnBurst is how many it may open at once.
	DefaultConnBurst = 500
	// DefaultFDReserve is how many file descriptors under the open-files
	// limit are never used for served connections: a quarter of them
	// answers refused connections and health checks, the rest is left
	// for the process's own files and store connections.
	DefaultFDReserve = 256
	// DefaultIPv6Prefix is the prefix length an IPv6 client address is
	// cut to: a host usually owns a whole /64.
	DefaultIPv6Prefix = 64
	// DefaultHealthPath is served even to refused connections.
	DefaultHealthPath = "/healthz"
)

// Timing of refusals.
const (
	// retryAfterFull is the Retry-After of answers refused by a cap.
	retryAfterFull = 5 * time.Second
	// refuseTimeout is how long a refused connection may take to send the
	// request that gets its answer, so that refused connections cannot
	// hold the room kept for refusals and health checks.
	refuseTimeout = 2 * time.Second
	// maxRefusingPerClient bounds the refused connections of one client
	// address waiting for their answer; beyond it they are closed at
	// once, unanswered, so that one client cannot fill the room.
	maxRefusingPerClient = 4
)

// Config configures a Guard. The zero value applies the defaults; for each
// limit a negative value turns it off.
type Config struct {
	// MaxConns bounds the connections served at once. Beyond it (or
	// beyond the open-files limit less FDReserve, whichever is lower)
	// requests are answered 503.
	MaxConns int
	// MaxConnsPerClient bounds the connections of one client address;
	// beyond it requests are answered 429.
	MaxConnsPerClient int
	// ConnRate is how many new connections per second one client address
	// may open, on average, and ConnBurst how many at once; beyond them
	// requests are answered 429.
	ConnRate  float64
	ConnBurst int
	// FDLimit is the process's open-files limit: 0 reads RLIMIT_NOFILE
	// (none on systems without it), negative ignores it.
	FDLimit int
	// FDReserve is how many descriptors under FDLimit are not used for
	// served connections (see DefaultFDReserve).
	FDReserve int
	// TrustedProxies are the peers whose Forwarded or X-Forwarded-For
	// header names the client; a request from any other peer is the
	// peer's, whatever its headers say.
	TrustedProxies []netip.Prefix
	// IPv6Prefix is the prefix length an IPv6 client address is cut to.
	IPv6Prefix int
	// HealthPath is the path served even on refused connections.
	HealthPath string
	// Logger receives a warning when connections are dropped unanswered.
	// Nil discards it.
	Logger *slog.Logger
}

// Guard admits connections and requests under the limits of its Config.
// It is safe for concurrent use.
type Guard struct {
	cfg Config
	log *slog.Logger
	// capacity is how many connections are served at once, room how many
	// more are read only to be refused (or to answer health checks).
	capacity, room int

	mu       sync.Mutex
	open     int // served connections
	refusing int // connections read only to be refused
	clients  map[netip.Addr]*client
	sweepAt  int
	refused  uint64
	dropped  uint64
	lastWarn time.Time
}

// client is what a Guard knows of one client address.
type client struct {
	conns    int // served connections attributed to it
	refusing int
	lim      *rate.Limiter // nil: no connection rate
}

// New returns a Guard for cfg, or an error when the open-files limit
// leaves no room for connections.
func New(cfg Config) (*Guard, error) {
	setDefault(&cfg.MaxConns, DefaultMaxConns)
	setDefault(&cfg.MaxConnsPerClient, DefaultMaxConnsPerClient)
	setDefault(&cfg.ConnRate, DefaultConnRate)
	setDefault(&cfg.ConnBurst, DefaultConnBurst)
	setDefault(&cfg.FDReserve, DefaultFDReserve)
	setDefault(&cfg.IPv6Prefix, DefaultIPv6Prefix)
	setDefault(&cfg.HealthPath, DefaultHealthPath)
	if cfg.IPv6Prefix < 0 || cfg.IPv6Prefix > 128 {
		return nil, fmt.Errorf("admission: IPv6 prefix length %d: want 0 to 128", cfg.IPv6Prefix)
	}
	g := &Guard{cfg: cfg, log: cfg.Logger, clients: map[netip.Addr]*client{}, sweepAt: 1024}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.capacity = math.MaxInt
	if cfg.MaxConns > 0 {
		g.capacity = cfg.MaxConns
	}
	reserve := max(cfg.FDReserve, 0)
	g.room = max(reserve/4, 1)
	fd := cfg.FDLimit
	if fd == 0 {
		fd = openFilesLimit()
	}
	if fd > 0 {
		if fd-reserve < 1 {
			return nil, fmt.Errorf("admission: the open-files limit %d leaves no connection once %d descriptors are reserved", fd, reserve)
		}
		g.capacity = min(g.capacity, fd-reserve)
	}
	return g, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Capacity returns how many connections the Guard serves at once: MaxConns
// or the open-files limit less FDReserve, whichever is lower.
func (g *Guard) Capacity() int { return g.capacity }

// Stats are a Guard's counters.
type Stats struct {
	Open     int    // connections served
	Refusing int    // connections being answered 429 or 503
	Clients  int    // client addresses known (connected, or rate-limited lately)
	Refused  uint64 // connections and requests answered 429 or 503
	Dropped  uint64 // connections closed unanswered: no room to refuse them
}

// Stats returns the Guard's counters.
func (g *Guard) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Stats{Open: g.open, Refusing: g.refusing, Clients: len(g.clients), Refused: g.refused, Dropped: g.dropped}
}

// verdict is what a Guard decided for a connection or a request.
type verdict int

const (
	admitted   verdict = iota
	clientFull         // 429: the client's connections are at their cap
	clientRate         // 429: the client opens connections too often
	serverFull         // 503: the server's connections are at their cap
)

// Listener returns ln whose Accept counts connections and marks those
// over a limit for refusal; the server must serve them through Wrap, which
// answers them. Connections beyond the room kept for refusals are closed
// at once. Accept's connections keep ln's own (SyscallConn, CloseWrite),
// so that hijacking handlers can still use them. A TLS listener goes
// around this one, not inside it.
func (g *Guard) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, g: g} }

type listener struct {
	net.Listener
	g *Guard
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if gc := l.g.admit(c); gc != nil {
			return gc, nil
		}
		c.Close()
	}
}

// conn is an accepted connection and its place in the Guard's counts.
type conn struct {
	net.Conn
	g       *Guard
	peer    netip.Addr
	trusted bool // the peer is a trusted proxy

	// Set by the Guard under g.mu.
	client  netip.Addr // whom the connection is counted for
	counted bool       // counted in g.clients[client].conns
	verdict verdict
	retry   time.Duration // Retry-After of a refusal
	refuse  *time.Timer   // closes a refused connection that takes too long
	closed  bool
}

// admit counts c and returns it wrapped, or nil when it must be closed
// unanswered.
func (g *Guard) admit(c net.Conn) *conn {
	peer := remoteAddr(c)
	gc := &conn{Conn: c, g: g, peer: peer, trusted: g.trusted(peer), client: g.key(peer)}
	g.mu.Lock()
	defer g.mu.Unlock()
	v := admitted
	var cl *client
	switch {
	case g.open >= g.capacity:
		v, gc.retry = serverFull, retryAfterFull
	case gc.trusted:
		// Counted per client once a request says whose it is.
	default:
		cl = g.clientLocked(gc.client)
		v, gc.retry = g.checkClientLocked(cl)
	}
	if v == admitted {
		g.open++
		if cl != nil {
			cl.conns++
			gc.counted = true
		}
		return gc
	}
	cl = g.clientLocked(gc.client)
	if g.refusing >= g.room || cl.refusing >= maxRefusingPerClient {
		g.dropped++
		if now := time.Now(); now.Sub(g.lastWarn) > 10*time.Second {
			g.lastWarn = now
			g.log.Warn("admission: closing connections unanswered, no room left to refuse them",
				"client", gc.client, "open", g.open, "refusing", g.refusing, "dropped", g.dropped)
		}
		g.forgetLocked(gc.client, cl)
		return nil
	}
	g.refusing++
	cl.refusing++
	gc.verdict = v
	gc.refuse = time.AfterFunc(refuseTimeout, func() { gc.Close() })
	return gc
}

// checkClientLocked applies the per-client limits to one more connection of
// cl; it consumes a token of cl's rate when it admits.
func (g *Guard) checkClientLocked(cl *client) (verdict, time.Duration) {
	if g.cfg.MaxConnsPerClient > 0 && cl.conns >= g.cfg.MaxConnsPerClient {
		return clientFull, retryAfterFull
	}
	if cl.lim != nil {
		now := time.Now()
		r := cl.lim.ReserveN(now, 1)
		if d := r.DelayFrom(now); !r.OK() || d > 0 {
			r.CancelAt(now)
			return clientRate, max(d, time.Second)
		}
	}
	return admitted, 0
}

// clientLocked returns the entry of a client address, made if needed.
func (g *Guard) clientLocked(a netip.Addr) *client {
	cl := g.clients[a]
	if cl != nil {
		return cl
	}
	cl = &client{}
	if g.cfg.ConnRate > 0 {
		cl.lim = rate.NewLimiter(rate.Limit(g.cfg.ConnRate), max(g.cfg.ConnBurst, 1))
	}
	g.clients[a] = cl
	if len(g.clients) >= g.sweepAt {
		g.sweepLocked()
	}
	return cl
}

// forgetLocked drops the entry of a client address that holds nothing: no
// connection, and a full bucket (forgetting it loses no limit).
func (g *Guard) forgetLocked(a netip.Addr, cl *client) {
	if cl.conns == 0 && cl.refusing == 0 && (cl.lim == nil || cl.lim.Tokens() >= float64(cl.lim.Burst())) {
		delete(g.clients, a)
	}
}

// sweepLocked forgets what can be forgotten, and lets the map grow to twice
// what remains before the next sweep.
func (g *Guard) sweepLocked() {
	for a, cl := range g.clients {
		g.forgetLocked(a, cl)
	}
	g.sweepAt = max(2*len(g.clients), 1024)
}

// release uncounts a closed connection.
func (g *Guard) release(c *conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	cl := g.clients[c.client]
	if c.refuse != nil {
		c.refuse.Stop()
		g.refusing--
		if cl != nil {
			cl.refusing--
		}
	} else {
		g.open--
		if cl != nil && c.counted {
			cl.conns--
		}
	}
	if cl != nil {
		g.forgetLocked(c.client, cl)
	}
}

func (c *conn) Close() error {
	c.g.release(c)
	return c.Conn.Close()
}

// SyscallConn gives hijacking handlers the descriptor of the connection
// (the writer pool of package mercure writes to it directly).
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("admission: the connection has no descriptor")
	}
	return sc.SyscallConn()
}

// CloseWrite half-closes the connection, as net/http does before closing
// it so that the client reads the whole response.
func (c *conn) CloseWrite() error {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return errors.New("admission: the connection cannot half-close")
	}
	return cw.CloseWrite()
}

// remoteAddr returns a connection's peer address.
func remoteAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	a, _ := peerAddr(c.RemoteAddr().String())
	return a
}

// trusted reports whether a is a trusted proxy.
func (g *Guard) trusted(a netip.Addr) bool {
	for _, p := range g.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// key is the client address limits are counted for: IPv6 addresses are cut
// to their prefix.
func (g *Guard) key(a netip.Addr) netip.Addr {
	if a.Is6() {
		if p, err := a.Prefix(g.cfg.IPv6Prefix); err == nil {
			return p.Addr()
		}
	}
	return a
}

// forwardedClient returns the client a trusted proxy peer forwards for: the
// nearest address of the forwarded chain that is not a trusted proxy. An
// element that is not an address stops the walk at the trusted hop that
// wrote it, which is then held responsible.
func (g *Guard) forwardedClient(peer netip.Addr, h http.Header) netip.Addr {
	chain := ForwardedFor(h)
	client := peer
	for i := len(chain) - 1; i >= 0; i-- {
		a := chain[i]
		if !a.IsValid() {
			break
		}
		client = a
		if !g.trusted(a) {
			break
		}
	}
	return client
}

// reattribute counts a trusted proxy's connection for the client of its
// current request, applying that client's limits.
func (g *Guard) reattribute(c *conn, to netip.Addr) (verdict, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cl := g.clientLocked(to)
	if c.counted && c.client == to {
		cl.conns-- // checked as one more connection of its client below
	}
	v, retry := g.checkClientLocked(cl)
	if c.counted {
		if old := g.clients[c.client]; old != nil && c.client != to {
			old.conns--
			g.forgetLocked(c.client, old)
		}
	}
	c.counted = false
	if v == admitted {
		cl.conns++
		c.client, c.counted = to, true
	} else {
		g.forgetLocked(to, cl)
	}
	return v, retry
}

// connKey is the context key of a request's *conn.
type connKey struct{}

// Wrap makes srv serve through the Guard: its handler answers refused
// connections and attributes requests to their client, and its ConnContext
// lets the handler find the connection of a request. Serve srv on a
// Listener of the same Guard.
func (g *Guard) Wrap(srv *http.Server) {
	next := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if next != nil {
			ctx = next(ctx, c)
		}
		for c != nil {
			if gc, ok := c.(*conn); ok {
				return context.WithValue(ctx, connKey{}, gc)
			}
			u, ok := c.(interface{ NetConn() net.Conn }) // a TLS connection around ours
			if !ok {
				break
			}
			c = u.NetConn()
		}
		return ctx
	}
	srv.Handler = g.Handler(srv.Handler)
}

// Handler returns h behind the Guard's answers (see Wrap). Requests whose
// connection did not come from the Guard's Listener go straight to h.
func (g *Guard) Handler(h http.Handler) http.Handler {
	if h == nil {
		h = http.DefaultServeMux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(*conn)
		if c == nil {
			h.ServeHTTP(w, r)
			return
		}
		g.mu.Lock()
		v, retry, client := c.verdict, c.retry, c.client
		g.mu.Unlock()
		if v == admitted && c.trusted {
			client = g.key(g.forwardedClient(c.peer, r.Header))
			v, retry = g.reattribute(c, client)
		}
		r = r.WithContext(withClient(r.Context(), client))
		if v == admitted {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Connection", "close")
		if r.URL.Path == g.cfg.HealthPath {
			h.ServeHTTP(w, r)
			return
		}
		g.mu.Lock()
		g.refused++
		g.mu.Unlock()
		g.answer(w, v, retry)
	})
}

// answer writes the refusal of a verdict.
func (g *Guard) answer(w http.ResponseWriter, v verdict, retry time.Duration) {
	status, msg := http.StatusTooManyRequests, ""
	switch v {
	case clientFull:
		msg = fmt.Sprintf("too many connections from your address (at most %d); close some or retry later", g.cfg.MaxConnsPerClient)
	case clientRate:
		msg = fmt.Sprintf("too many new connections from your address (at most %g per second); retry later", g.cfg.ConnRate)
	default:
		status, msg = http.StatusServiceUnavailable, "the server is at its connection limit; retry later"
	}
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}
