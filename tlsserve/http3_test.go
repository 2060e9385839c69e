package tlsserve_test

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/quic-go/quic-go/http3"

	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/tlsserve"
)

const hubKey = "tlsserve-test-secret-of-32-bytes!!"

// startHub serves a Mercure hub (anonymous subscribers, publishers signed
// with hubKey) with cfg and returns the server and its address.
func startHub(t *testing.T, cfg tlsserve.Config) (*tlsserve.Server, string) {
	t.Helper()
	h, err := mercure.New(mercure.Config{PublisherJWTKey: hubKey, Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	mux := http.NewServeMux()
	h.Register(mux)
	return start(t, cfg, mux)
}

func publisherToken(t *testing.T) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"mercure": map[string]any{"publish": []string{"*"}}}).SignedString([]byte(hubKey))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHTTP3_SubscribePublishAndReceiveOverQUIC(t *testing.T) {
	s, addr := startHub(t, tlsserve.Config{SelfSigned: true, HTTP3: true})
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: trusting(s.Leaf)}}
	t.Cleanup(func() { tr.Close() })
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	hubURL := "https://" + addr + "/.well-known/mercure"

	resp, err := client.Get(hubURL + "?topic=" + url.QueryEscape("https://example.com/h3"))
	if err != nil {
		t.Fatalf("subscribing over HTTP/3: %v", err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 3 || resp.StatusCode != http.StatusOK {
		t.Fatalf("subscription answered %s over %s, want 200 over HTTP/3", resp.Status, resp.Proto)
	}

	req, err := http.NewRequest(http.MethodPost, hubURL, strings.NewReader(url.Values{"topic": {"https://example.com/h3"}, "data": {"over QUIC"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+publisherToken(t))
	pub, err := client.Do(req)
	if err != nil {
		t.Fatalf("publishing over HTTP/3: %v", err)
	}
	pub.Body.Close()
	if pub.StatusCode != http.StatusOK {
		t.Fatalf("publish answered %s", pub.Status)
	}

	p := sse.NewParser(resp.Body)
	ev, err := p.Next()
	if err != nil || ev.Data != "over QUIC" {
		t.Fatalf("received %+v, %v; want the update published over HTTP/3", ev, err)
	}
}

func TestHTTP3_TCPResponsesAnnounceItWithAltSvc(t *testing.T) {
	tests := []struct {
		name  string
		http3 bool
		want  string
	}{
		{"with HTTP/3 on, responses over TCP carry Alt-Svc h3", true, `h3=":`},
		{"with HTTP/3 off, they carry none", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, addr := start(t, tlsserve.Config{SelfSigned: true, HTTP3: tt.http3}, protoHandler)
			_, resp := get(t, h2Client(trusting(s.Leaf)), "https://"+addr+"/")
			got := resp.Header.Get("Alt-Svc")
			if (tt.want == "") != (got == "") || !strings.HasPrefix(got, tt.want) {
				t.Fatalf("Alt-Svc = %q, want prefix %q", got, tt.want)
			}
		})
	}
}
