// Package tlsserve serves an http.Handler the way browsers want it: over
// TLS with HTTP/2 (and, as an option, HTTP/3 announced with Alt-Svc), with
// certificates from files that are reloaded when they change, from an ACME
// CA (Let's Encrypt or any other), or self-signed for development; a plain
// listener that redirects to HTTPS and answers ACME HTTP-01 challenges; and
// h2c, cleartext HTTP/2, for running behind a proxy that speaks it.
//
// It wraps the caller's http.Server rather than making its own, so that
// timeouts, base contexts and error logs stay the caller's choice.
package tlsserve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// LetsEncrypt is the directory of Let's Encrypt's production CA, the
// default of ACME.DirectoryURL.
const LetsEncrypt = autocert.DefaultACMEDirectory

// DefaultSelfSignedValidity is how long a certificate made by
// Config.SelfSigned stays valid.
const DefaultSelfSignedValidity = 30 * 24 * time.Hour

// altSvcMaxAge is how long a client may remember that HTTP/3 is served
// (the Alt-Svc header's ma): a day, so that a server that stops serving it
// is not tried for long.
const altSvcMaxAge = 24 * time.Hour

// DefaultMaxConcurrentStreams is how many HTTP/2 streams one client
// connection may have open: a browser page with many EventSources opens
// them all on one connection, so the limit is well above Go's default of
// 250.
const DefaultMaxConcurrentStreams = 1000

// Config says where certificates come from and which protocols to speak.
// Its zero value serves plain HTTP/1.1.
type Config struct {
	// CertFile and KeyFile are a PEM certificate (chain) and its key. They
	// are read again on the first handshake after either changes.
	CertFile, KeyFile string
	// SelfSigned serves a certificate made at start for localhost,
	// 127.0.0.1 and ::1 (development only: nobody trusts it).
	SelfSigned bool
	// ACME obtains and renews certificates for ACME.Domains.
	ACME ACME
	// RedirectAddr, with TLS, is a host:port whose plain-HTTP listener
	// redirects every request to HTTPS and answers ACME HTTP-01
	// challenges; empty opens none.
	RedirectAddr string
	// H2C speaks cleartext HTTP/2 (prior knowledge) beside HTTP/1.1 when
	// there is no TLS, for a proxy that forwards HTTP/2.
	H2C bool
	// HTTP3 serves HTTP/3 over QUIC on the UDP port of the same number as
	// the TLS listener, and announces it to HTTP/1.1 and HTTP/2 clients
	// with an Alt-Svc header.
	HTTP3 bool
	// MaxConcurrentStreams bounds the HTTP/2 and HTTP/3 streams of one
	// connection; zero means DefaultMaxConcurrentStreams.
	MaxConcurrentStreams int
	// Logger receives certificate events; nil discards them.
	Logger *slog.Logger
}

// ACME configures automatic certificates. Domains turns it on.
type ACME struct {
	// Domains are the only names certificates are requested for.
	Domains []string
	// Email is the contact address the CA may warn about expiry at.
	Email string
	// CacheDir keeps the account key and certificates across restarts (so
	// a restart does not ask the CA again); empty keeps them in memory.
	CacheDir string
	// DirectoryURL is the CA's ACME directory; empty means LetsEncrypt.
	DirectoryURL string
	// RootCAs are trusted for the CA's own HTTPS endpoint (a private CA,
	// or a test CA); nil trusts the system's roots.
	RootCAs *x509.CertPool
}

// TLS reports whether c serves HTTPS.
func (c Config) TLS() bool {
	return c.CertFile != "" || c.KeyFile != "" || c.SelfSigned || len(c.ACME.Domains) > 0
}

// Scheme is the URL scheme clients reach the server with: https or http.
func (c Config) Scheme() string {
	if c.TLS() {
		return "https"
	}
	return "http"
}

// Validate reports a contradiction in c, such as two sources of
// certificates or HTTP/3 without TLS.
func (c Config) Validate() error {
	sources := 0
	if c.CertFile != "" || c.KeyFile != "" {
		if c.CertFile == "" || c.KeyFile == "" {
			return errors.New("tlsserve: a certificate file needs its key file and the other way round")
		}
		sources++
	}
	if c.SelfSigned {
		sources++
	}
	if len(c.ACME.Domains) > 0 {
		sources++
	}
	if sources > 1 {
		return errors.New("tlsserve: choose one source of certificates: files, self-signed or ACME")
	}
	if !c.TLS() {
		if c.HTTP3 {
			return errors.New("tlsserve: HTTP/3 needs TLS: give a certificate, ACME domains or self-signed")
		}
		if c.RedirectAddr != "" {
			return errors.New("tlsserve: an HTTPS redirect needs TLS: give a certificate, ACME domains or self-signed")
		}
	}
	if c.TLS() && c.H2C {
		return errors.New("tlsserve: h2c is cleartext HTTP/2; over TLS, HTTP/2 is on anyway")
	}
	if c.MaxConcurrentStreams < 0 {
		return fmt.Errorf("tlsserve: MaxConcurrentStreams %d is negative", c.MaxConcurrentStreams)
	}
	return nil
}

