package resumable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/store"
	"github.com/ssehub/ssehub/stream"
)

const wait = 10 * time.Second

// backend opens the durable store of two nodes: the same store for the
// single-process kinds, two connections to one namespace for Redis and
// NATS, so that what one node writes the other reads.
type backend struct {
	name string
	open func(t *testing.T) (a, b durable.Store)
}

func openURL(t *testing.T, u string) durable.Store {
	t.Helper()
	st, err := store.OpenStreams(context.Background(), u)
	if err != nil {
		t.Fatalf("opening %s: %v", u, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// backends are every store answers can live in.
func backends() []backend {
	return []backend{
		{"memory", func(t *testing.T) (durable.Store, durable.Store) {
			st := openURL(t, "memory://")
			return st, st
		}},
		{"bolt", func(t *testing.T) (durable.Store, durable.Store) {
			st := openURL(t, "bolt://"+filepath.Join(t.TempDir(), "answers.db"))
			return st, st
		}},
		{"redis", func(t *testing.T) (durable.Store, durable.Store) {
			addr := servertest.SharedRedis(t)
			prefix := servertest.Unique("resumable")
			t.Cleanup(func() {
				c := redis.NewClient(&redis.Options{Addr: addr})
				defer c.Close()
				if keys, _ := c.Keys(context.Background(), "{"+prefix+"}:*").Result(); len(keys) > 0 {
					c.Del(context.Background(), keys...)
				}
			})
			u := "redis://" + addr + "/0?key=" + prefix
			return openURL(t, u), openURL(t, u)
		}},
		{"nats", func(t *testing.T) (durable.Store, durable.Store) {
			addr := servertest.SharedNATS(t)
			name := servertest.Unique("RESUMABLE")
			servertest.DropStream(t, name)
			u := "nats://" + addr + "?stream=" + name
			return openURL(t, u), openURL(t, u)
		}},
	}
}

// node is one process's Streams on a durable store, serving produce.
type node struct {
	store   durable.Store
	streams *Streams
	url     string
}

func newNode(t *testing.T, st durable.Store, produce Producer) *node {
	t.Helper()
	return newNodeWith(t, st, Options{}, produce)
}

// newNodeWith is newNode with opts (its Stream options are the tests').
func newNodeWith(t *testing.T, st durable.Store, opts Options, produce Producer) *node {
	t.Helper()
	opts.Stream = stream.Options{Retry: 10 * time.Millisecond, Heartbeat: -1}
	s, err := New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler(produce))
	t.Cleanup(func() { srv.Close(); s.Close() })
	return &node{store: st, streams: s, url: srv.URL}
}

func memoryStore(t *testing.T) durable.Store { return openURL(t, "memory://") }

// stepProducer sends one event each time the test sends on next, and ends
// (with the error sent, or nil) when the test closes next.
type stepProducer struct {
	next chan string
	fail error
	ids  chan string // each started answer's id
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

func (p *stepProducer) started(t *testing.T) string {
	t.Helper()
	select {
	case id := <-p.ids:
		return id
	case <-time.After(wait):
		t.Fatal("no producer started")
		return ""
	}
}

// open requests the answer with lastEventID (none when empty).
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

// events reads n events from p, or all of them when n < 0.
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

func TestStreams_ResumeOnAnotherNodeAfterADropSendsOnlyWhatWasMissed(t *testing.T) {
	for _, tt := range backends() {
		t.Run(tt.name, func(t *testing.T) {
			sa, sb := tt.open(t)
			p := newStepProducer()
			a, b := newNode(t, sa, p.produce), newNode(t, sb, p.produce)

			first := open(t, a.url, "")
			id := p.started(t)
			parser := sse.NewParser(first.Body)
			for i := range 3 {
				p.send(t, fmt.Sprint("piece ", i))
			}
			got := events(t, parser, 3)
			first.Body.Close() // the connection drops; the producer goes on
			for i := 3; i < 6; i++ {
				p.send(t, fmt.Sprint("piece ", i))
			}
			second := open(t, b.url, got[2].ID)
			parser = sse.NewParser(second.Body)
			p.send(t, "piece 6")
			close(p.next)
			got = append(got, events(t, parser, -1)...)

			var want strings.Builder
			for i := range 7 {
				fmt.Fprintf(&want, "%s/%s message %q; ", id, durable.FormatOffset(uint64(i+1)), fmt.Sprint("piece ", i))
			}
			end := fmt.Sprintf("%s/%s", id, durable.FormatOffset(8))
			fmt.Fprintf(&want, "%s done %q; ", end, id)
			if describe(got) != want.String() {
				t.Fatalf("got  %s\nwant %s", describe(got), want.String())
			}
			for _, n := range []*node{a, b} {
				if resp := open(t, n.url, end); resp.StatusCode != http.StatusNoContent {
					t.Fatalf("reconnecting after the end = %d, want 204", resp.StatusCode)
				}
			}
		})
	}
}

func TestStreams_LastEventIDThatDoesNotFit(t *testing.T) {
	st := memoryStore(t)
	p := newStepProducer()
	// Answers started once the two below exist send "fresh" and end.
	var setUp atomic.Bool
	n := newNode(t, st, func(ctx context.Context, w *Writer) error {
		if setUp.Load() {
			return w.Send(ctx, sse.Event{Data: "fresh"})
		}
		return p.produce(ctx, w)
	})

	// A finished answer of two events (and the terminal one), and one
	// still running with one.
	resp := open(t, n.url, "")
	done := p.started(t)
	p.send(t, "a")
	p.send(t, "b")
	close(p.next)
	events(t, sse.NewParser(resp.Body), 3)
	p.next = make(chan string)
	resp = open(t, n.url, "")
	running := p.started(t)
	p.send(t, "c")
	events(t, sse.NewParser(resp.Body), 1)
	t.Cleanup(func() { close(p.next) })
	setUp.Store(true)

	at := func(id string, pos uint64) string { return eventID(id, pos) }
	tests := []struct {
		name, lastID string
		status       int
		firstID      string // "new" for a fresh answer's first event
	}{
		{"MalformedStartsANewAnswer", "not-an-id", 200, "new"},
		{"TheOldFormStartsANewAnswer", done + ":1", 200, "new"},
		{"AMalformedOffsetStartsANewAnswer", done + "/12", 200, "new"},
		{"TheNowOffsetStartsANewAnswer", done + "/now", 200, "new"},
		{"TheEndOfAFinishedAnswerIs204", at(done, 3), 204, ""},
		{"PastTheEndOfAFinishedAnswerIs204", at(done, 99), 204, ""},
		{"PastTheEndOfARunningAnswerReplaysFromItsStart", at(running, 99), 200, at(running, 1)},
		{"UnknownAnswerIs204", at("3f1d8e2a-0000-4000-8000-000000000000", 4), 204, ""},
		{"InTheMiddleResumesAfterIt", at(done, 1), 200, at(done, 2)},
		{"TheStartSentinelStartsANewAnswer", done + "/-1", 200, "new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := open(t, n.url, tt.lastID)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			ev := events(t, sse.NewParser(resp.Body), 1)[0]
			if tt.firstID == "new" {
				id, pos, ok := ParseEventID(ev.ID)
				if !ok || pos != 1 || ev.Data != "fresh" || id == done || id == running {
					t.Fatalf("first event %s %q, want a new answer's first event", ev.ID, ev.Data)
				}
				return
			}
			if ev.ID != tt.firstID {
				t.Fatalf("first event %s, want %s", ev.ID, tt.firstID)
			}
		})
	}
}

func TestStreams_AProducerThatFailsOrPanicsEndsItsAnswerWithAnErrorEvent(t *testing.T) {
	tests := []struct {
		name    string
		produce Producer
		want    string // the events after the answer's id, as describe has them
	}{
		{"AnError", func(ctx context.Context, w *Writer) error {
			if err := w.Send(ctx, sse.Event{Data: "partial answer"}); err != nil {
				return err
			}
			return errors.New("the model is overloaded")
		}, `/0000000000000000_0000000000000001 message "partial answer"; /0000000000000000_0000000000000002 error "the model is overloaded"; `},
		{"APanic", func(ctx context.Context, w *Writer) error {
			panic("bug in the producer")
		}, `/0000000000000000_0000000000000001 error "producer panicked: bug in the producer"; `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNode(t, memoryStore(t), tt.produce)
			evs := events(t, sse.NewParser(open(t, n.url, "").Body), -1)
			if len(evs) == 0 {
				t.Fatal("no events")
			}
			id, _, _ := ParseEventID(evs[0].ID)
			if got := strings.ReplaceAll(describe(evs), id, ""); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestStreams_CancelFromAnotherNodeStopsTheProducer(t *testing.T) {
	for _, tt := range backends() {
		t.Run(tt.name, func(t *testing.T) {
			sa, sb := tt.open(t)
			p := newStepProducer()
			a, b := newNode(t, sa, p.produce), newNode(t, sb, p.produce)

			resp := open(t, a.url, "")
			id := p.started(t)
			p.send(t, "one")
			first := events(t, sse.NewParser(resp.Body), 1)
			resp.Body.Close()
			// The client comes back on node b, which also cancels the answer.
			resp = open(t, b.url, first[0].ID)
			if err := b.streams.Cancel(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			evs := events(t, sse.NewParser(resp.Body), -1)
			if len(evs) != 1 || evs[0].ID != eventID(id, 2) || evs[0].Type != "error" || evs[0].Data != ErrCanceled.Error() {
				t.Fatalf("after Cancel on the other node: %s", describe(evs))
			}
			// The producer on node a notices without sending anything.
			deadline := time.Now().Add(wait)
			for a.streams.producersRunning() != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the producer on node a still runs after Cancel on node b")
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func TestStreams_CloseEndsRunningAnswersWithAnErrorEvent(t *testing.T) {
	p := newStepProducer()
	n := newNode(t, memoryStore(t), p.produce)
	resp := open(t, n.url, "")
	p.started(t)
	n.streams.Close()
	evs := events(t, sse.NewParser(resp.Body), -1)
	if len(evs) != 1 || evs[0].Type != "error" || !strings.Contains(evs[0].Data, "shutting down") {
		t.Fatalf("got %s", describe(evs))
	}
	if got := n.streams.producersRunning(); got != 0 {
		t.Fatalf("%d producers still registered after Close", got)
	}
}

func TestStreams_AnAnswerExpiresItsTTLAfterItsLastUse(t *testing.T) {
	st := memoryStore(t)
	n := newNodeWith(t, st, Options{TTL: time.Minute}, func(ctx context.Context, w *Writer) error {
		return w.Send(ctx, sse.Event{Data: "short"})
	})
	evs := events(t, sse.NewParser(open(t, n.url, "").Body), -1)
	id, _, _ := ParseEventID(evs[0].ID)
	info, err := st.Stat(context.Background(), n.streams.Name(id))
	if err != nil {
		t.Fatal(err)
	}
	if info.TTL != time.Minute || info.ContentType != ContentType || !info.Closed {
		t.Fatalf("the answer's stream is %+v; want closed, %s, with a one-minute TTL", info, ContentType)
	}
	later := time.Now().Add(time.Minute + time.Second)
	if _, err := st.Read(context.Background(), n.streams.Name(id), durable.ReadRequest{Now: later}); !errors.Is(err, durable.ErrNotFound) {
		t.Fatalf("a TTL after its last use, reading the answer: %v, want ErrNotFound", err)
	}
	if resp := open(t, n.url, evs[0].ID); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("resuming an expired answer: %d, want 204", resp.StatusCode)
	}
}

func TestStreams_AnswersListsTheStartedAnswersNewestFirst(t *testing.T) {
	p := newStepProducer()
	n := newNode(t, memoryStore(t), p.produce)
	resp := open(t, n.url, "")
	finished := p.started(t)
	p.send(t, "a")
	close(p.next)
	events(t, sse.NewParser(resp.Body), -1)
	p.next = make(chan string)
	t.Cleanup(func() { close(p.next) })
	resp = open(t, n.url, "")
	running := p.started(t)
	p.send(t, "b")
	events(t, sse.NewParser(resp.Body), 1)

	list, err := n.streams.Answers(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID        string
		Events    int
		Closed    bool
		End       string
		Followers int
	}
	var got []row
	for _, a := range list {
		got = append(got, row{a.ID, a.Events, a.Closed, a.End, a.Followers})
		if a.Name != DefaultPrefix+a.ID || a.Started.IsZero() || a.Used.Before(a.Started) {
			t.Fatalf("answer %+v: name or times wrong", a)
		}
	}
	want := []row{{running, 1, false, "", 1}, {finished, 2, true, "done", 0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("answers %+v, want %+v", got, want)
	}
	if one, _ := n.streams.Answers(context.Background(), 1); len(one) != 1 || one[0].ID != running {
		t.Fatalf("Answers(1) = %+v, want the newest only", one)
	}
}

func FuzzParseEventID(f *testing.F) {
	for _, s := range []string{"", "x", "3f1d8e2a-0000-4000-8000-000000000000/0000000000000000_0000000000000004",
		"3f1d8e2a-0000-4000-8000-000000000000/-1", "3f1d8e2a-0000-4000-8000-000000000000:4", "a/b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, pos, ok := ParseEventID(s)
		if !ok {
			return
		}
		if back := eventID(id, pos); back != s {
			t.Fatalf("ParseEventID(%q) = %q, %d; formatted again %q", s, id, pos, back)
		}
	})
}
