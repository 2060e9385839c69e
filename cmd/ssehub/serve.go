package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssehub/ssehub/console"
	"github.com/ssehub/ssehub/demo"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/resumable"
	"github.com/ssehub/ssehub/store"
	"github.com/ssehub/ssehub/stream"
	"github.com/ssehub/ssehub/tlsserve"
)

// errShuttingDown is the cause given to every request context when the
// server stops, so that streams can tell a shutdown from a lost client.
var errShuttingDown = errors.New("server shutting down")

const serveSynopsis = `Usage: ssehub serve [flags]

Serves, on one address:
  /                      the typewriter demo (open it in a browser, click 输出)
  /sse/stream            the demo's event stream
  /.well-known/mercure   the Mercure hub: subscribe with GET, publish with POST
  /healthz, /metrics     health check and Prometheus metrics
  /v1/stream/            Durable Streams (create with PUT, append with POST, read
                         with GET: catch-up, long-poll or SSE); -durable-prefix
  /ui                    the operator console, with -ui-key
"ssehub" with no command does the same.

The hub's history (for clients that reconnect with Last-Event-ID) is kept
in the file ssehub.db in the working directory, so it survives a restart;
-store chooses another file, memory, or Redis / NATS shared by several
nodes (see "Running several nodes" in the README).

Publishing needs a JWT signed with -publisher-jwt-key (or -jwt-key);
subscribing needs one signed with -subscriber-jwt-key unless -anonymous.

Stop it with Ctrl-C or SIGTERM: open streams are ended cleanly and the
process exits within -shutdown-timeout.`

func runServe(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("serve", serveSynopsis)
	addr := fs.String("addr", "localhost:8080", "`host:port` to listen on; port 0 picks a free port")
	demoDelay := fs.Duration("demo-delay", demo.DefaultDelay, "pause between two pieces of the demo poem")
	demoResumable := fs.Bool("demo-resumable", true, "make the demo stream resumable: a dropped connection resumes where it stopped\n(false serves the original example's plain stream)")
	streamKeep := fs.Duration("stream-keep", resumable.DefaultTTL, "how long a resumable demo answer is kept after it was last written or read\n(its durable stream's Stream-TTL; whole seconds)")
	maxProducers := fs.Int("max-producers", resumable.DefaultMaxProducers,
		"most resumable demo streams producing at once (503 beyond): a producer runs on after its\nclient leaves; 0: no limit")
	maxProducersPerClient := fs.Int("max-producers-per-client", resumable.DefaultMaxProducersPerClient,
		"most resumable demo streams producing at once for one client address (429 beyond); 0: no limit")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long open requests get to finish when stopping")
	pprofAddr := fs.String("pprof", "", "`host:port` to serve Go runtime profiles on (/debug/pprof/), on its own\nlistener; empty (the default) serves none. Keep it on a loopback address")
	uiKey := fs.String("ui-key", "", "operator key of the console at /ui (at least 16 characters); empty (the default)\nserves no console. Keep it secret: the console can read and publish everything")
	logs := addLogFlags(fs)
	hubCfg := addHubFlags(fs)
	authF := addAuthFlags(fs, hubCfg)
	storeURL := addStoreFlag(fs)
	netLim := addNetFlags(fs, hubCfg)
	tlsF := addTLSFlags(fs)
	durableOpts := addDurableFlags(fs)
	if err := m.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	logger, err := logs.logger(m.Stderr)
	if err != nil {
		return err
	}
	netLim.admission.Logger = logger
	hubLimits(hubCfg)
	if err := authF.apply(); err != nil {
		return err
	}
	guard, err := netLim.guard()
	if err != nil {
		return err
	}
	tlsCfg, err := tlsF.config(logger)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w (is another server using it? pick another with -addr or SSEHUB_ADDR)", *addr, err)
	}
	defer ln.Close()

	st, err := store.Open(ctx, *storeURL, store.Options{HistorySize: hubCfg.HistorySize, HistoryBytes: hubCfg.HistoryBytes, HistoryAge: hubCfg.HistoryAge})
	if err != nil {
		return fmt.Errorf("opening the store (-store or SSEHUB_STORE): %w", err)
	}
	defer st.Close() // after the hub: deferred calls run last-in first-out
	logger.Info("store opened", "store", *storeURL)
	hubCfg.Store = st
	if *pprofAddr != "" {
		if err := servePprof(ctx, *pprofAddr, logger); err != nil {
			return err
		}
	}

	hubCfg.Logger = logger
	metrics := prometheus.NewRegistry()
	hubCfg.Registry = metrics
	hubSrv, err := mercure.New(*hubCfg)
	if err != nil {
		return usageError{err}
	}
	defer hubSrv.Close()

	// The demo's resumable answers are durable streams in the store that
	// serves /v1/stream/, so a Durable Streams client reads them too, and on
	// Redis or NATS every node shares them.
	durableStore, durableSrv, closeDurable, err := durableOpts.open(ctx, *storeURL, *demoResumable, logger)
	if err != nil {
		return err
	}
	defer closeDurable()

	demoOpts := demo.Options{Delay: *demoDelay}
	if *demoResumable {
		opts := resumable.Options{Logger: logger, Stream: stream.Options{Retry: time.Second}, TTL: *streamKeep,
			MaxProducers: offIfZero(*maxProducers), MaxProducersPerClient: offIfZero(*maxProducersPerClient)}
		streams, err := resumable.New(durableStore, opts)
		if err != nil {
			return usageError{fmt.Errorf("-stream-keep: %w", err)}
		}
		defer streams.Close() // before the store closes: deferred calls run last-in first-out
		demoOpts.Streams = streams
	}

	mux := http.NewServeMux()
	mux.Handle("/", demo.Handler(demoOpts))
	hubSrv.Register(mux)
	if durableSrv != nil {
		durableSrv.Register(mux)
	}
	if *uiKey != "" {
		uiCfg := console.Config{Key: *uiKey, Hub: hubSrv.Hub(), Metrics: metrics, Publisher: hubSrv,
			PublisherJWTKey: hubCfg.PublisherJWTKey, PublisherJWTAlg: hubCfg.PublisherJWTAlg,
			Addr: ln.Addr().String(), Logger: logger}
		if demoOpts.Streams != nil {
			uiCfg.Streams = demoOpts.Streams
		}
		ui, err := console.New(uiCfg)
		if err != nil {
			return usageError{fmt.Errorf("-ui-key: %w", err)}
		}
		defer ui.Close()
		ui.Register(mux)
		logger.Info("operator console", "console", tlsCfg.Scheme()+"://"+ln.Addr().String()+console.Path+"/")
	}
	// Streams taken over from net/http (the hub's and the Durable Streams'
	// live SSE readers) are not seen by http.Server.Shutdown: end them first.
	endStreams := func(ctx context.Context) error {
		err := hubSrv.Shutdown(ctx)
		if durableSrv != nil {
			err = errors.Join(err, durableSrv.Shutdown(ctx))
		}
		return err
	}
	return serveHTTP(ctx, guard.Listener(ln), tlsCfg, mux, *shutdownTimeout, logger, endStreams, func(srv *http.Server) {
		netLim.apply(srv)
		guard.Wrap(srv)
	})
}

