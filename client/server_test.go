package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// request is what the test server recorded about one request.
type request struct {
	at     time.Time // when it arrived
	done   time.Time // when its handler returned
	method string
	path   string
	body   string
	header http.Header
}

// server is a loopback HTTP server that answers its n-th request with its
// n-th step, and 204 No Content once the steps run out, so that every test
// ends. It records every request, with times measured on the server.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []*request
	steps []http.HandlerFunc
}

func newServer(t testing.TB, steps ...http.HandlerFunc) *server {
	t.Helper()
	s := &server{steps: steps}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := &request{at: time.Now(), method: r.Method, path: r.URL.Path, body: string(body), header: r.Header.Clone()}
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, rec)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		rec.done = time.Now()
		s.mu.Unlock()
	}()
	if n < len(s.steps) {
		s.steps[n](w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// requests returns a copy of what the server recorded so far.
func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]request, len(s.reqs))
	for i, r := range s.reqs {
		out[i] = *r
	}
	return out
}

// client returns a Client for path on s with a short reconnection time, so
// that tests which are not about timing run fast.
func (s *server) client(path string) *Client {
	return &Client{URL: s.URL + path, HTTPClient: s.Client(), Retry: 10 * time.Millisecond}
}

func openStream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
}

// sends answers with an event stream made of body, then ends it.
func sends(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		openStream(w)
		io.WriteString(w, body)
	}
}

// cut answers with an event stream made of body, then drops the connection
// without ending the response.
func cut(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		openStream(w)
		io.WriteString(w, body)
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
}

// respond answers with the given status, content type and body.
func respond(code int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// stallBeforeHeaders never answers; it returns when the client goes away.
func stallBeforeHeaders(w http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
}

// stallAfter opens a stream, sends body, then sends nothing until the client
// goes away.
func stallAfter(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		openStream(w)
		io.WriteString(w, body)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}
}

// collect runs c until it returns, within a bounded time, and returns the
// events it delivered and its error.
func collect(t *testing.T, c *Client) ([]sse.Event, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var evs []sse.Event
	err := c.Run(ctx, func(ev sse.Event) error {
		evs = append(evs, ev)
		return nil
	})
	if ctx.Err() != nil {
		t.Fatalf("Run did not return within the test's time limit (events so far: %v)", evs)
	}
	return evs, err
}

// gap returns how long the server waited between the end of request i-1 and
// the arrival of request i.
func gap(reqs []request, i int) time.Duration {
	return reqs[i].at.Sub(reqs[i-1].done)
}

func eventsString(evs []sse.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(ev.Type + "/" + ev.ID + "/" + ev.Data + ";")
	}
	return b.String()
}
