package client

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestClient_SendsEventStreamRequestHeaders(t *testing.T) {
	s := newServer(t, sends("data: a\n\n"))
	c := s.client("/events")
	c.Header = http.Header{"X-Token": {"secret"}, "Last-Event-Id": {"ignored"}}
	if _, err := collect(t, c); err != nil {
		t.Fatal(err)
	}
	h := s.requests()[0].header
	for name, want := range map[string]string{
		"Accept":        "text/event-stream",
		"Cache-Control": "no-cache",
		"X-Token":       "secret",
		"Last-Event-Id": "",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("request header %s = %q, want %q", name, got, want)
		}
	}
}

func TestClient_DeliversEventsInOrderWithTypeDataAndLastEventID(t *testing.T) {
	s := newServer(t, sends(": hello\n\ndata: one\n\nevent: add\ndata: two\ndata: lines\n\nid: 7\ndata: three\n\ndata: four\n\n"))
	evs, err := collect(t, s.client("/"))
	if err != nil {
		t.Fatal(err)
	}
	want := "message//one;add//two\nlines;message/7/three;message/7/four;"
	if got := eventsString(evs); got != want {
		t.Fatalf("events = %q, want %q", got, want)
	}
}

func TestClient_EventsIteratorYieldsEventsThenEndsCleanly(t *testing.T) {
	s := newServer(t, sends("data: a\n\ndata: b\n\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for ev, err := range s.client("/").Events(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Data)
	}
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("got %q, want [a b]", got)
	}
}

func TestClient_HonoursRetryFieldBeforeReconnecting(t *testing.T) {
	const retry = 150 * time.Millisecond
	s := newServer(t,
		sends("retry: 150\ndata: a\n\n"),
		sends(": the retry field of a block that is never dispatched counts too\nretry: 80\n"),
	)
	c := s.client("/")
	c.Retry = 5 * time.Second // replaced by the stream's retry field
	if _, err := collect(t, c); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, want := range []time.Duration{retry, 80 * time.Millisecond} {
		if g := gap(reqs, i+1); g < want || g > want+300*time.Millisecond {
			t.Errorf("reconnection %d came %v after the stream ended, want %v (+300ms tolerance)", i+1, g, want)
		}
	}
}

