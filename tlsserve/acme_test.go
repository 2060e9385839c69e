package tlsserve_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/ssehub/ssehub/tlsserve"
)

// acmeDomain is the name certificates are requested for; the test's DNS
// server resolves it (and every other name) to 127.0.0.1.
const acmeDomain = "hub.ssehub.test"

// pebble is Let's Encrypt's test ACME server, run in-process on loopback.
type pebble struct {
	directory string
	roots     *x509.CertPool // trusted for pebble's own HTTPS
	issuer    *x509.CertPool // the root its certificates chain to
}

// startDNS serves DNS over TCP on loopback, answering every A question
// with 127.0.0.1 and every other with no record, so that pebble's
// validation reaches this test's server whatever the domain.
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Net: "tcp", Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// startPebble starts pebble with a validation authority that checks
// HTTP-01 on httpPort and TLS-ALPN-01 on tlsPort of 127.0.0.1.
func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	// Without this, pebble waits up to 5 s at random before each validation.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() {
		logger = log.New(os.Stderr, "pebble ", log.Lmicroseconds)
	}
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "test"}})
	validator := va.New(logger, httpPort, tlsPort, false, startDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	issuer := x509.NewCertPool()
	issuer.AddCert(authority.GetRootCert(0).Cert)
	return &pebble{directory: srv.URL + wfe.DirectoryPath, roots: roots, issuer: issuer}
}

// closedPort returns a loopback port nothing listens on, so that a
// challenge sent there fails at once.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// handshake connects to addr as a client of acmeDomain trusting roots and
// returns the certificate the server presented.
func handshake(t *testing.T, addr string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: &tls.Config{ServerName: acmeDomain, RootCAs: roots}}
	// Issuance happens during the first handshake, so it gets a minute.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("handshake with %s as %s: %v", addr, acmeDomain, err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
}

func TestACME_CertificatesComeFromTheCAOverEitherChallenge(t *testing.T) {
	tests := []struct {
		name      string
		challenge string
	}{
		{"TLS-ALPN-01 on the HTTPS port", "tls-alpn-01"},
		{"HTTP-01 on the redirect listener when TLS-ALPN-01 cannot reach us", "http-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cache := t.TempDir()
			// The CA's address goes into the server's configuration and the
			// server's ports into the CA's, so the CA's listener comes first
			// and its directory is filled in once the server's ports are known.
			var ca *pebble
			cfg := tlsserve.Config{ACME: tlsserve.ACME{Domains: []string{acmeDomain}, Email: "ops@ssehub.test", CacheDir: cache}}
			httpPort, tlsPort := closedPort(t), ln.Addr().(*net.TCPAddr).Port
			if tt.challenge == "http-01" {
				redirect, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				httpPort, tlsPort = redirect.Addr().(*net.TCPAddr).Port, closedPort(t)
				redirect.Close()
				cfg.RedirectAddr = redirect.Addr().String()
			}
			ca = startPebble(t, httpPort, tlsPort)
			cfg.ACME.DirectoryURL, cfg.ACME.RootCAs = ca.directory, ca.roots
			s, err := tlsserve.New(t.Context(), cfg, &http.Server{Handler: protoHandler}, ln)
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- s.Serve() }()
			defer func() { s.Close(); <-served }()

			leaf := handshake(t, ln.Addr().String(), ca.issuer)
			if err := leaf.VerifyHostname(acmeDomain); err != nil {
				t.Fatalf("issued certificate: %v", err)
			}
			if _, err := os.Stat(filepath.Join(cache, acmeDomain)); err != nil {
				t.Fatalf("certificate not kept in the cache directory: %v", err)
			}
		})
	}
}

func TestACME_ACachedCertificateServesWithoutTheCA(t *testing.T) {
	cache := t.TempDir()
	var first *x509.Certificate
	var issuer *x509.CertPool
	for run := range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg := tlsserve.Config{ACME: tlsserve.ACME{Domains: []string{acmeDomain}, CacheDir: cache}}
		if run == 0 {
			ca := startPebble(t, closedPort(t), ln.Addr().(*net.TCPAddr).Port)
			cfg.ACME.DirectoryURL, cfg.ACME.RootCAs, issuer = ca.directory, ca.roots, ca.issuer
		} else {
			// A CA nobody answers at: only the cache can serve.
			cfg.ACME.DirectoryURL = "https://127.0.0.1:" + itoa(closedPort(t)) + "/dir"
		}
		s, err := tlsserve.New(t.Context(), cfg, &http.Server{Handler: protoHandler}, ln)
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve() }()
		leaf := handshake(t, ln.Addr().String(), issuer)
		s.Close()
		<-served
		if run == 0 {
			first = leaf
		} else if !leaf.Equal(first) {
			t.Fatalf("after a restart the server presented serial %x, want the cached %x", leaf.SerialNumber, first.SerialNumber)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
