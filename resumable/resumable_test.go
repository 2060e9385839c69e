package resumable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/store/memory"
	"github.com/ssehub/ssehub/stream"
)

const wait = 10 * time.Second

// node is one hub with its Streams, as one ssehub process has.
type node struct {
	hub     *hub.Hub
	streams *Streams
}

func newNode(t *testing.T, st hub.Store) *node {
	t.Helper()
	return newNodeWith(t, st, Options{})
}

// newNodeWith is newNode with opts (its Stream options are the tests').
func newNodeWith(t *testing.T, st hub.Store, opts Options) *node {
	t.Helper()
	h, err := hub.New(hub.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	opts.Stream = stream.Options{Retry: 10 * time.Millisecond, Heartbeat: -1}
	s, err := New(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); h.Close() })
	return &node{hub: h, streams: s}
}

func newStore(t *testing.T) *memory.Store {
	st := memory.New(memory.Options{MaxUpdates: 1 << 20})
	t.Cleanup(func() { st.Close() })
	return st
}

// stepProducer sends one event each time the test sends on next, and ends
// (with the error sent, or nil) when the test closes next.
type stepProducer struct {
	next chan string
	fail error
	ids  chan string // each started stream's id
}

func newStepProducer() *stepProducer {
	return &stepProducer{next: make(chan string), ids: make(chan string, 10)}
}

func (p *stepProducer) produce(ctx context.Context, w *Writer) error {
	p.ids <- w.StreamID()
	for {
		select {
		case data, ok := <-p.next:
			if !ok {
				return p.fail
			}
			if err := w.Send(ctx, sse.Event{Data: data}); err != nil {
				return err
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

func (p *stepProducer) send(t *testing.T, data string) {
	t.Helper()
	select {
	case p.next <- data:
	case <-time.After(wait):
		t.Fatalf("producer did not take %q", data)
	}
}

// open requests the stream with lastEventID (none when empty).
func open(t *testing.T, url, lastEventID string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close(); cancel() })
	return resp
}

// events reads n events from resp, or all of them when n < 0.
func events(t *testing.T, p *sse.Parser, n int) []sse.Event {
	t.Helper()
	var out []sse.Event
	for n < 0 || len(out) < n {
		ev, err := p.Next()
		if errors.Is(err, io.EOF) && n < 0 {
			return out
		}
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		out = append(out, ev)
	}
	return out
}

func describe(evs []sse.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%s %s %q; ", ev.ID, ev.Type, ev.Data)
	}
	return b.String()
}

func TestStreams_ResumeAfterADropSendsOnlyWhatWasMissed(t *testing.T) {
	n := newNode(t, newStore(t))
	p := newStepProducer()
	srv := httptest.NewServer(n.streams.Handler(p.produce))
	t.Cleanup(srv.Close)

	first := open(t, srv.URL, "")
	id := <-p.ids
	parser := sse.NewParser(first.Body)
	for i := range 3 {
		p.send(t, fmt.Sprint("piece ", i))
	}
	got := events(t, parser, 3)
	first.Body.Close() // the connection drops; the producer goes on
	for i := 3; i < 6; i++ {
		p.send(t, fmt.Sprint("piece ", i))
	}
	second := open(t, srv.URL, got[2].ID)
	parser = sse.NewParser(second.Body)
	p.send(t, "piece 6")
	close(p.next)
	got = append(got, events(t, parser, -1)...)

	var want []string
	for i := range 7 {
		want = append(want, fmt.Sprintf("%s:%d message %q; ", id, i, fmt.Sprint("piece ", i)))
	}
	want = append(want, fmt.Sprintf("%s:end done %q; ", id, id))
	if describe(got) != strings.Join(want, "") {
		t.Fatalf("got  %s\nwant %s", describe(got), strings.Join(want, ""))
	}
	if resp := open(t, srv.URL, id+":end"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reconnecting after the end = %d, want 204", resp.StatusCode)
	}
}

func TestStreams_LastEventIDThatDoesNotFit(t *testing.T) {
	n := newNode(t, newStore(t))
	p := newStepProducer()
	// Streams started once the two below exist send "fresh" and end.
	var setUp atomic.Bool
	srv := httptest.NewServer(n.streams.Handler(func(ctx context.Context, w *Writer) error {
		if setUp.Load() {
			return w.Send(ctx, sse.Event{Data: "fresh"})
		}
		return p.produce(ctx, w)
	}))
	t.Cleanup(srv.Close)

	// A finished stream of two events, and one still running with one.
	resp := open(t, srv.URL, "")
	done := <-p.ids
	p.send(t, "a")
	p.send(t, "b")
	close(p.next)
	events(t, sse.NewParser(resp.Body), 3)
	p.next = make(chan string)
	resp = open(t, srv.URL, "")
	running := <-p.ids
	p.send(t, "c")
	events(t, sse.NewParser(resp.Body), 1)
	t.Cleanup(func() { close(p.next) })
	setUp.Store(true)

	tests := []struct {
		name, lastID string
		status       int
		firstID      string // "new" for a fresh stream's first event
	}{
		{"MalformedStartsANewStream", "not-an-id", 200, "new"},
		{"NonNumericPositionStartsANewStream", done + ":x", 200, "new"},
		{"TheEndOfAFinishedStreamIs204", done + ":end", 204, ""},
		{"PastTheEndOfAFinishedStreamIs204", done + ":99", 204, ""},
		{"PastTheEndOfARunningStreamReplaysFromItsStart", running + ":99", 200, running + ":0"},
		{"UnknownStreamIs204", "3f1d8e2a-0000-4000-8000-000000000000:4", 204, ""},
		{"InTheMiddleResumesAfterIt", done + ":0", 200, done + ":1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := open(t, srv.URL, tt.lastID)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if tt.firstID == "new" {
				ev := events(t, sse.NewParser(resp.Body), 1)[0]
				id, n, _ := strings.Cut(ev.ID, ":")
				if n != "0" || ev.Data != "fresh" || id == done || id == running {
					t.Fatalf("first event %s %q, want a new stream's first event", ev.ID, ev.Data)
				}
				return
			}
			if ev := events(t, sse.NewParser(resp.Body), 1)[0]; ev.ID != tt.firstID {
				t.Fatalf("first event %s, want %s", ev.ID, tt.firstID)
			}
		})
	}
}

