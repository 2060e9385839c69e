package tlsserve_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ssehub/ssehub/tlsserve"
)

// start serves h with cfg on a loopback port until the test ends.
func start(t *testing.T, cfg tlsserve.Config, h http.Handler) (*tlsserve.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := tlsserve.New(t.Context(), cfg, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, ln)
	if err != nil {
		ln.Close()
		t.Fatalf("tlsserve.New: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		s.Close()
		select {
		case err := <-served:
			if !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve ended with %v, want http.ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return s, ln.Addr().String()
}

// protoHandler answers with the request's protocol.
var protoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, r.Proto)
})

// trusting returns a pool trusting the certificate c.
func trusting(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

// get fetches url with client and returns the body, failing the test on
// any error or a status other than 200.
func get(t *testing.T, client *http.Client, url string) (string, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %q %v", url, resp.Status, b, err)
	}
	return string(b), resp
}

// h2Client speaks HTTP/2 only, over TLS trusting roots or, with roots nil,
// in the clear with prior knowledge (h2c).
func h2Client(roots *x509.CertPool) *http.Client {
	var p http.Protocols
	tr := &http.Transport{Protocols: &p}
	if roots == nil {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP2(true)
		tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestServer_SpeaksTheProtocolsItIsConfiguredFor(t *testing.T) {
	tests := []struct {
		name   string
		cfg    tlsserve.Config
		h2c    bool // the client tries h2c rather than TLS
		want   string
		failed bool
	}{
		{"a self-signed server speaks HTTP/2 over TLS", tlsserve.Config{SelfSigned: true}, false, "HTTP/2.0", false},
		{"an h2c server speaks cleartext HTTP/2", tlsserve.Config{H2C: true}, true, "HTTP/2.0", false},
		{"a plain server refuses cleartext HTTP/2", tlsserve.Config{}, true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, addr := start(t, tt.cfg, protoHandler)
			var client *http.Client
			url := "http://" + addr + "/"
			if tt.h2c {
				client = h2Client(nil)
			} else {
				client = h2Client(trusting(s.Leaf))
				url = "https://" + addr + "/"
			}
			resp, err := client.Get(url)
			if tt.failed {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("GET %s over HTTP/2 succeeded (%s), want a failure", url, resp.Proto)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tt.want {
				t.Fatalf("handler saw %q, want %q", b, tt.want)
			}
		})
	}
}

func TestServer_TLSStillServesHTTP1(t *testing.T) {
	s, addr := start(t, tlsserve.Config{SelfSigned: true}, protoHandler)
	var p http.Protocols
	p.SetHTTP1(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{RootCAs: trusting(s.Leaf)}}}
	if got, _ := get(t, client, "https://"+addr+"/"); got != "HTTP/1.1" {
		t.Fatalf("handler saw %q, want HTTP/1.1", got)
	}
}

func TestServer_RedirectSendsPlainHTTPToTheHTTPSPort(t *testing.T) {
	s, addr := start(t, tlsserve.Config{SelfSigned: true, RedirectAddr: "127.0.0.1:0"}, protoHandler)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Post("http://"+s.RedirectAddr().String()+"/.well-known/mercure?topic=a", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := net.SplitHostPort(addr)
	if want := "https://127.0.0.1:" + port + "/.well-known/mercure?topic=a"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("got %s to %q, want 308 to %q", resp.Status, resp.Header.Get("Location"), want)
	}
}

func TestConfig_RefusesContradictions(t *testing.T) {
	tests := []struct {
		name string
		cfg  tlsserve.Config
	}{
		{"a certificate file needs its key", tlsserve.Config{CertFile: "c.pem"}},
		{"a key file needs its certificate", tlsserve.Config{KeyFile: "k.pem"}},
		{"files and self-signed exclude each other", tlsserve.Config{CertFile: "c.pem", KeyFile: "k.pem", SelfSigned: true}},
		{"self-signed and ACME exclude each other", tlsserve.Config{SelfSigned: true, ACME: tlsserve.ACME{Domains: []string{"example.com"}}}},
		{"HTTP/3 needs TLS", tlsserve.Config{HTTP3: true}},
		{"a redirect to HTTPS needs TLS", tlsserve.Config{RedirectAddr: "127.0.0.1:0"}},
		{"h2c is for cleartext only", tlsserve.Config{SelfSigned: true, H2C: true}},
		{"a negative stream limit is refused", tlsserve.Config{MaxConcurrentStreams: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err == nil {
				t.Fatal("Validate accepted it")
			}
		})
	}
}
