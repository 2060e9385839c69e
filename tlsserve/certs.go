package tlsserve

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"sync"
	"time"
)

// fileCert serves the certificate in a pair of PEM files and loads it
// again when either file changes, so that a renewed certificate (certbot,
// cert-manager, a Kubernetes secret swapped by symlink) is served from the
// next handshake on, with no restart.
type fileCert struct {
	certFile, keyFile string
	logger            *slog.Logger

	mu      sync.Mutex
	stamp   [2]fileStamp
	current *tls.Certificate
}

// fileStamp tells whether a file changed since it was last read. Two stat
// calls per handshake cost far less than the handshake itself, and checking
// on every handshake means a replaced file is seen at once.
type fileStamp struct {
	info os.FileInfo
}

func (a fileStamp) same(b os.FileInfo) bool {
	return a.info != nil && os.SameFile(a.info, b) && a.info.ModTime().Equal(b.ModTime()) && a.info.Size() == b.Size()
}

func newFileCert(certFile, keyFile string, logger *slog.Logger) (*fileCert, error) {
	f := &fileCert{certFile: certFile, keyFile: keyFile, logger: logger}
	if _, err := f.get(); err != nil {
		return nil, err
	}
	return f, nil
}

// get returns the certificate, reloading it when a file changed. A pair
// that does not load (say the certificate was replaced and the key not yet)
// keeps the previous certificate in service and is tried again next time.
func (f *fileCert) get() (*tls.Certificate, error) {
	ci, err := os.Stat(f.certFile)
	if err != nil {
		return f.keep(fmt.Errorf("tlsserve: certificate file: %w", err))
	}
	ki, err := os.Stat(f.keyFile)
	if err != nil {
		return f.keep(fmt.Errorf("tlsserve: key file: %w", err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current != nil && f.stamp[0].same(ci) && f.stamp[1].same(ki) {
		return f.current, nil
	}
	c, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		err = fmt.Errorf("tlsserve: loading %s and %s: %w", f.certFile, f.keyFile, err)
		if f.current == nil {
			return nil, err
		}
		f.logger.Warn("certificate files changed but do not load; serving the previous certificate", "err", err)
		return f.current, nil
	}
	if f.current != nil {
		f.logger.Info("certificate reloaded", "cert", f.certFile, "not_after", c.Leaf.NotAfter)
	}
	f.current = &c
	f.stamp = [2]fileStamp{{ci}, {ki}}
	return f.current, nil
}

func (f *fileCert) keep(err error) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current == nil {
		return nil, err
	}
	f.logger.Warn("cannot check the certificate files; serving the previous certificate", "err", err)
	return f.current, nil
}

func (f *fileCert) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) { return f.get() }

// SelfSigned returns a new self-signed certificate for localhost, 127.0.0.1
// and ::1, valid for validity from now, with a fresh ECDSA P-256 key.
// Browsers and clients do not trust it unless told to (curl -k, Chromium's
// --ignore-certificate-errors-spki-list with SPKIHash of it).
func SelfSigned(validity time.Duration) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsserve: generating a key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsserve: generating a serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"ssehub development certificate"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsserve: signing the self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsserve: parsing the self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// SPKIHash is the base64 SHA-256 of the certificate's public key, the form
// Chromium's --ignore-certificate-errors-spki-list and HPKP take.
func SPKIHash(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
