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

func TestStream_HTTP2StreamThatKeepsUpWritesEachUpdateAsSoonAsItIsPublished(t *testing.T) {
	var flushes atomic.Int64
	// A Coalesce longer than the test's 20 s context: a stream held or
	// paused for it after an update would fail the test, not just slow it.
	_, resp, publishData := h2Stream(t, mercure.Config{Coalesce: time.Minute}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(flushCounter{w, &flushes}, r) })
	}, nil)
	p := sse.NewParser(resp.Body)
	before := flushes.Load()
	for i := range 10 {
		publishData(fmt.Sprint(i))
		if ev, err := p.Next(); err != nil || ev.Data != fmt.Sprint(i) {
			t.Fatalf("got %+v, %v; want update %d", ev, err, i)
		}
	}
	if n := flushes.Load() - before; n != 10 {
		t.Fatalf("10 updates, each published after the previous one arrived, took %d flushes, want 10", n)
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

// BenchmarkStreamWriteHTTP2 is BenchmarkStreamWrite over HTTP/2: 100
// subscribers, each on a connection of its own (like distinct users), over
// TLS and over h2c, with the streams paced together (the default) and with
// every update written as it comes (Coalesce < 0). The subscribers run in
// this process, and their side of HTTP/2 and TLS costs about as much as the
// hub's: compare the figures with each other, and measure the hub's own
// CPU with ssehub bench -h2 -pid. Run it with a fixed count, e.g.
// -benchtime 500x.
func BenchmarkStreamWriteHTTP2(b *testing.B) {
	for _, c := range []struct {
		name     string
		tls      bool
		coalesce time.Duration
	}{{"TLS", true, 0}, {"TLSNoPause", true, -1}, {"H2C", false, 0}} {
		b.Run(c.name, func(b *testing.B) {
			s, err := mercure.New(mercure.Config{Anonymous: true, Coalesce: c.coalesce, Heartbeat: -1, QueueSize: 1 << 16})
			if err != nil {
				b.Fatal(err)
			}
			mux := http.NewServeMux()
			s.Register(mux)
			srv := httptest.NewUnstartedServer(mux)
			if c.tls {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				var protos http.Protocols
				protos.SetUnencryptedHTTP2(true)
				srv.Config.Protocols = &protos
				srv.Start()
			}
			b.Cleanup(func() {
				s.Close()
				srv.CloseClientConnections()
				srv.Close()
			})
			// A client that speaks HTTP/2 only: a stream over HTTP/1.1
			// fails the benchmark instead of measuring the wrong path.
			publishAhead(b, s, srv, func() *http.Client {
				var protos http.Protocols
				t := &http.Transport{Protocols: &protos}
				if c.tls {
					protos.SetHTTP2(true)
					t.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
				} else {
					protos.SetUnencryptedHTTP2(true)
				}
				return &http.Client{Transport: t}
			})
		})
	}
}
