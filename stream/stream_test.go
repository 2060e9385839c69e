package stream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

const wait = 10 * time.Second // bound on every wait; never reached when the code works

// serve starts a loopback server whose handler opens a Stream with opts and
// hands it to the test through the returned channel. The handler returns
// when the stream ends.
func serve(t *testing.T, opts *Options) (*httptest.Server, <-chan *Stream) {
	t.Helper()
	streams := make(chan *Stream, 1)
	srv := httptest.NewServer(streamHandler(t, opts, streams))
	t.Cleanup(srv.Close)
	return srv, streams
}

// streamHandler opens a Stream per request, sends it on streams and
// returns when the stream ends.
func streamHandler(t *testing.T, opts *Options, streams chan<- *Stream) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := New(w, r, opts)
		if err != nil {
			t.Errorf("New: %v", err)
			return
		}
		streams <- s
		_ = s.Wait()
	}
}

func get(t *testing.T, url string) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return resp, cancel
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestStream_SetsEventStreamHeaders(t *testing.T) {
	srv, streams := serve(t, nil)
	resp, _ := get(t, srv.URL)
	s := recv(t, streams, "stream")
	defer s.Complete()
	want := map[string]string{
		"Content-Type":      "text/event-stream; charset=utf-8",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestStream_EventsArriveBeforeTheStreamEnds(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		t.Run(proto, func(t *testing.T) {
			streams := make(chan *Stream, 1)
			srv := httptest.NewUnstartedServer(streamHandler(t, nil, streams))
			srv.EnableHTTP2 = proto == "HTTP/2.0"
			srv.StartTLS()
			defer srv.Close()
			client := srv.Client()
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Proto != proto {
				t.Fatalf("served over %s, want %s", resp.Proto, proto)
			}
			s := recv(t, streams, "stream")
			defer s.Complete()
			p := sse.NewParser(resp.Body)
			for i := range 3 {
				if err := s.Send(sse.Event{ID: fmt.Sprint(i), Data: "piece"}); err != nil {
					t.Fatal(err)
				}
				got := make(chan sse.Event, 1)
				go func() { ev, _ := p.Next(); got <- ev }()
				if ev := recv(t, got, "event while stream open"); ev.ID != fmt.Sprint(i) {
					t.Fatalf("got event %q, want id %d", ev, i)
				}
			}
		})
	}
}

func TestStream_SendJSONSendsMessageEvent(t *testing.T) {
	srv, streams := serve(t, nil)
	resp, _ := get(t, srv.URL)
	s := recv(t, streams, "stream")
	if err := s.SendJSON(map[string]any{"content": "故人", "n": 1}); err != nil {
		t.Fatal(err)
	}
	s.Complete()
	evs := readAll(t, resp.Body)
	if len(evs) != 1 || evs[0].Type != "message" || evs[0].Data != `{"content":"故人","n":1}` {
		t.Fatalf("got %q", evs)
	}
	if err := s.SendJSON(func() {}); err == nil {
		t.Fatal("SendJSON of a func succeeded")
	}
}

func readAll(t *testing.T, r io.Reader) []sse.Event {
	t.Helper()
	var evs []sse.Event
	for ev, err := range sse.Read(r) {
		if err != nil {
			t.Fatalf("reading stream: %v", err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// hooks records which hooks ran, in order.
type hooks struct {
	mu    sync.Mutex
	calls []string
	err   error
	done  chan struct{}
}

func newHooks(o *Options) *hooks {
	h := &hooks{done: make(chan struct{})}
	o.OnTimeout = func() { h.add("timeout") }
	o.OnError = func(err error) { h.mu.Lock(); h.err = err; h.mu.Unlock(); h.add("error") }
	o.OnComplete = func() { h.add("complete"); close(h.done) }
	return h
}

func (h *hooks) add(s string) { h.mu.Lock(); h.calls = append(h.calls, s); h.mu.Unlock() }

func (h *hooks) wait(t *testing.T) []string {
	t.Helper()
	recv(t, h.done, "OnComplete")
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

func TestStream_EndReasonsRunTheirHooks(t *testing.T) {
	boom := errors.New("the model failed")
	tests := []struct {
		name      string
		opts      Options
		act       func(s *Stream, cancelClient context.CancelFunc)
		wantHooks string
		wantErr   error
		wantLast  *sse.Event // the last event the client saw, if any
	}{
		{"Complete", Options{}, func(s *Stream, _ context.CancelFunc) { s.Complete() }, "complete", nil, nil},
		{"CompleteWithError", Options{}, func(s *Stream, _ context.CancelFunc) { s.CompleteWithError(boom) },
			"error,complete", boom, &sse.Event{Type: "error", Data: "the model failed"}},
		{"CustomErrorEvent", Options{ErrorEvent: func(error) sse.Event { return sse.Event{Type: "failed", Data: "sorry"} }},
			func(s *Stream, _ context.CancelFunc) { s.CompleteWithError(boom) },
			"error,complete", boom, &sse.Event{Type: "failed", Data: "sorry"}},
		{"Timeout", Options{Timeout: 50 * time.Millisecond}, func(*Stream, context.CancelFunc) {}, "timeout,complete", ErrTimeout, nil},
		{"ClientGoesAway", Options{}, func(_ *Stream, cancel context.CancelFunc) { cancel() }, "error,complete", ErrDisconnected, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			h := newHooks(&opts)
			srv, streams := serve(t, &opts)
			resp, cancel := get(t, srv.URL)
			s := recv(t, streams, "stream")
			tt.act(s, cancel)
			if got := strings.Join(h.wait(t), ","); got != tt.wantHooks {
				t.Fatalf("hooks ran %q, want %q", got, tt.wantHooks)
			}
			recv(t, s.Done(), "Done")
			if err := s.Err(); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Err() = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && !errors.Is(h.err, tt.wantErr) && !errors.Is(tt.wantErr, ErrTimeout) {
				t.Fatalf("OnError got %v, want %v", h.err, tt.wantErr)
			}
			if ctxErr := context.Cause(s.Context()); ctxErr == nil {
				t.Fatal("stream context not cancelled after the end")
			}
			if err := s.Send(sse.Event{Data: "late"}); !errors.Is(err, ErrClosed) {
				t.Fatalf("Send after end = %v, want ErrClosed", err)
			}
			if tt.wantLast != nil {
				evs := readAll(t, resp.Body)
				if len(evs) == 0 || evs[len(evs)-1].Type != tt.wantLast.Type || evs[len(evs)-1].Data != tt.wantLast.Data {
					t.Fatalf("client saw %q, want last event %q", evs, *tt.wantLast)
				}
			}
		})
	}
}

func TestStream_ClientDisconnectStopsTheProducer(t *testing.T) {
	produced := make(chan int, 1)
	srv := httptest.NewServer(Handler(nil, func(ctx context.Context, s *Stream) error {
		n := 0
		for {
			select {
			case <-ctx.Done():
				produced <- n
				return ctx.Err()
			default:
			}
			if err := s.Send(sse.Event{Data: "x"}); err != nil {
				produced <- n
				return err
			}
			n++
		}
	}))
	defer srv.Close()
	resp, cancel := get(t, srv.URL)
	if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	cancel()
	recv(t, produced, "the producer to stop")
}

func TestStream_HeartbeatCommentsAreSent(t *testing.T) {
	srv, streams := serve(t, &Options{Heartbeat: 20 * time.Millisecond})
	resp, _ := get(t, srv.URL)
	s := recv(t, streams, "stream")
	defer s.Complete()
	br := bufio.NewReader(resp.Body)
	for range 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line != ": heartbeat\n" {
			t.Fatalf("got line %q, want a heartbeat comment", line)
		}
		if blank, _ := br.ReadString('\n'); blank != "\n" {
			t.Fatalf("heartbeat not followed by a blank line: %q", blank)
		}
	}
}

func TestStream_RetryIsSentFirst(t *testing.T) {
	srv, streams := serve(t, &Options{Retry: 2500 * time.Millisecond, Heartbeat: -1})
	resp, _ := get(t, srv.URL)
	s := recv(t, streams, "stream")
	s.Complete()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "retry: 2500\n\n" {
		t.Fatalf("body %q, want the retry hint", b)
	}
}

func TestStream_ConcurrentSendsNeverInterleave(t *testing.T) {
	srv, streams := serve(t, &Options{Heartbeat: time.Millisecond})
	resp, _ := get(t, srv.URL)
	s := recv(t, streams, "stream")
	const senders, each = 8, 200
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Multi-line data makes interleaving visible as a torn event.
				data := strings.Repeat(fmt.Sprintf("sender %d event %d\n", g, i), 20)
				if err := s.Send(sse.Event{ID: fmt.Sprintf("%d-%d", g, i), Type: fmt.Sprintf("g%d", g), Data: data}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); s.Complete() }()
	evs := readAll(t, resp.Body)
	if len(evs) != senders*each {
		t.Fatalf("got %d events, want %d", len(evs), senders*each)
	}
	next := make([]int, senders)
	for _, ev := range evs {
		var g, i int
		if _, err := fmt.Sscanf(ev.ID, "%d-%d", &g, &i); err != nil {
			t.Fatalf("bad id %q", ev.ID)
		}
		want := strings.Repeat(fmt.Sprintf("sender %d event %d\n", g, i), 20)
		if ev.Type != fmt.Sprintf("g%d", g) || ev.Data != want {
			t.Fatalf("event %s torn: type %q data %q", ev.ID, ev.Type, ev.Data)
		}
		if i != next[g] {
			t.Fatalf("sender %d: event %d arrived, want %d", g, i, next[g])
		}
		next[g]++
	}
}

func TestStream_InvalidEventIsRefusedAndStreamGoesOn(t *testing.T) {
	srv, streams := serve(t, nil)
	resp, _ := get(t, srv.URL)
	s := recv(t, streams, "stream")
	if err := s.Send(sse.Event{ID: "1\ndata: injected", Data: "x"}); !errors.Is(err, sse.ErrInvalidEvent) {
		t.Fatalf("Send = %v, want ErrInvalidEvent", err)
	}
	if err := s.Send(sse.Event{Data: "ok"}); err != nil {
		t.Fatal(err)
	}
	s.Complete()
	evs := readAll(t, resp.Body)
	if len(evs) != 1 || evs[0].Data != "ok" || evs[0].ID != "" {
		t.Fatalf("got %q", evs)
	}
}

func TestStream_StuckClientEndsTheStreamAtTheWriteDeadline(t *testing.T) {
	srv, streams := serve(t, &Options{WriteTimeout: 100 * time.Millisecond, Heartbeat: -1})
	// A raw connection that reads the response headers and then nothing.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	s := recv(t, streams, "stream")
	big := sse.Event{Data: strings.Repeat("x", 64<<10)}
	result := make(chan error, 1)
	go func() {
		for range 20000 { // at most 1.3 GB: far beyond any socket buffer
			if err := s.Send(big); err != nil {
				result <- err
				return
			}
		}
		result <- nil
	}()
	if err := recv(t, result, "a send to fail"); err == nil || errors.Is(err, ErrClosed) {
		t.Fatalf("sends to a client that stopped reading ended with %v", err)
	}
	recv(t, s.Done(), "the stream to end")
	if s.Err() == nil {
		t.Fatal("stream ended without a reason")
	}
}

func TestHandler_CompletesWhenProducerReturns(t *testing.T) {
	srv := httptest.NewServer(Handler(nil, func(ctx context.Context, s *Stream) error {
		return s.Send(sse.Event{Type: "ping", Data: "ping"})
	}))
	defer srv.Close()
	resp, _ := get(t, srv.URL)
	evs := readAll(t, resp.Body)
	if len(evs) != 1 || evs[0].Type != "ping" {
		t.Fatalf("got %q", evs)
	}
}

func TestHandler_ProducerErrorBecomesErrorEvent(t *testing.T) {
	srv := httptest.NewServer(Handler(nil, func(ctx context.Context, s *Stream) error {
		return errors.New("upstream unavailable")
	}))
	defer srv.Close()
	resp, _ := get(t, srv.URL)
	evs := readAll(t, resp.Body)
	if len(evs) != 1 || evs[0].Type != "error" || evs[0].Data != "upstream unavailable" {
		t.Fatalf("got %q", evs)
	}
}

func TestStream_SendEncodedWritesTheBytesAsTheyAre(t *testing.T) {
	srv, streams := serve(t, &Options{Heartbeat: -1})
	resp, _ := get(t, srv.URL)
	s := recv(t, streams, "stream")
	ev := sse.Event{ID: "7", Type: "note", Data: "a\nb"}
	b, _ := ev.AppendTo(nil)
	if err := s.SendEncoded(append(b, b...)); err != nil {
		t.Fatal(err)
	}
	s.Complete()
	if err := s.SendEncoded(b); !errors.Is(err, ErrClosed) {
		t.Fatalf("SendEncoded after the end = %v, want ErrClosed", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != string(b)+string(b) {
		t.Fatalf("body %q", body)
	}
}
