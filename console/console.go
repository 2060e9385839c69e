// Package console is ssehub's operator console: a web page at /ui that
// shows a hub live (nodes, subscribers, throughput, delivery delay, store
// health), lists its subscriptions, tails topics and publishes.
//
// The page is static (embedded in the binary, charts drawn by a vendored
// uPlot) and updates itself over Server-Sent Events from the console's own
// stream of samples. Everything but the login form and the static files
// needs the operator's credential: the key set in Config.Key, sent either
// as "Authorization: Bearer <key>" or, from the browser, as a session
// cookie set by the login form (Secure, HttpOnly, SameSite=Strict, scoped
// to /ui). Requests that change something (log in, log out, publish) must
// come from the console's own origin.
package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssehub/ssehub/hub"
)

// Path is where the console is served; its cookie is scoped to it.
const Path = "/ui"

// Defaults of Config.
const (
	DefaultInterval   = time.Second
	DefaultWindow     = 5 * time.Minute
	DefaultSessionTTL = 12 * time.Hour
	// MinKeyLength is the shortest operator key New accepts: the key is a
	// password that anyone who reaches the hub can try.
	MinKeyLength = 16
	// DefaultMaxTailData is how much of an update's data the tail shows.
	DefaultMaxTailData = 64 << 10
)

// Config configures a Console. Key and Hub are required.
type Config struct {
	// Key is the operator's credential. Required, at least MinKeyLength
	// bytes.
	Key string
	// Hub is the hub the console shows and tails.
	Hub *hub.Hub
	// Metrics is the hub's metrics registry (mercure.Config.Registry):
	// counters of updates and bytes and the write-delay histogram are read
	// from it. Nil: only the hub's own counters are shown.
	Metrics prometheus.Gatherer
	// Publisher is the hub's HTTP handler (a mercure.Server): the publish
	// form sends its request there, with a publisher token the console
	// signs with PublisherJWTKey, so that it gets exactly the hub's
	// answer. Nil, or a key that is not an HMAC secret, disables the form.
	Publisher       http.Handler
	PublisherJWTKey string
	// PublisherJWTAlg is the publishers' algorithm: HS256 (default), HS384
	// or HS512 let the console sign; RS* leaves publishing to other tools.
	PublisherJWTAlg string
	// PublishPath is the hub's publish path; "" means /.well-known/mercure.
	PublishPath string
	// NodeID names this node among those sharing the store; "" means the
	// host name with a random suffix. Addr is where it serves HTTP.
	NodeID string
	Addr   string
	// Streams, when set, are the resumable streams the Streams tab lists
	// and the tail can follow.
	Streams StreamSource
	// Interval is the time between two samples: 0 means DefaultInterval.
	Interval time.Duration
	// Window is how much history the charts show: 0 means DefaultWindow.
	Window time.Duration
	// SessionTTL is how long a login lasts: 0 means DefaultSessionTTL.
	SessionTTL time.Duration
	// MaxTailData bounds the data of one tailed update sent to the page:
	// 0 means DefaultMaxTailData.
	MaxTailData int
	// Logger receives logs. Nil discards them.
	Logger *slog.Logger
}

// Console serves the operator console. Close stops its sampler.
type Console struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	csrf   *http.CrossOriginProtection
	signer jwt.SigningMethod // nil: the publish form is disabled
	smp    *sampler
	login  *template.Template
	cancel context.CancelFunc
	done   chan struct{}
	close  sync.Once
}

// New returns a running Console: it samples the hub every Interval and,
// when the hub's store implements hub.Presence, announces this node.
func New(cfg Config) (*Console, error) {
	if len(cfg.Key) < MinKeyLength {
		return nil, fmt.Errorf("console: the operator key is %d bytes long, at least %d are needed", len(cfg.Key), MinKeyLength)
	}
	if cfg.Hub == nil {
		return nil, errors.New("console: Config.Hub is nil")
	}
	setDefault(&cfg.Interval, DefaultInterval)
	setDefault(&cfg.Window, DefaultWindow)
	setDefault(&cfg.SessionTTL, DefaultSessionTTL)
	setDefault(&cfg.MaxTailData, DefaultMaxTailData)
	setDefault(&cfg.PublishPath, "/.well-known/mercure")
	setDefault(&cfg.PublisherJWTAlg, "HS256")
	if cfg.NodeID == "" {
		host, _ := os.Hostname()
		cfg.NodeID = strings.Trim(host+"-"+uuid.NewString()[:8], "-")
	}
	c := &Console{cfg: cfg, log: cfg.Logger, csrf: http.NewCrossOriginProtection(), done: make(chan struct{})}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Publisher != nil && cfg.PublisherJWTKey != "" && strings.HasPrefix(cfg.PublisherJWTAlg, "HS") {
		c.signer = jwt.GetSigningMethod(cfg.PublisherJWTAlg)
	}
	var err error
	if c.login, err = template.ParseFS(staticFS(), "login.html"); err != nil {
		return nil, fmt.Errorf("console: login page: %w", err)
	}
	c.smp = newSampler(cfg, c.log)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		c.smp.run(ctx)
	}()
	c.routes()
	return c, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Close stops the sampler and ends the console's event streams.
func (c *Console) Close() error {
	c.close.Do(func() {
		c.cancel()
		<-c.done
	})
	return nil
}

// Register mounts the console on mux at Path.
func (c *Console) Register(mux *http.ServeMux) {
	mux.Handle(Path, c)
	mux.Handle(Path+"/", c)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	m.Handle("GET "+Path+"/static/", http.StripPrefix(Path+"/static/", http.FileServerFS(staticFS())))
	m.HandleFunc("GET "+Path, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Path+"/", http.StatusSeeOther)
	})
	m.HandleFunc("GET "+Path+"/{$}", c.page)
	m.HandleFunc("POST "+Path+"/login", c.logIn)
	m.HandleFunc("POST "+Path+"/logout", c.logout)
	m.Handle("GET "+Path+"/events", c.operator(c.events))
	m.Handle("GET "+Path+"/api/subscriptions", c.operator(c.subscriptions))
	m.Handle("GET "+Path+"/tail", c.operator(c.tail))
	m.Handle("GET "+Path+"/api/streams", c.operator(c.streams))
	m.Handle("POST "+Path+"/publish", c.operator(c.publish))
	c.mux = m
}

// ServeHTTP serves the console's paths under Path.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The page loads nothing from elsewhere and is never framed.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if !strings.HasPrefix(r.URL.Path, Path+"/static/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux.ServeHTTP(w, r)
}

// page serves the console to the operator and the login form to anyone
// else.
func (c *Console) page(w http.ResponseWriter, r *http.Request) {
	if !c.authorized(r) {
		c.loginPage(w, http.StatusOK, "")
		return
	}
	f, err := staticFS().Open("index.html")
	if err != nil {
		http.Error(w, "console: page missing from the binary", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.Copy(w, f)
}

// loginPage writes the login form, with msg said above it.
func (c *Console) loginPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	c.login.Execute(w, struct{ Error string }{msg})
}