// Server serves one http.Server over the protocols of a Config.
type Server struct {
	cfg      Config
	srv      *http.Server
	ln       net.Listener
	redirect *http.Server
	redirLn  net.Listener
	h3       *http3.Server
	udp      net.PacketConn
	// Leaf is the certificate in use at start when it is known then (files
	// or self-signed); nil over ACME, whose certificates come later.
	Leaf *x509.Certificate
}

// New prepares srv (whose Handler, timeouts and contexts the caller has
// set) to serve cfg on ln, and opens the redirect listener and the HTTP/3
// UDP socket, so that every address problem shows before serving starts.
// It sets srv.TLSConfig, srv.Protocols and srv.HTTP2, and wraps
// srv.Handler to announce HTTP/3.
func New(ctx context.Context, cfg Config, srv *http.Server, ln net.Listener) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConcurrentStreams == 0 {
		cfg.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	s := &Server{cfg: cfg, srv: srv, ln: ln}
	srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: cfg.MaxConcurrentStreams}
	var protos http.Protocols
	protos.SetHTTP1(true)
	if !cfg.TLS() {
		protos.SetUnencryptedHTTP2(cfg.H2C)
		srv.Protocols = &protos
		return s, nil
	}
	protos.SetHTTP2(true)
	srv.Protocols = &protos

	tc, acmeHTTP, err := s.tlsConfig(ctx)
	if err != nil {
		return nil, err
	}
	srv.TLSConfig = tc
	if cfg.RedirectAddr != "" {
		if err := s.openRedirect(acmeHTTP); err != nil {
			return nil, err
		}
	}
	if cfg.HTTP3 {
		if err := s.openHTTP3(); err != nil {
			s.closeListeners()
			return nil, err
		}
	}
	return s, nil
}

// tlsConfig returns the TLS configuration of the certificate source and,
// over ACME, the handler answering HTTP-01 challenges.
func (s *Server) tlsConfig(ctx context.Context) (*tls.Config, func(http.Handler) http.Handler, error) {
	cfg := s.cfg
	tc := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	switch {
	case cfg.SelfSigned:
		c, err := SelfSigned(DefaultSelfSignedValidity)
		if err != nil {
			return nil, nil, err
		}
		tc.Certificates = []tls.Certificate{c}
		s.Leaf = c.Leaf
		cfg.Logger.Info("serving a self-signed certificate for localhost (development only)",
			"not_after", c.Leaf.NotAfter, "spki_sha256", SPKIHash(c.Leaf))
		return tc, nil, nil
	case cfg.CertFile != "":
		f, err := newFileCert(cfg.CertFile, cfg.KeyFile, cfg.Logger)
		if err != nil {
			return nil, nil, err
		}
		tc.GetCertificate = f.getCertificate
		s.Leaf = f.current.Leaf
		return tc, nil, nil
	default:
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(cfg.ACME.Domains...),
			Email:      cfg.ACME.Email,
			Client:     &acme.Client{DirectoryURL: cfg.ACME.DirectoryURL, UserAgent: "ssehub"},
		}
		if m.Client.DirectoryURL == "" {
			m.Client.DirectoryURL = LetsEncrypt
		}
		if cfg.ACME.CacheDir != "" {
			m.Cache = autocert.DirCache(cfg.ACME.CacheDir)
		}
		if cfg.ACME.RootCAs != nil {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.TLSClientConfig = &tls.Config{RootCAs: cfg.ACME.RootCAs}
			m.Client.HTTPClient = &http.Client{Transport: t, Timeout: time.Minute}
		}
		// autocert's own config adds acme-tls/1 for the TLS-ALPN-01 challenge.
		tc = m.TLSConfig()
		tc.MinVersion = tls.VersionTLS12
		cfg.Logger.Info("certificates over ACME", "domains", cfg.ACME.Domains, "ca", m.Client.DirectoryURL, "cache", cfg.ACME.CacheDir)
		return tc, m.HTTPHandler, nil
	}
}