func TestStreams_FailingProducerEndsWithAnErrorEvent(t *testing.T) {
	n := newNode(t, newStore(t))
	p := newStepProducer()
	p.fail = errors.New("the model is overloaded")
	srv := httptest.NewServer(n.streams.Handler(p.produce))
	t.Cleanup(srv.Close)
	resp := open(t, srv.URL, "")
	id := <-p.ids
	p.send(t, "partial answer")
	close(p.next)
	got := describe(events(t, sse.NewParser(resp.Body), -1))
	want := fmt.Sprintf("%s:0 message %q; %s:end error %q; ", id, "partial answer", id, "the model is overloaded")
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestStreams_PanickingProducerEndsWithAnErrorEvent(t *testing.T) {
	n := newNode(t, newStore(t))
	srv := httptest.NewServer(n.streams.Handler(func(ctx context.Context, w *Writer) error {
		panic("bug in the producer")
	}))
	t.Cleanup(srv.Close)
	evs := events(t, sse.NewParser(open(t, srv.URL, "").Body), -1)
	if len(evs) != 1 || evs[0].Type != "error" || !strings.Contains(evs[0].Data, "bug in the producer") {
		t.Fatalf("got %s", describe(evs))
	}
}

func TestStreams_CancelFromAnotherNodeStopsTheProducer(t *testing.T) {
	st := newStore(t)
	a, b := newNode(t, st), newNode(t, st)
	p := newStepProducer()
	srvA := httptest.NewServer(a.streams.Handler(p.produce))
	t.Cleanup(srvA.Close)
	srvB := httptest.NewServer(b.streams.Handler(p.produce))
	t.Cleanup(srvB.Close)

	resp := open(t, srvA.URL, "")
	id := <-p.ids
	p.send(t, "one")
	first := events(t, sse.NewParser(resp.Body), 1)
	resp.Body.Close()
	// The client comes back on node b, which also cancels the stream.
	resp = open(t, srvB.URL, first[0].ID)
	if err := b.streams.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	evs := events(t, sse.NewParser(resp.Body), -1)
	if len(evs) != 1 || evs[0].ID != id+":end" || evs[0].Type != "error" || evs[0].Data != ErrCanceled.Error() {
		t.Fatalf("after Cancel on the other node: %s", describe(evs))
	}
}

func TestStreams_CloseEndsRunningStreamsWithAnErrorEvent(t *testing.T) {
	n := newNode(t, newStore(t))
	p := newStepProducer()
	srv := httptest.NewServer(n.streams.Handler(p.produce))
	t.Cleanup(srv.Close)
	resp := open(t, srv.URL, "")
	<-p.ids
	n.streams.Close()
	evs := events(t, sse.NewParser(resp.Body), -1)
	if len(evs) != 1 || evs[0].Type != "error" || !strings.Contains(evs[0].Data, "shutting down") {
		t.Fatalf("got %s", describe(evs))
	}
	if got := n.streams.producersRunning(); got != 0 {
		t.Fatalf("%d producers still registered after Close", got)
	}
}
