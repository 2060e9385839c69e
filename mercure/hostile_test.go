package mercure_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/mercure"
)

// answerBound is how long the hub may take to answer a slow or endless
// body it refuses: it answers as soon as it has the headers, so this only
// absorbs a loaded machine.
const answerBound = 5 * time.Second

// newPublishServer starts a hub whose publishers use key, with cfg's limits.
func newPublishServer(t *testing.T, cfg mercure.Config) string {
	t.Helper()
	cfg.PublisherJWTKey, cfg.Anonymous = "publish-key", true
	s, err := mercure.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		s.Close()
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.Listener.Addr().String()
}

// slowPost sends a POST's headers and the first byte of its body, then
// nothing, and returns the response the hub sends meanwhile.
func slowPost(t *testing.T, addr string, header string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(answerBound))
	fmt.Fprintf(c, "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n%s\r\nt", header)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %s to a body that never ends: %v", answerBound, err)
	}
	return resp
}

// Finding 9: a body that never ends does not hold the connection of a
// publisher the hub refuses anyway: the refusal comes at once.
func TestPublish_RefusedPublishersAreAnsweredWithoutReadingTheirBody(t *testing.T) {
	addr := newPublishServer(t, mercure.Config{})
	forbidden := hmacToken(t, "publish-key", map[string]any{"publish": []string{}})
	for _, tt := range []struct {
		name, header string
		status       int
	}{
		{"no token, a slow body", "Content-Length: 1000\r\n", http.StatusUnauthorized},
		{"no token, chunked without end", "Transfer-Encoding: chunked\r\n", http.StatusUnauthorized},
		{"a token signed with another key", "Authorization: Bearer " + hmacToken(t, "other", map[string]any{"publish": []string{"*"}}) + "\r\nContent-Length: 1000\r\n", http.StatusUnauthorized},
		{"a token allowing no topic", "Authorization: Bearer " + forbidden + "\r\nContent-Length: 1000\r\n", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := slowPost(t, addr, tt.header)
			if resp.StatusCode != tt.status || !resp.Close {
				t.Fatalf("status %d, closing %v; want %d and Connection: close", resp.StatusCode, resp.Close, tt.status)
			}
		})
	}
}

// Finding 9: an authorized publisher's body has BodyTimeout to arrive.
func TestPublish_ABodyThatDoesNotArriveInTimeIsAnswered408(t *testing.T) {
	addr := newPublishServer(t, mercure.Config{BodyTimeout: 300 * time.Millisecond})
	tok := hmacToken(t, "publish-key", map[string]any{"publish": []string{"*"}})
	resp := slowPost(t, addr, "Authorization: Bearer "+tok+"\r\nContent-Length: 1000\r\n")
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
}

// A publisher over its rate gets 429 with Retry-After; another publisher
// (another token subject) is not affected.
func TestPublish_APublisherOverItsRateIsAnswered429(t *testing.T) {
	addr := newPublishServer(t, mercure.Config{PublishRate: 0.5, PublishBurst: 2})
	token := func(sub string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "mercure": map[string]any{"publish": []string{"*"}}}).SignedString([]byte("publish-key"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	post := func(tok string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/.well-known/mercure", strings.NewReader(url.Values{"topic": {"t"}, "data": {"d"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	a, b := token("a"), token("b")
	for i := range 2 {
		if resp := post(a); resp.StatusCode != http.StatusOK {
			t.Fatalf("update %d within the burst: %d", i+1, resp.StatusCode)
		}
	}
	resp := post(a)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("past the burst: %d, Retry-After %q; want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := post(b); resp.StatusCode != http.StatusOK {
		t.Fatalf("another publisher: %d, want 200", resp.StatusCode)
	}
}
