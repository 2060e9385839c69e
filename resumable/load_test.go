package resumable

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/client"
	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/internal/flakynet"
	"github.com/ssehub/ssehub/sse"
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
// answers at once, each read by the Go client over connections that break
// at random: every answer must arrive whole, in order, exactly once; and a
// TTL after their last use, none of them is left in the store.
func TestStreams_ManyConcurrentStreamsSurviveRandomDisconnects(t *testing.T) {
	const streams, pieces = 1000, 20
	const keep = time.Hour
	st := memoryStore(t)
	// A thousand answers of one client at once: no caps here.
	n := newNodeWith(t, st, Options{TTL: keep, MaxProducers: -1, MaxProducersPerClient: -1}, func(ctx context.Context, w *Writer) error {
		for i := range pieces {
			if err := w.Send(ctx, sse.Event{Data: fmt.Sprintf("%s piece %d", w.StreamID(), i)}); err != nil {
				return err
			}
		}
		return nil
	})

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
			c := &client.Client{URL: n.url, HTTPClient: flakyClient(rnd, &mu), Retry: 5 * time.Millisecond, MaxAttempts: 100,
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

	// Cleanup: no producer left, and a TTL after their last use no answer
	// left.
	if p := n.streams.producersRunning(); p != 0 {
		t.Fatalf("%d producers still registered", p)
	}
	list, err := n.streams.Answers(context.Background(), streams)
	if err != nil || len(list) != streams {
		t.Fatalf("Answers lists %d answers (%v), want %d", len(list), err, streams)
	}
	later := time.Now().Add(keep + time.Minute)
	for _, a := range list {
		if _, err := st.Read(context.Background(), a.Name, durable.ReadRequest{Now: later}); !errors.Is(err, durable.ErrNotFound) {
			t.Fatalf("a TTL later, answer %s reads %v, want ErrNotFound", a.ID, err)
		}
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
			id, _, _ = ParseEventID(ev.ID)
		}
		if want := fmt.Sprintf("%s piece %d", id, i); ev.Data != want || ev.ID != eventID(id, uint64(i+1)) {
			return fmt.Errorf("event %d is %s %q, want %s %q", i, ev.ID, ev.Data, eventID(id, uint64(i+1)), want)
		}
	}
	if end := got[n]; end.Type != DefaultDoneType || end.ID != eventID(id, uint64(n+1)) {
		return fmt.Errorf("last event %s %s, want %s done", end.ID, end.Type, eventID(id, uint64(n+1)))
	}
	return nil
}
