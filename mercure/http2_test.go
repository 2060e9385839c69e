package mercure_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
)

// flushCounter counts the flushes of the stream it wraps.
type flushCounter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (f flushCounter) Flush() {
	f.n.Add(1)
	f.ResponseWriter.(http.Flusher).Flush()
}

func (f flushCounter) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// h2Stream starts a hub with cfg behind an HTTP/2 server, subscribes to
// topic t over HTTP/2 with client (nil: the server's own client) and
// returns the hub, the response and a function that publishes data to t.
func h2Stream(t *testing.T, cfg mercure.Config, wrap func(http.Handler) http.Handler, client *http.Client) (*mercure.Server, *http.Response, func(data string)) {
	t.Helper()
	cfg.Anonymous, cfg.Heartbeat = true, -1
	s, err := mercure.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewUnstartedServer(wrap(mux))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	if client == nil {
		client = srv.Client()
	} else {
		client.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/.well-known/mercure?topic=t", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.ProtoMajor != 2 {
		t.Fatalf("subscribed over %s, want HTTP/2", resp.Proto)
	}
	return s, resp, func(data string) {
		t.Helper()
		if err := s.Hub().Publish(ctx, &hub.Update{Topics: []string{"t"}, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStream_HTTP2UpdatesPublishedDuringTheCoalescePauseShareOneFlush(t *testing.T) {
	var flushes atomic.Int64
	// The pause is long so that the 180 ms of publishing surely fall inside it.
	_, resp, publishData := h2Stream(t, mercure.Config{Coalesce: 2 * time.Second}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(flushCounter{w, &flushes}, r) })
	}, nil)
	publish := func(i int) { publishData(fmt.Sprint(i)) }
	p := sse.NewParser(resp.Body)
	publish(0)
	if ev, err := p.Next(); err != nil || ev.Data != "0" {
		t.Fatalf("got %+v, %v; want update 0", ev, err)
	}
	before := flushes.Load()
	// Paced as a publisher at 50 updates/s: without the pause, the stream's
	// goroutine writes and flushes each update in the 20 ms before the next.
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	for i := 1; i <= 9; i++ {
		<-pace.C
		publish(i)
	}
	for i := 1; i <= 9; i++ {
		if ev, err := p.Next(); err != nil || ev.Data != fmt.Sprint(i) {
			t.Fatalf("got %+v, %v; want update %d", ev, err, i)
		}
	}
	if n := flushes.Load() - before; n != 1 {
		t.Fatalf("updates 1 to 9 took %d flushes, want 1", n)
	}
}

func noWrap(h http.Handler) http.Handler { return h }

func TestStream_HTTP2IdleStreamOutlivesTheWriteTimeout(t *testing.T) {
	// Long enough that a starved scheduler does not delay clearing the
	// deadline past it, short enough for a test.
	const timeout = 500 * time.Millisecond
	_, resp, publish := h2Stream(t, mercure.Config{WriteTimeout: timeout}, noWrap, nil)
	p := sse.NewParser(resp.Body)
	publish("before")
	if ev, err := p.Next(); err != nil || ev.Data != "before" {
		t.Fatalf("got %+v, %v; want the first update", ev, err)
	}
	// Idle for longer than any deadline set for that write could last: a
	// deadline left in place would have reset the stream.
	idle := time.NewTimer(4 * timeout)
	<-idle.C
	publish("after")
	if ev, err := p.Next(); err != nil || ev.Data != "after" {
		t.Fatalf("got %+v, %v after an idle time; want the second update", ev, err)
	}
}

func TestStream_HTTP2SubscriberThatStopsReadingIsDisconnectedAfterTheWriteTimeout(t *testing.T) {
	// A small receive window fills after a few updates; the queue is large,
	// so only the write deadline can end the stream.
	var protos http.Protocols
	protos.SetHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protos, HTTP2: &http.HTTP2Config{
		MaxReceiveBufferPerStream: 64 << 10, MaxReceiveBufferPerConnection: 64 << 10,
	}}}
	s, _, publish := h2Stream(t, mercure.Config{WriteTimeout: 200 * time.Millisecond, QueueSize: 1 << 16}, noWrap, client)
	data := strings.Repeat("x", 4<<10)
	for range 64 { // 256 KiB, four windows
		publish(data)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Hub().Stats().Subscribers != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a subscriber that stopped reading is still subscribed 10 s later")
		}
		time.Sleep(20 * time.Millisecond) // polling interval of a bounded wait
	}
	if n := s.Hub().Stats().SlowConsumers; n != 0 {
		t.Fatalf("%d slow consumers: the queue overflowed, the test did not reach the write deadline", n)
	}
}
