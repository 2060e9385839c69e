package tlsserve_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ssehub/ssehub/tlsserve"
)

// writePair writes c's certificate and key as PEM files in dir, each
// through a rename, the way certificate tools replace them.
func writePair(t *testing.T, dir string, c tls.Certificate, certOnly bool) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})}
	if !certOnly {
		files[keyFile] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	for name, b := range files {
		tmp := name + ".new"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, name); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// served returns the certificate a new TLS handshake with addr presents.
func served(t *testing.T, addr string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func TestFileCertificates_ReplacedFilesAreServedFromTheNextHandshake(t *testing.T) {
	var certs [3]tls.Certificate
	roots := x509.NewCertPool()
	for i := range certs {
		c, err := tlsserve.SelfSigned(time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		certs[i] = c
		roots.AddCert(c.Leaf)
	}
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, certs[0], false)
	_, addr := start(t, tlsserve.Config{CertFile: certFile, KeyFile: keyFile}, protoHandler)

	steps := []struct {
		name     string
		write    int
		certOnly bool
		want     int
	}{
		{"the first handshake sees the files' certificate", -1, false, 0},
		{"a replaced pair is served from the next handshake", 1, false, 1},
		{"a certificate without its key keeps the previous pair in service", 2, true, 1},
		{"the pair completed later is served", 2, false, 2},
	}
	for _, st := range steps {
		if st.write >= 0 {
			writePair(t, dir, certs[st.write], st.certOnly)
		}
		if got := served(t, addr, roots); !got.Equal(certs[st.want].Leaf) {
			t.Fatalf("%s: served serial %x, want %x", st.name, got.SerialNumber, certs[st.want].Leaf.SerialNumber)
		}
	}
}

func TestFileCertificates_UnreadableFilesAreAnErrorAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	_, err = tlsserve.New(t.Context(), tlsserve.Config{CertFile: filepath.Join(dir, "none.pem"), KeyFile: filepath.Join(dir, "none.key")}, &http.Server{}, ln)
	if err == nil {
		t.Fatal("New accepted certificate files that do not exist")
	}
}

func TestSelfSigned_CoversLocalhostByNameAndAddress(t *testing.T) {
	c, err := tlsserve.SelfSigned(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := c.Leaf.VerifyHostname(name); err != nil {
			t.Errorf("not valid for %s: %v", name, err)
		}
	}
	if h := tlsserve.SPKIHash(c.Leaf); len(h) != 44 {
		t.Errorf("SPKIHash = %q, want 44 characters of base64", h)
	}
}
