package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// outcome is what one run of a conformance rule observed.
type outcome struct {
	evs       []sse.Event
	err       error
	reqs      []request
	states    []string
	comments  []string
	restarted time.Time // when the client was asked to restart
}

// hangUp closes the connection without answering: a network error.
func hangUp(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestClient_FollowsTheWHATWGProcessingModel checks the client, with its
// defaults, against the rules of the WHATWG HTML standard, "Server-sent
// events" (§9.2: the EventSource interface, processing model, parsing an
// event stream, interpreting an event stream), and against what well-known
// client libraries promise beyond it. The parser's own rules are in
// sse.TestParser_Rules; here they are checked through HTTP.
func TestClient_FollowsTheWHATWGProcessingModel(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name  string
		steps []http.HandlerFunc
		setup func(*Client)
		// restartOn, when set, asks for a restart when the event with this
		// data arrives: by returning ErrRestart, or through Client.Restart
		// when viaChannel.
		restartOn  string
		viaChannel bool
		check      func(t *testing.T, o outcome)
	}{
		{
			name:  "The request's Accept header is text/event-stream and its cache mode is no-store",
			steps: []http.HandlerFunc{sends("data: a\n\n")},
			check: func(t *testing.T, o outcome) {
				h := o.reqs[0].header
				if h.Get("Accept") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" {
					t.Errorf("Accept %q, Cache-Control %q", h.Get("Accept"), h.Get("Cache-Control"))
				}
			},
		},
		{
			name:  "No Last-Event-ID is sent while the last event ID string is empty",
			steps: []http.HandlerFunc{sends("data: a\n\n")},
			check: func(t *testing.T, o outcome) {
				if _, ok := o.reqs[1].header["Last-Event-Id"]; ok {
					t.Errorf("Last-Event-ID sent: %q", o.reqs[1].header.Get("Last-Event-ID"))
				}
			},
		},
		{
			name:  "If res's status is not 200 the connection fails and is not reestablished",
			steps: []http.HandlerFunc{respond(404, "text/event-stream", "data: a\n\n")},
			check: func(t *testing.T, o outcome) {
				if !errors.Is(o.err, ErrBadStatus) || len(o.reqs) != 1 || len(o.evs) != 0 {
					t.Errorf("Run = %v after %d requests and %d events; want ErrBadStatus after 1 request", o.err, len(o.reqs), len(o.evs))
				}
			},
		},
		{
			name:  "A 500 status fails the connection too, unless RetryServerErrors is set",
			steps: []http.HandlerFunc{respond(500, "text/event-stream", "")},
			check: func(t *testing.T, o outcome) {
				if !errors.Is(o.err, ErrBadStatus) || len(o.reqs) != 1 {
					t.Errorf("Run = %v after %d requests", o.err, len(o.reqs))
				}
			},
		},
		{
			name:  "If res's Content-Type is not text/event-stream the connection fails",
			steps: []http.HandlerFunc{respond(200, "text/plain", "data: a\n\n")},
			check: func(t *testing.T, o outcome) {
				if !errors.Is(o.err, ErrBadContentType) || len(o.reqs) != 1 || len(o.evs) != 0 {
					t.Errorf("Run = %v after %d requests and %d events", o.err, len(o.reqs), len(o.evs))
				}
			},
		},
		{
			name: "A 200 response without a Content-Type fails the connection",
			steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil // no sniffing
				w.Write([]byte("data: a\n\n"))
			}},
			check: func(t *testing.T, o outcome) {
				if !errors.Is(o.err, ErrBadContentType) {
					t.Errorf("Run = %v", o.err)
				}
			},
		},
		{
			name:  "A Content-Type of text/event-stream with parameters announces the connection",
			steps: []http.HandlerFunc{respond(200, "text/event-stream;charset=UTF-8", "data: a\n\n")},
			check: func(t *testing.T, o outcome) {
				if o.err != nil || eventsString(o.evs) != "message//a;" {
					t.Errorf("Run = %v with %q", o.err, eventsString(o.evs))
				}
			},
		},
		{
			name:  "A 204 No Content response is not reestablished (and ends Run cleanly)",
			steps: []http.HandlerFunc{respond(204, "", "")},
			check: func(t *testing.T, o outcome) {
				if o.err != nil || len(o.reqs) != 1 {
					t.Errorf("Run = %v after %d requests, want nil after 1", o.err, len(o.reqs))
				}
			},
		},
		{
			name: "Redirects are followed, and reestablishing the connection fetches the original request's URL",
			steps: []http.HandlerFunc{
				func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "/moved", http.StatusMovedPermanently)
				},
				sends("id: 1\ndata: a\n\n"),
			},
			check: func(t *testing.T, o outcome) {
				var paths []string
				for _, r := range o.reqs {
					paths = append(paths, r.path+"#"+r.header.Get("Last-Event-ID"))
				}
				if got := strings.Join(paths, " "); got != "/events# /moved# /events#1" {
					t.Errorf("requests %s, want /events# /moved# /events#1", got)
				}
			},
		},
		{
			name:  "If res is a network error the connection is reestablished",
			steps: []http.HandlerFunc{hangUp, hangUp, sends("data: a\n\n")},
			check: func(t *testing.T, o outcome) {
				if o.err != nil || eventsString(o.evs) != "message//a;" {
					t.Errorf("Run = %v with %q after %d requests", o.err, eventsString(o.evs), len(o.reqs))
				}
			},
		},
		{
			name:  "A leading U+FEFF BOM is skipped and every line ending is accepted",
			steps: []http.HandlerFunc{sends("\xEF\xBB\xBFdata: crlf\r\n\r\ndata: lf\n\ndata: cr\r\r")},
			check: func(t *testing.T, o outcome) {
				if got := eventsString(o.evs); got != "message//crlf;message//lf;message//cr;" {
					t.Errorf("events %q", got)
				}
			},
		},
		{
			name:  "When the end of the stream is reached the pending event is discarded and the connection reestablished",
			steps: []http.HandlerFunc{sends("data: a\n\ndata: pending\n"), sends("data: b\n\n")},
			check: func(t *testing.T, o outcome) {
				if got := eventsString(o.evs); got != "message//a;message//b;" || len(o.reqs) != 3 {
					t.Errorf("events %q after %d requests", got, len(o.reqs))
				}
			},
		},
		{
			name:  "After a cut mid-event Last-Event-ID is the id of the last event dispatched, not the cut one's",
			steps: []http.HandlerFunc{cut("id: 1\ndata: a\n\nid: 2\ndata: cut"), sends("data: b\n\n")},
			check: func(t *testing.T, o outcome) {
				if got := o.reqs[1].header.Get("Last-Event-ID"); got != "1" {
					t.Errorf("Last-Event-ID %q, want 1", got)
				}
				if got := eventsString(o.evs); got != "message/1/a;message/1/b;" {
					t.Errorf("events %q", got)
				}
			},
		},
		{
			name:  "An id field in a block without data sets the last event ID string at the blank line",
			steps: []http.HandlerFunc{sends("id: 1\ndata: a\n\nid: 9\n\n")},
			check: func(t *testing.T, o outcome) {
				if got := o.reqs[1].header.Get("Last-Event-ID"); got != "9" {
					t.Errorf("Last-Event-ID %q, want 9", got)
				}
			},
		},
		{
			name:  "An empty id field resets the last event ID and no Last-Event-ID is sent",
			steps: []http.HandlerFunc{sends("id: 1\ndata: a\n\nid\ndata: b\n\n")},
			check: func(t *testing.T, o outcome) {
				if _, ok := o.reqs[1].header["Last-Event-Id"]; ok || eventsString(o.evs) != "message/1/a;message//b;" {
					t.Errorf("Last-Event-ID %q, events %q", o.reqs[1].header.Get("Last-Event-ID"), eventsString(o.evs))
				}
			},
		},
		{
			name:  "An id field containing U+0000 is ignored",
			steps: []http.HandlerFunc{sends("id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n")},
			check: func(t *testing.T, o outcome) {
				if got := o.reqs[1].header.Get("Last-Event-ID"); got != "1" || eventsString(o.evs) != "message/1/a;message/1/b;" {
					t.Errorf("Last-Event-ID %q, events %q", got, eventsString(o.evs))
				}
			},
		},
		{
			name:  "Events after a reconnection carry the last event ID until a new id field",
			steps: []http.HandlerFunc{sends("id: 4\ndata: a\n\n"), sends("data: b\n\nid: 5\ndata: c\n\n")},
			check: func(t *testing.T, o outcome) {
				if got := eventsString(o.evs); got != "message/4/a;message/4/b;message/5/c;" {
					t.Errorf("events %q", got)
				}
			},
		},
		{
			name:  "A retry field of ASCII digits sets the reconnection time, which is waited before reconnecting",
			steps: []http.HandlerFunc{sends("retry: 300\ndata: a\n\n")},
			check: func(t *testing.T, o outcome) {
				if g := gap(o.reqs, 1); g < 300*time.Millisecond {
					t.Errorf("reconnected after %v, want at least 300ms", g)
				}
			},
		},
		{
			name:  "The reconnection time set by one connection holds for the next ones",
			steps: []http.HandlerFunc{sends("retry: 200\n\n"), sends("data: a\n\n")},
			check: func(t *testing.T, o outcome) {
				if g := gap(o.reqs, 2); g < 200*time.Millisecond {
					t.Errorf("second reconnection after %v, want at least 200ms", g)
				}
			},
		},
		{
			name:  "A retry field with anything but ASCII digits is ignored",
			steps: []http.HandlerFunc{sends("retry: 5000ms\ndata: a\n\n"), sends("retry: 1e4\ndata: b\n\n")},
			check: func(t *testing.T, o outcome) {
				// With either value honoured, the test would wait seconds.
				if g := gap(o.reqs, 2); g > 3*time.Second {
					t.Errorf("reconnected after %v: an invalid retry was honoured", g)
				}
			},
		},
		{
			name:  "A block without data is not dispatched and the event type buffer is reset",
			steps: []http.HandlerFunc{sends("event: x\n\ndata: a\n\n")},
			check: func(t *testing.T, o outcome) {
				if got := eventsString(o.evs); got != "message//a;" {
					t.Errorf("events %q", got)
				}
			},
		},
		{
			name:  "Comment lines are not events, and reach OnComment in order, even between fields and after a BOM",
			steps: []http.HandlerFunc{sends("\xEF\xBB\xBF: first\nevent: x\n: mid\ndata: a\n\n")},
			setup: func(c *Client) { c.OnComment = func(string) {} }, // replaced by the runner to record
			check: func(t *testing.T, o outcome) {
				if got := strings.Join(o.comments, "|"); got != "first|mid" || eventsString(o.evs) != "x//a;" {
					t.Errorf("comments %q, events %q", got, eventsString(o.evs))
				}
			},
		},
		{
			name:  "A 5 MiB and a 10 MiB single-line data field are delivered under the default limits",
			steps: []http.HandlerFunc{sends("data: " + strings.Repeat("a", 5*mib) + "\n\ndata: " + strings.Repeat("b", 10*mib) + "\n\n")},
			check: func(t *testing.T, o outcome) {
				if o.err != nil || len(o.evs) != 2 || len(o.evs[0].Data) != 5*mib || len(o.evs[1].Data) != 10*mib {
					t.Errorf("Run = %v with %d events", o.err, len(o.evs))
				}
			},
		},
		{
			name:  "A read idle timeout, when set, drops a stalled connection and reestablishes it with Last-Event-ID",
			steps: []http.HandlerFunc{stallAfter("id: 3\ndata: a\n\n"), sends("data: b\n\n")},
			setup: func(c *Client) { c.ReadIdleTimeout = time.Second }, // long enough for the headers of a loaded machine
			check: func(t *testing.T, o outcome) {
				if o.err != nil || o.reqs[1].header.Get("Last-Event-ID") != "3" || eventsString(o.evs) != "message/3/a;message/3/b;" {
					t.Errorf("Run = %v, Last-Event-ID %q, events %q", o.err, o.reqs[1].header.Get("Last-Event-ID"), eventsString(o.evs))
				}
			},
		},
		{
			name:      "ErrRestart from the callback reconnects as after a network error, keeping Last-Event-ID and the retry value",
			steps:     []http.HandlerFunc{stallAfter("retry: 150\nid: 5\ndata: a\n\nid: 6\ndata: cut"), sends("data: b\n\n")},
			restartOn: "a",
			check:     checkRestart,
		},
		{
			name:       "A value on Restart reconnects as after a network error, keeping Last-Event-ID and the retry value",
			steps:      []http.HandlerFunc{stallAfter("retry: 150\nid: 5\ndata: a\n\nid: 6\ndata: cut"), sends("data: b\n\n")},
			restartOn:  "a",
			viaChannel: true,
			check:      checkRestart,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.steps...)
			c := s.client("/events")
			var o outcome
			if tt.setup != nil {
				tt.setup(c)
			}
			if c.OnComment != nil {
				c.OnComment = func(text string) { o.comments = append(o.comments, text) }
			}
			c.OnStateChange = func(st State, err error) {
				line := st.String()
				if err != nil {
					line += ": " + err.Error()
				}
				o.states = append(o.states, line)
			}
			restart := make(chan struct{}, 1)
			if tt.viaChannel {
				c.Restart = restart
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			o.err = c.Run(ctx, func(ev sse.Event) error {
				o.evs = append(o.evs, ev)
				if tt.restartOn != "" && ev.Data == tt.restartOn && o.restarted.IsZero() {
					o.restarted = time.Now()
					if !tt.viaChannel {
						return ErrRestart
					}
					restart <- struct{}{}
				}
				return nil
			})
			if ctx.Err() != nil {
				t.Fatalf("Run did not return in 20 s (events %q)", eventsString(o.evs))
			}
			o.reqs = s.requests()
			tt.check(t, o)
		})
	}
}

// checkRestart checks a restart asked for when event "a" (id 5, retry 150
// ms) arrived, before an event with id 6 was cut off by the restart.
func checkRestart(t *testing.T, o outcome) {
	t.Helper()
	if o.err != nil || eventsString(o.evs) != "message/5/a;message/5/b;" {
		t.Fatalf("Run = %v with %q", o.err, eventsString(o.evs))
	}
	if len(o.reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(o.reqs))
	}
	if got := o.reqs[1].header.Get("Last-Event-ID"); got != "5" {
		t.Errorf("Last-Event-ID after the restart %q, want 5", got)
	}
	if g := o.reqs[1].at.Sub(o.restarted); g < 150*time.Millisecond {
		t.Errorf("reconnected %v after the restart, want the server's retry of 150ms", g)
	}
	restarts := 0
	for _, st := range o.states {
		if strings.HasPrefix(st, "connecting: ") && strings.HasSuffix(st, ErrRestart.Error()) {
			restarts++
		}
	}
	if restarts != 1 {
		t.Errorf("OnStateChange reported %d restarts, want 1: %q", restarts, o.states)
	}
}