// openRedirect opens the plain-HTTP listener that sends clients to HTTPS
// (308, so that a POST stays a POST) and answers ACME HTTP-01 challenges.
func (s *Server) openRedirect(acmeHTTP func(http.Handler) http.Handler) error {
	ln, err := net.Listen("tcp", s.cfg.RedirectAddr)
	if err != nil {
		return fmt.Errorf("tlsserve: cannot listen on %s for the HTTPS redirect: %w", s.cfg.RedirectAddr, err)
	}
	_, tlsPort, _ := net.SplitHostPort(s.ln.Addr().String())
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if tlsPort != "443" {
			host = net.JoinHostPort(host, tlsPort)
		} else if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
			host = "[" + host + "]"
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
	if acmeHTTP != nil {
		challenges := acmeHTTP(h)
		// autocert checks the Host header against the domains as it is, so
		// a listener on another port than 80 (behind a port mapping, or in
		// tests) would refuse every challenge without this.
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if host, _, err := net.SplitHostPort(r.Host); err == nil {
				r = r.Clone(r.Context())
				r.Host = host
			}
			challenges.ServeHTTP(w, r)
		})
	}
	s.redirLn = ln
	s.redirect = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          s.srv.ErrorLog,
	}
	return nil
}

// openHTTP3 opens the UDP socket of HTTP/3 on the TLS listener's port and
// wraps the handler so that every response over TCP announces it.
func (s *Server) openHTTP3() error {
	addr := s.ln.Addr().String()
	udp, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("tlsserve: cannot listen on UDP %s for HTTP/3: %w", addr, err)
	}
	s.udp = udp
	base := s.srv.BaseContext
	s.h3 = &http3.Server{
		Handler:        s.srv.Handler,
		TLSConfig:      http3.ConfigureTLSConfig(s.srv.TLSConfig),
		MaxHeaderBytes: s.srv.MaxHeaderBytes,
		IdleTimeout:    s.srv.IdleTimeout,
		Logger:         s.cfg.Logger,
		ConnContext: func(ctx context.Context, _ *quic.Conn) context.Context {
			if base == nil {
				return ctx
			}
			return withCancelOf(ctx, base(s.ln))
		},
	}
	// The header is made here rather than by quic-go's SetQUICHeaders,
	// which announces nothing until its Serve goroutine has registered the
	// socket: the first responses would miss it.
	_, port, _ := net.SplitHostPort(addr)
	altSvc := []string{fmt.Sprintf(`h3=":%s"; ma=%d`, port, altSvcMaxAge/time.Second)}
	next := s.srv.Handler
	s.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor < 3 {
			w.Header()["Alt-Svc"] = altSvc
		}
		next.ServeHTTP(w, r)
	})
	return nil
}

// Serve serves until Shutdown or a listener fails, and returns
// http.ErrServerClosed after Shutdown, like http.Server.Serve.
func (s *Server) Serve() error {
	errc := make(chan error, 3)
	n := 1
	if s.redirect != nil {
		n++
		go func() { errc <- s.redirect.Serve(s.redirLn) }()
	}
	if s.h3 != nil {
		n++
		go func() {
			err := s.h3.Serve(s.udp)
			if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
				err = http.ErrServerClosed
			}
			errc <- err
		}()
	}
	go func() {
		if s.srv.TLSConfig != nil {
			errc <- s.srv.Serve(tls.NewListener(s.ln, s.srv.TLSConfig))
			return
		}
		errc <- s.srv.Serve(s.ln)
	}()
	var first error
	for range n {
		err := <-errc
		if first == nil {
			first = err
			if !errors.Is(err, http.ErrServerClosed) {
				// One listener failed: stop the others so that Serve returns.
				s.Close()
			}
		}
	}
	return first
}

// Shutdown stops every listener gracefully, as http.Server.Shutdown does.
func (s *Server) Shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() { errs[0] = s.srv.Shutdown(ctx) })
	if s.redirect != nil {
		wg.Go(func() { errs[1] = s.redirect.Shutdown(ctx) })
	}
	if s.h3 != nil {
		wg.Go(func() { errs[2] = s.h3.Shutdown(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close closes every listener and connection at once.
func (s *Server) Close() error {
	errs := []error{s.srv.Close()}
	if s.redirect != nil {
		errs = append(errs, s.redirect.Close())
	}
	if s.h3 != nil {
		errs = append(errs, s.h3.Close())
	}
	return errors.Join(errs...)
}

func (s *Server) closeListeners() {
	if s.redirLn != nil {
		s.redirLn.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
}

// RedirectAddr is the address of the redirect listener, nil without one.
func (s *Server) RedirectAddr() net.Addr {
	if s.redirLn == nil {
		return nil
	}
	return s.redirLn.Addr()
}

// withCancelOf returns ctx, also cancelled (with its cause) when base is:
// HTTP/3 connections get the values of quic-go's context and the
// cancellation of the server's base context, as HTTP/1.1 and HTTP/2
// requests do.
func withCancelOf(ctx, base context.Context) context.Context {
	merged, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(base, func() { cancel(context.Cause(base)) })
	context.AfterFunc(merged, func() { stop() })
	return merged
}