func TestClient_SendsLastEventIDOnReconnectionAndNoneAfterReset(t *testing.T) {
	s := newServer(t,
		sends("id: 1\ndata: a\n\nid: 2\ndata: b\n\n"),
		sends("data: c\n\nid\ndata: d\n\n"),
		sends("data: e\n\n"),
	)
	evs, err := collect(t, s.client("/"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := eventsString(evs), "message/1/a;message/2/b;message/2/c;message//d;message//e;"; got != want {
		t.Errorf("events = %q, want %q", got, want)
	}
	reqs := s.requests()
	var sent []string
	for _, r := range reqs {
		sent = append(sent, r.header.Get("Last-Event-ID")+"|"+strings.Join(r.header.Values("Last-Event-ID"), ","))
	}
	if got, want := strings.Join(sent, " "), "| 2|2 | |"; got != want {
		t.Errorf("Last-Event-ID per request = %q, want %q", got, want)
	}
}

func TestClient_LastEventIDOptionIsSentOnFirstAttempt(t *testing.T) {
	s := newServer(t, sends("data: a\n\n"))
	c := s.client("/")
	c.LastEventID = "42"
	evs, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.requests()[0].header.Get("Last-Event-ID"); got != "42" {
		t.Errorf("Last-Event-ID = %q, want 42", got)
	}
	if evs[0].ID != "42" {
		t.Errorf("event id = %q, want the resumed id 42", evs[0].ID)
	}
}

func TestClient_204StopsReconnecting(t *testing.T) {
	s := newServer(t, respond(http.StatusNoContent, "", ""))
	evs, err := collect(t, s.client("/"))
	if err != nil || len(evs) != 0 {
		t.Fatalf("Run = %v with %d events, want nil and none", err, len(evs))
	}
	if n := len(s.requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestClient_NonEventStreamResponsesFailWithoutReconnecting(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		want     error
		wantCode int
		wantMsg  string
	}{
		{"500", respond(500, "application/json", "\n{\"error\": \"boom\"}\nmore"), ErrBadStatus, 500, `status 500 Internal Server Error: {"error": "boom"}`},
		{"404", respond(404, "text/plain", "no such stream"), ErrBadStatus, 404, "status 404 Not Found: no such stream"},
		{"201", respond(201, "text/event-stream", "data: a\n\n"), ErrBadStatus, 201, "status 201 Created"},
		{"HTML", respond(200, "text/html; charset=utf-8", "<!doctype html><p>hi"), ErrBadContentType, 200, `content type "text/html; charset=utf-8" is not text/event-stream`},
		{"no content type", func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			w.Write([]byte("data: a\n\n"))
		}, ErrBadContentType, 200, "no content type"},
		{"malformed content type", respond(200, "text/event-stream; ===", "data: a\n\n"), ErrBadContentType, 200, "is not text/event-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.handler, sends("data: never\n\n"))
			evs, err := collect(t, s.client("/x"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Run = %v, want %v", err, tt.want)
			}
			var rerr *ResponseError
			if !errors.As(err, &rerr) || rerr.StatusCode != tt.wantCode || rerr.URL != s.URL+"/x" || rerr.Method != "GET" {
				t.Fatalf("Run = %#v, want a *ResponseError for GET %s/x with status %d", rerr, s.URL, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.HasPrefix(err.Error(), "client: GET "+s.URL+"/x: ") {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			if len(evs) != 0 || len(s.requests()) != 1 {
				t.Errorf("%d events and %d requests, want none and 1", len(evs), len(s.requests()))
			}
		})
	}
}

func TestClient_MediaTypeParametersAndCaseAreAccepted(t *testing.T) {
	s := newServer(t, respond(200, "Text/Event-Stream; charset=utf-8", "data: a\n\n"))
	evs, err := collect(t, s.client("/"))
	if err != nil || len(evs) != 1 {
		t.Fatalf("Run = %v with %d events, want nil and 1", err, len(evs))
	}
}

func TestClient_FollowsRedirectsAndReconnectsToTheOriginalURL(t *testing.T) {
	redirect := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/moved", http.StatusTemporaryRedirect)
	}
	s := newServer(t, redirect, sends("id: 1\ndata: a\n\n"), redirect, sends("data: b\n\n"))
	c := s.client("/events")
	c.Method = http.MethodPost
	c.Body = []byte(`{"q":1}`)
	evs, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := eventsString(evs); got != "message/1/a;message/1/b;" {
		t.Errorf("events = %q", got)
	}
	var got []string
	for _, r := range s.requests() {
		got = append(got, r.method+" "+r.path+" "+r.body+" "+r.header.Get("Last-Event-ID"))
	}
	want := []string{`POST /events {"q":1} `, `POST /moved {"q":1} `, `POST /events {"q":1} 1`, `POST /moved {"q":1} 1`, `POST /events {"q":1} 1`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestClient_ConnectionCutMidEventDropsThePartialEventAndItsID(t *testing.T) {
	s := newServer(t,
		cut("id: 1\ndata: whole\n\nid: 2\ndata: partial"),
		sends("data: next\n\n"),
	)
	evs, err := collect(t, s.client("/"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := eventsString(evs), "message/1/whole;message/1/next;"; got != want {
		t.Errorf("events = %q, want %q", got, want)
	}
	if got := s.requests()[1].header.Get("Last-Event-ID"); got != "1" {
		t.Errorf("Last-Event-ID after the cut = %q, want 1 (the id of the cut event must not count)", got)
	}
}

func TestClient_ResendsMethodHeadersAndBodyOnReconnection(t *testing.T) {
	s := newServer(t, sends("data: a\n\n"), cut("data: b\n\n"), sends("data: c\n\n"))
	c := s.client("/v1/chat")
	c.Method = http.MethodPost
	c.Header = http.Header{"Authorization": {"Bearer k"}, "Content-Type": {"application/json"}}
	c.Body = []byte(`{"stream":true}`)
	evs, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("got %d events, want 3", len(evs))
	}
	reqs := s.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for i, r := range reqs {
		if r.method != "POST" || r.body != `{"stream":true}` || r.header.Get("Authorization") != "Bearer k" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("request %d: %s body %q headers %v", i, r.method, r.body, r.header)
		}
	}
}

func TestClient_EndDataEndsTheStreamCleanly(t *testing.T) {
	s := newServer(t, stallAfter("data: {\"a\":1}\n\ndata: [DONE]\n\n"))
	c := s.client("/")
	c.EndData = "[DONE]"
	evs, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := eventsString(evs); got != `message//{"a":1};` {
		t.Errorf("events = %q, want only the event before the marker", got)
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestClient_FirstReconnectionAfterAnOpenStreamWaitsOnlyTheRetryTime(t *testing.T) {
	const retry = 100 * time.Millisecond
	s := newServer(t,
		respond(503, "text/plain", "down"),
		respond(503, "text/plain", "down"),
		respond(503, "text/plain", "down"),
		sends("data: a\n\n"),
	)
	c := s.client("/")
	c.Retry = retry
	c.RetryServerErrors = true
	if _, err := collect(t, c); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 5", len(reqs))
	}
	// Backoff after n failures: between max(retry, retry·2ⁿ/2) and retry·2ⁿ.
	for n, lo := range []time.Duration{retry, 2 * retry, 4 * retry} {
		if g := gap(reqs, n+1); g < lo {
			t.Errorf("attempt after %d failures came after %v, want at least %v", n+1, g, lo)
		}
	}
	// Backoff after 3 failures would wait at least 4·retry.
	if g := gap(reqs, 4); g < retry || g >= 4*retry {
		t.Errorf("reconnection after an open stream came after %v, want the retry time %v and no backoff", g, retry)
	}
}

func TestClient_GivesUpAfterMaxAttemptsWithTheLastCause(t *testing.T) {
	s := newServer(t,
		respond(503, "text/plain", "try later"),
		respond(502, "text/plain", "bad gateway"),
		sends(": opens but sends no event\n"),
		sends("data: never\n\n"),
	)
	c := s.client("/")
	c.MaxAttempts = 3
	c.RetryServerErrors = true
	c.MaxBackoff = 20 * time.Millisecond
	_, err := collect(t, c)
	if !errors.Is(err, ErrGaveUp) {
		t.Fatalf("Run = %v, want ErrGaveUp", err)
	}
	if want := "client: gave up after 3 attempts without an event: GET " + s.URL + "/: server ended the stream"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if n := len(s.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestClient_GivesUpOnARefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &Client{URL: "http://" + addr + "/", Retry: time.Millisecond, MaxAttempts: 2}
	_, err = collect(t, c)
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Run = %v, want ErrGaveUp wrapping ECONNREFUSED", err)
	}
	if !strings.Contains(err.Error(), "after 2 attempts") || !strings.Contains(err.Error(), "GET http://"+addr+"/: dial tcp") {
		t.Errorf("error %q should say how many attempts and what failed", err)
	}
}

func TestClient_RetryServerErrorsRetries503ThenStreams(t *testing.T) {
	s := newServer(t, respond(503, "", ""), respond(429, "", ""), sends("data: up\n\n"))
	c := s.client("/")
	c.RetryServerErrors = true
	var states []string
	c.OnStateChange = func(st State, err error) {
		var code int
		var rerr *ResponseError
		if errors.As(err, &rerr) {
			code = rerr.StatusCode
		}
		states = append(states, st.String()+"/"+http.StatusText(code))
	}
	evs, err := collect(t, c)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Run = %v with %d events, want nil and 1", err, len(evs))
	}
	want := "connecting/ connecting/Service Unavailable connecting/Too Many Requests open/ connecting/ closed/"
	if got := strings.Join(states, " "); got != want {
		t.Errorf("states = %q, want %q", got, want)
	}
}

func TestClient_ReportsStateChangesLikeOnOpenAndOnError(t *testing.T) {
	s := newServer(t, sends("data: a\n\n"), cut("data: b\n\n"))
	c := s.client("/")
	var states []string
	c.OnStateChange = func(st State, err error) {
		s := st.String()
		if err != nil {
			s += "(" + err.Error() + ")"
		}
		states = append(states, s)
	}
	if _, err := collect(t, c); err != nil {
		t.Fatal(err)
	}
	u := "GET " + s.URL + "/"
	want := []string{
		"connecting", "open",
		"connecting(" + u + ": server ended the stream)", "open",
		"connecting(" + u + ": unexpected EOF)",
		"closed", // the third request is answered with 204
	}
	if strings.Join(states, "\n") != strings.Join(want, "\n") {
		t.Errorf("states:\n%s\nwant:\n%s", strings.Join(states, "\n"), strings.Join(want, "\n"))
	}
}

func TestClient_NoReconnectEndsWithTheBody(t *testing.T) {
	s := newServer(t, sends("data: a\n\n"), sends("data: never\n\n"))
	c := s.client("/")
	c.NoReconnect = true
	evs, err := collect(t, c)
	if err != nil || len(evs) != 1 || len(s.requests()) != 1 {
		t.Fatalf("Run = %v, %d events, %d requests; want nil, 1, 1", err, len(evs), len(s.requests()))
	}
	s = newServer(t, cut("data: a\n\n"))
	c = s.client("/")
	c.NoReconnect = true
	if _, err := collect(t, c); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Run = %v after a cut connection, want an unexpected EOF", err)
	}
}

func TestClient_CallbackErrorIsReturnedUnchanged(t *testing.T) {
	s := newServer(t, sends("data: a\n\ndata: b\n\n"))
	stop := errors.New("enough")
	n := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.client("/").Run(ctx, func(sse.Event) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("Run = %v after %d events, want %v after 1", err, n, stop)
	}
}

func TestClient_StalledServerFailsWithReadIdleTimeout(t *testing.T) {
	t.Run("after headers", func(t *testing.T) {
		s := newServer(t, stallAfter("data: a\n\n"))
		c := s.client("/")
		c.ReadIdleTimeout = 100 * time.Millisecond
		c.NoReconnect = true
		evs, err := collect(t, c)
		if !errors.Is(err, ErrIdleTimeout) || len(evs) != 1 {
			t.Fatalf("Run = %v with %d events, want ErrIdleTimeout after 1", err, len(evs))
		}
		if want := "client: GET " + s.URL + "/: no data for 100ms: read idle timeout"; err.Error() != want {
			t.Errorf("error = %q, want %q", err, want)
		}
	})
	t.Run("before headers", func(t *testing.T) {
		s := newServer(t, stallBeforeHeaders, stallBeforeHeaders)
		c := s.client("/")
		c.ReadIdleTimeout = 50 * time.Millisecond
		c.MaxAttempts = 2
		_, err := collect(t, c)
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, ErrIdleTimeout) {
			t.Fatalf("Run = %v, want ErrGaveUp wrapping ErrIdleTimeout", err)
		}
	})
	t.Run("slow callback does not count", func(t *testing.T) {
		release := make(chan struct{})
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			openStream(w)
			w.Write([]byte("data: a\n\n"))
			http.NewResponseController(w).Flush()
			<-release
			w.Write([]byte("data: b\n\n"))
		})
		c := s.client("/")
		c.ReadIdleTimeout = 100 * time.Millisecond
		c.NoReconnect = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var got []string
		err := c.Run(ctx, func(ev sse.Event) error {
			got = append(got, ev.Data)
			if ev.Data == "a" {
				// Hold the event for three idle timeouts, measured by a
				// timer rather than a sleep, then let the server go on.
				<-time.After(3 * c.ReadIdleTimeout)
				close(release)
			}
			return nil
		})
		if err != nil || strings.Join(got, "") != "ab" {
			t.Fatalf("Run = %v with %q, want nil with ab", err, got)
		}
	})
}

func TestClient_BadInputEndsWithAClearError(t *testing.T) {
	garbage := make([]byte, 64<<10)
	rand.Read(garbage)
	noNewline := strings.NewReplacer("\r", "x", "\n", "x").Replace(string(garbage))
	endless := func(w http.ResponseWriter, r *http.Request) {
		openStream(w)
		chunk := []byte(strings.Repeat("x", 4096))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		setup   func(*Client)
		want    error
		wantMsg string
	}{
		{"endless line", endless, func(c *Client) { c.MaxLineBytes = 64 << 10 }, sse.ErrLineTooLong, "line 1 exceeds 65536 bytes"},
		{"binary garbage without line breaks", sends(noNewline), func(c *Client) { c.MaxLineBytes = 1024 }, sse.ErrLineTooLong, "line too long"},
		{"binary garbage", sends(string(garbage)), func(c *Client) { c.MaxAttempts = 1; c.MaxLineBytes = 64 << 10 }, nil, ""},
		{"event too large", sends("data: " + strings.Repeat("y", 2000) + "\ndata: more\n\n"), func(c *Client) { c.MaxEventBytes = 1000 }, sse.ErrEventTooLarge, "data exceeds 1000 bytes"},
		{"HTML page", respond(200, "text/html", "<html><body>Login</body></html>"), func(*Client) {}, ErrBadContentType, `content type "text/html" is not text/event-stream`},
		{"stall", stallBeforeHeaders, func(c *Client) { c.ReadIdleTimeout = 50 * time.Millisecond; c.NoReconnect = true }, ErrIdleTimeout, "no data for 50ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.handler, tt.handler)
			c := s.client("/")
			tt.setup(c)
			_, err := collect(t, c)
			if err == nil {
				t.Fatal("Run = nil, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Run = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.HasPrefix(err.Error(), "client: ") {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestClient_RejectsRequestsThatCanNeverSucceed(t *testing.T) {
	for _, c := range []*Client{
		{URL: "example.com/events"},
		{URL: "ftp://example.com/"},
		{URL: "http://%zz"},
		{URL: "http://127.0.0.1:1/", Method: "GET /"},
		{URL: "http://127.0.0.1:1/", LastEventID: "a\nb"},
	} {
		var closed error
		c.OnStateChange = func(st State, err error) { closed = err }
		_, err := collect(t, c)
		if err == nil || closed != err || !strings.HasPrefix(err.Error(), "client: ") {
			t.Errorf("%+v: Run = %v (state error %v), want an error", c, err, closed)
		}
	}
}

func TestBackoffGrowsWithJitterUpToTheCap(t *testing.T) {
	tests := []struct {
		retry, max time.Duration
		n          int
		lo, hi     time.Duration
	}{
		{100 * time.Millisecond, time.Second, 1, 100 * time.Millisecond, 200 * time.Millisecond},
		{100 * time.Millisecond, time.Second, 2, 200 * time.Millisecond, 400 * time.Millisecond},
		{100 * time.Millisecond, time.Second, 3, 400 * time.Millisecond, 800 * time.Millisecond},
		{100 * time.Millisecond, time.Second, 10, 500 * time.Millisecond, time.Second},
		{100 * time.Millisecond, time.Second, 1000, 500 * time.Millisecond, time.Second},
		{0, time.Second, 1, 100 * time.Millisecond, 200 * time.Millisecond}, // retry: 0 still backs off
		{5 * time.Second, time.Second, 3, 5 * time.Second, 5 * time.Second}, // the server's retry wins over the cap
	}
	for _, tt := range tests {
		s := &stream{c: &Client{MaxBackoff: tt.max}, retry: tt.retry}
		for range 100 {
			if d := s.backoff(tt.n); d < tt.lo || d > tt.hi {
				t.Fatalf("backoff(%d) with retry %v, cap %v = %v, want within [%v, %v]", tt.n, tt.retry, tt.max, d, tt.lo, tt.hi)
			}
		}
	}
}

func TestState_String(t *testing.T) {
	for st, want := range map[State]string{Connecting: "connecting", Open: "open", Closed: "closed", 7: "State(7)"} {
		if got := st.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(st), got, want)
		}
	}
}

func TestFirstLine_KeepsTheFirstNonBlankLineWithin200Bytes(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		name, body, want string
	}{
		{"the first non-blank line, trimmed", "\n\n  not found  \nmore", "not found"},
		{"a long line is cut at 200 bytes", long, long[:200] + "…"},
		{"an invalid byte early does not shorten the cut", "err\xff" + long, "err\uFFFD" + long[:194] + "…"},
		{"the cut never splits a character", strings.Repeat("é", 150), strings.Repeat("é", 100) + "…"},
		{"nothing but blank lines", "\n \n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstLine(strings.NewReader(tt.body)); got != tt.want {
				t.Errorf("firstLine = %q, want %q", got, tt.want)
			}
		})
	}
}
