// Package mercuretest is the Mercure protocol test suite, run against a
// real HTTP server on 127.0.0.1. Every store runs it unchanged:
//
//	func TestProtocol(t *testing.T) { mercuretest.Run(t, openStore) }
package mercuretest

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
)

// Timeout bounds every wait of the suite.
const Timeout = 10 * time.Second

// Keys used by the suite.
const (
	PublisherKey  = "publisher-secret-of-at-least-32-bytes!"
	SubscriberKey = "subscriber-secret-of-at-least-32-bytes"
)

// harness is a Server behind a real HTTP server.
type harness struct {
	t   *testing.T
	s   *mercure.Server
	srv *httptest.Server
}

// newHarness starts a hub on store (opened by open) with cfg adjusted by mod.
func newHarness(t *testing.T, open func(t *testing.T) hub.Store, mod func(*mercure.Config)) *harness {
	t.Helper()
	store := open(t)
	cfg := mercure.Config{Store: store, PublisherJWTKey: PublisherKey, SubscriberJWTKey: SubscriberKey, Anonymous: true}
	if mod != nil {
		mod(&cfg)
	}
	s, err := mercure.New(cfg)
	if err != nil {
		t.Fatalf("mercure.New: %v", err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		s.Close()
		srv.CloseClientConnections()
		srv.Close()
		store.Close()
	})
	return &harness{t: t, s: s, srv: srv}
}

// token signs claims with key (HS256) and returns the compact JWS.
func token(t *testing.T, key string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pubToken allows publishing to the given selectors.
func pubToken(t *testing.T, selectors ...string) string {
	return token(t, PublisherKey, jwt.MapClaims{"mercure": map[string]any{"publish": selectors}})
}

// subToken allows receiving private updates of the given selectors.
func subToken(t *testing.T, selectors ...string) string {
	return token(t, SubscriberKey, jwt.MapClaims{"mercure": map[string]any{"subscribe": selectors}})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// response is a finished request.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request and reads the whole answer.
func (h *harness) do(req *http.Request) response {
	h.t.Helper()
	res, err := h.srv.Client().Do(req.WithContext(ctxT(h.t)))
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("reading %s %s: %v", req.Method, req.URL, err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

// publishReq builds a publish request with the token in the Authorization
// header when tok is not empty.
func (h *harness) publishReq(form string, tok string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+mercure.HubPath, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req
}

// publish publishes form with a token allowed to publish anywhere and
// fails the test unless it is accepted; it returns the update's id.
func (h *harness) publish(form url.Values) string {
	h.t.Helper()
	r := h.do(h.publishReq(form.Encode(), pubToken(h.t, "*")))
	if r.status != http.StatusOK {
		h.t.Fatalf("publish %v = %d %q", form, r.status, r.body)
	}
	return r.body
}

// stream is an open subscription read by a background goroutine.
type stream struct {
	t      *testing.T
	res    *http.Response
	events chan sse.Event
	cancel context.CancelFunc
}

// subscribe opens GET /.well-known/mercure?query with the given headers and
// returns the stream once the response headers arrived (the subscription is
// then registered). It fails the test unless the status is 200.
func (h *harness) subscribe(query string, header http.Header) *stream {
	h.t.Helper()
	st, status, body := h.trySubscribe(query, header)
	if status != http.StatusOK {
		h.t.Fatalf("subscribe %q = %d %q", query, status, body)
	}
	return st
}

func (h *harness) trySubscribe(query string, header http.Header) (*stream, int, string) {
	h.t.Helper()
	return h.open(http.MethodGet, query, nil, header)
}

// open sends a subscribe request and returns its stream when the answer is
// 200, else the status and the body.
func (h *harness) open(method, query string, body io.Reader, header http.Header) (*stream, int, string) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, method, h.srv.URL+mercure.HubPath+"?"+query, body)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		cancel()
		h.t.Fatalf("subscribe %q: %v", query, err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		return nil, res.StatusCode, string(b)
	}
	st := &stream{t: h.t, res: res, events: make(chan sse.Event, 10000), cancel: cancel}
	go func() {
		defer close(st.events)
		for ev, err := range sse.Read(res.Body) {
			if err != nil {
				return
			}
			st.events <- ev
		}
	}()
	h.t.Cleanup(st.close)
	return st, res.StatusCode, ""
}

func (st *stream) close() {
	st.cancel()
	st.res.Body.Close()
}

// next returns the next event, failing the test after Timeout.
func (st *stream) next() sse.Event {
	st.t.Helper()
	select {
	case ev, ok := <-st.events:
		if !ok {
			st.t.Fatal("stream ended, want an event")
		}
		return ev
	case <-time.After(Timeout):
		st.t.Fatal("no event within the timeout")
	}
	return sse.Event{}
}

// nextIDs reads n events and returns their ids.
func (st *stream) nextIDs(n int) []string {
	st.t.Helper()
	var ids []string
	for range n {
		ids = append(ids, st.next().ID)
	}
	return ids
}

// ended waits for the stream to end, failing the test after Timeout.
func (st *stream) ended() {
	st.t.Helper()
	deadline := time.After(Timeout)
	for {
		select {
		case _, ok := <-st.events:
			if !ok {
				return
			}
		case <-deadline:
			st.t.Fatal("stream did not end within the timeout")
		}
	}
}

// rawUntil reads the raw stream line by line (comments included) until
// want returns true for a line, failing the test after Timeout. It must
// not be mixed with next on the same stream.
func rawUntil(t *testing.T, body io.Reader, want func(string) bool) {
	t.Helper()
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(body)
		for sc.Scan() {
			if want(sc.Text()) {
				found <- true
				return
			}
		}
		found <- false
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatal("stream ended before the expected line")
		}
	case <-time.After(Timeout):
		t.Fatal("expected line not seen within the timeout")
	}
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func q(kv ...string) string { return form(kv...).Encode() }
