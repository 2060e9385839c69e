package main

import (
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/ssehub/ssehub/tlsserve"
)

// defaultACMECache is where ACME accounts and certificates are kept
// without -acme-cache: beside the default store, so that a restart does
// not ask the CA again (Let's Encrypt limits how often it may be asked).
const defaultACMECache = "ssehub-acme"

// tlsFlags are the flags of ssehub serve that choose TLS, certificates
// and HTTP versions.
type tlsFlags struct {
	cfg         tlsserve.Config
	acmeCARoots string
}

func addTLSFlags(fs *flag.FlagSet) *tlsFlags {
	f := &tlsFlags{}
	c := &f.cfg
	fs.StringVar(&c.CertFile, "tls-cert", "", "PEM `file` of the certificate (chain) to serve HTTPS with; read again\nwhen it changes, so a renewed certificate needs no restart (needs -tls-key)")
	fs.StringVar(&c.KeyFile, "tls-key", "", "PEM `file` of the private key of -tls-cert")
	fs.BoolVar(&c.SelfSigned, "tls-self-signed", false, "serve HTTPS with a certificate for localhost made at start (development only:\nbrowsers warn, curl needs -k; its SPKI hash is logged for Chromium)")
	fs.Func("acme-domains", "comma-separated `domains` to get certificates for over ACME (Let's Encrypt by\ndefault); the CA must reach this server on port 443 (TLS-ALPN-01) or, with\n-redirect-addr :80, on port 80 (HTTP-01)", listSetter(&c.ACME.Domains))
	fs.StringVar(&c.ACME.Email, "acme-email", "", "contact address the ACME CA may send expiry warnings to")
	fs.StringVar(&c.ACME.CacheDir, "acme-cache", defaultACMECache, "`directory` keeping the ACME account key and certificates across restarts")
	fs.StringVar(&c.ACME.DirectoryURL, "acme-ca", tlsserve.LetsEncrypt, "ACME directory `URL` of the CA, e.g. Let's Encrypt's staging\nhttps://acme-staging-v02.api.letsencrypt.org/directory")
	fs.StringVar(&f.acmeCARoots, "acme-ca-roots", "", "PEM `file` of root certificates to trust for the ACME CA's own HTTPS\n(a private CA); default: the system's")
	fs.StringVar(&c.RedirectAddr, "redirect-addr", "", "`host:port` of a plain-HTTP listener that redirects to HTTPS and answers\nACME HTTP-01 challenges, e.g. :80; empty opens none")
	fs.BoolVar(&c.H2C, "h2c", false, "without TLS, also speak cleartext HTTP/2 (prior knowledge), for a proxy\nin front that forwards HTTP/2")
	fs.BoolVar(&c.HTTP3, "http3", false, "with TLS, also serve HTTP/3 over QUIC on the same port number (UDP),\nannounced to browsers with an Alt-Svc header")
	fs.IntVar(&c.MaxConcurrentStreams, "max-streams", tlsserve.DefaultMaxConcurrentStreams, "most HTTP/2 or HTTP/3 streams (EventSources, requests) one connection may\nhave open at once")
	return f
}

// config returns the TLS configuration the flags describe.
func (f *tlsFlags) config(logger *slog.Logger) (tlsserve.Config, error) {
	c := f.cfg
	c.Logger = logger
	if f.acmeCARoots != "" {
		pem, err := os.ReadFile(f.acmeCARoots)
		if err != nil {
			return c, fmt.Errorf("reading -acme-ca-roots: %w", err)
		}
		c.ACME.RootCAs = x509.NewCertPool()
		if !c.ACME.RootCAs.AppendCertsFromPEM(pem) {
			return c, usageError{fmt.Errorf("-acme-ca-roots %s holds no PEM certificate", f.acmeCARoots)}
		}
	}
	if err := c.Validate(); err != nil {
		return c, usageError{err}
	}
	return c, nil
}