// serveHTTP serves h on ln until ctx ends, then shuts down: the hub's
// streams (with a retry hint) and the live Durable Streams readers end
// first (through beforeShutdown), every other request context is cancelled
// with errShuttingDown, which ends the demo's streams, and the server waits
// up to timeout for the handlers to return.
// configure sets the server's limits, before TLS, HTTP/2 and HTTP/3 copy
// them.
func serveHTTP(ctx context.Context, ln net.Listener, tlsCfg tlsserve.Config, h http.Handler, timeout time.Duration, logger *slog.Logger, beforeShutdown func(context.Context) error, configure func(*http.Server)) error {
	baseCtx, cancelBase := context.WithCancelCause(context.Background())
	defer cancelBase(nil)
	srv := &http.Server{
		Handler:     h,
		BaseContext: func(net.Listener) context.Context { return baseCtx },
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	configure(srv)
	servers, err := tlsserve.New(ctx, tlsCfg, srv, ln)
	if err != nil {
		return usageError{err}
	}
	served := make(chan error, 1)
	go func() { served <- servers.Serve() }()
	logger.Info("ssehub is serving", "url", tlsCfg.Scheme()+"://"+ln.Addr().String()+"/",
		"http2", tlsCfg.TLS() || tlsCfg.H2C, "http3", tlsCfg.HTTP3)
	if a := servers.RedirectAddr(); a != nil {
		logger.Info("redirecting plain HTTP to HTTPS", "addr", a.String())
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", timeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := beforeShutdown(shutdownCtx); err != nil {
		logger.Warn("ending the hub's and Durable Streams' live streams", "err", err)
	}
	cancelBase(errShuttingDown)
	if err := servers.Shutdown(shutdownCtx); err != nil {
		_ = servers.Close()
		return fmt.Errorf("requests still open after %s, closed them: %w", timeout, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// offIfZero turns a limit given as 0 on the command line ("none") into the
// negative value the libraries read as "none" (their 0 is the default).
func offIfZero(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// logFlags are the logging flags of ssehub serve.
type logFlags struct {
	level  *string
	format *string
}

func addLogFlags(fs *flag.FlagSet) logFlags {
	return logFlags{
		level:  fs.String("log-level", "info", "least severe log level shown: debug, info, warn or error"),
		format: fs.String("log-format", "text", "log format: text (for people) or json (for machines)"),
	}
}

func (l logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(*l.level)); err != nil {
		return nil, usageError{fmt.Errorf("invalid -log-level %q: want debug, info, warn or error", *l.level)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(*l.format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usageError{fmt.Errorf("invalid -log-format %q: want text or json", *l.format)}
	}
}

// openSubscriptionEvents opens the store of the hub's subscription events:
// a sibling of the hub's store, with bounds of its own, so that clients
// subscribing and leaving never push updates out of the hub's history, and
// nodes sharing the hub's Redis or NATS share the events too.
func openSubscriptionEvents(ctx context.Context, hubStoreURL string) (hub.Store, error) {
	u, err := store.Sibling(hubStoreURL, "subscriptions")
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, u, store.Options{HistorySize: mercure.DefaultSubscriptionEvents, HistoryBytes: mercure.DefaultSubscriptionEventBytes})
	if err != nil {
		return nil, fmt.Errorf("opening the store of subscription events (%s): %w", u, err)
	}
	return st, nil
}
