package resumable

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/client"
	"github.com/ssehub/ssehub/internal/flakynet"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/store/memory"
)

// flakyClient returns a client whose connections break at a random place
// between 300 and 1,800 bytes.
func flakyClient(rnd *rand.Rand, mu *sync.Mutex) *http.Client {
	return &http.Client{Transport: flakynet.Transport(func() int {
		mu.Lock()
		defer mu.Unlock()
		return 300 + rnd.IntN(1500)
	})}
}

// TestStreams_ManyConcurrentStreamsSurviveRandomDisconnects runs 1,000
// streams at once, each read by the Go client over connections that break
// at random: every stream must arrive whole, in order, exactly once; and
// once the streams are older than the store's age limit, nothing of them is
// left in memory.
func TestStreams_ManyConcurrentStreamsSurviveRandomDisconnects(t *testing.T) {
	const streams, pieces = 1000, 20
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	const keep = time.Hour
	st := memory.New(memory.Options{MaxUpdates: 1 << 20, MaxAge: keep, Now: clock})
	t.Cleanup(func() { st.Close() })
	// A thousand streams of one client at once: no caps here.
	n := newNodeWith(t, st, Options{MaxProducers: -1, MaxProducersPerClient: -1})

	srv := httptest.NewServer(n.streams.Handler(func(ctx context.Context, w *Writer) error {
		for i := range pieces {
			if err := w.Send(ctx, sse.Event{Data: fmt.Sprintf("%s piece %d", w.StreamID(), i)}); err != nil {
				return err
			}
		}
		return nil
	}))
	t.Cleanup(srv.Close)

	var mu sync.Mutex
	rnd := rand.New(rand.NewPCG(1, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	errs := make(chan error, streams)
	var reconnections atomic.Int64
	var wg sync.WaitGroup
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client.Client{URL: srv.URL, HTTPClient: flakyClient(rnd, &mu), Retry: 5 * time.Millisecond, MaxAttempts: 100,
				OnStateChange: func(s client.State, err error) {
					if s == client.Connecting && err != nil {
						reconnections.Add(1)
					}
				}}
			var got []sse.Event
			for ev, err := range c.Events(ctx) {
				if err != nil {
					errs <- err
					return
				}
				got = append(got, ev)
			}
			errs <- checkStream(got, pieces)
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed++; failed <= 5 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d streams incomplete", failed, streams)
	}
	if reconnections.Load() < streams {
		t.Fatalf("only %d reconnections for %d streams: the connections did not break as planned", reconnections.Load(), streams)
	}
	t.Logf("%d streams complete across %d reconnections", streams, reconnections.Load())

	// Cleanup: no producer left, and past the age limit no event left.
	if p := n.streams.producersRunning(); p != 0 {
		t.Fatalf("%d producers still registered", p)
	}
	now.Add(int64(keep + time.Minute))
	if _, err := st.Lookup(context.Background(), "anything"); err == nil {
		t.Fatal("Lookup found an unknown id")
	}
	if last, err := st.Last(context.Background()); err != nil || last != nil {
		t.Fatalf("after the age limit the store still holds %v (%v)", last, err)
	}
	if ups, _ := st.Read(context.Background(), 0, 10); len(ups) != 0 {
		t.Fatalf("after the age limit Read returns %d updates", len(ups))
	}
}

// checkStream checks one client's events: pieces 0..n-1 of one stream, in
// order, each once, then the done event.
func checkStream(got []sse.Event, n int) error {
	if len(got) != n+1 {
		return fmt.Errorf("got %d events, want %d: %s", len(got), n+1, describe(got))
	}
	var id string
	for i, ev := range got[:n] {
		if i == 0 {
			id = ev.ID[:36]
		}
		if want := fmt.Sprintf("%s piece %d", id, i); ev.Data != want || ev.ID != eventID(id, i) {
			return fmt.Errorf("event %d is %s %q, want %s %q", i, ev.ID, ev.Data, eventID(id, i), want)
		}
	}
	if end := got[n]; end.Type != DefaultDoneType || end.ID != endID(id) {
		return fmt.Errorf("last event %s %s, want %s done", end.ID, end.Type, endID(id))
	}
	return nil
}
