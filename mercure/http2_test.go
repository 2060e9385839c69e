package mercure_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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

func TestStream_HTTP2UpdatesPublishedDuringTheCoalescePauseShareOneFlush(t *testing.T) {
	// The pause is long so that the 180 ms of publishing surely fall inside it.
	s, err := mercure.New(mercure.Config{Anonymous: true, Coalesce: 2 * time.Second, Heartbeat: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	s.Register(mux)
	var flushes atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(flushCounter{w, &flushes}, r)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/.well-known/mercure?topic=t", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("subscribed over %s, want HTTP/2", resp.Proto)
	}
	publish := func(i int) {
		if err := s.Hub().Publish(ctx, &hub.Update{Topics: []string{"t"}, Data: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
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
